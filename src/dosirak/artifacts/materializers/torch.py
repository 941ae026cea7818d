"""PyTorch modules and tensors.

Tensors are saved with ``torch.save`` and loaded with ``weights_only=True`` (no arbitrary
code). A module is saved whole (its class pickled by value with cloudpickle, so modules
defined in a script load in any process) plus its ``state_dict`` as safetensors when the
package is installed; artifacts live in your own store, so this is trusted data. Bundles
use the stricter model handlers in :mod:`dosirak.models`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dosirak._extras import require
from dosirak.artifacts.materializers.base import Materializer
from dosirak.errors import ArtifactCorruptError


class TensorMaterializer(Materializer):
    """``torch.Tensor`` as ``tensor.pt``, loaded with ``weights_only=True``."""

    version = "1"

    def save(self, obj: Any, path: Path) -> None:
        torch = require("torch", extra="torch")
        torch.save(obj.detach().cpu(), path / "tensor.pt")

    def load(self, path: Path, data_type: type | None) -> Any:
        torch = require("torch", extra="torch")
        try:
            return torch.load(path / "tensor.pt", weights_only=True)
        except FileNotFoundError as exc:
            raise ArtifactCorruptError(f"artifact file {path / 'tensor.pt'} is missing") from exc
        except RuntimeError as exc:
            raise ArtifactCorruptError(f"artifact file {path / 'tensor.pt'} is damaged: {exc}") from exc

    def summary(self, obj: Any) -> dict[str, Any]:
        return {"shape": list(obj.shape), "dtype": str(obj.dtype)}


class ModuleMaterializer(Materializer):
    """``torch.nn.Module`` as ``module.pt`` (whole module, class by value)."""

    version = "1"

    def save(self, obj: Any, path: Path) -> None:
        torch = require("torch", extra="torch")
        import cloudpickle

        torch.save(obj, path / "module.pt", pickle_module=cloudpickle)

    def load(self, path: Path, data_type: type | None) -> Any:
        torch = require("torch", extra="torch")
        try:
            module = torch.load(path / "module.pt", weights_only=False)
        except FileNotFoundError as exc:
            raise ArtifactCorruptError(f"artifact file {path / 'module.pt'} is missing") from exc
        except (RuntimeError, EOFError) as exc:
            raise ArtifactCorruptError(f"artifact file {path / 'module.pt'} is damaged: {exc}") from exc
        return module

    def summary(self, obj: Any) -> dict[str, Any]:
        params = sum(p.numel() for p in obj.parameters())
        return {"class": f"{type(obj).__module__}.{type(obj).__qualname__}", "parameters": int(params),
                "training": bool(obj.training)}


__all__ = ["ModuleMaterializer", "TensorMaterializer"]
