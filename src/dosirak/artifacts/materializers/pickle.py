"""The last resort: any object cloudpickle can serialise, with a one-time warning per type."""

from __future__ import annotations

import logging
import pickle
import warnings
from pathlib import Path
from typing import Any

from dosirak.artifacts.materializers.base import Materializer
from dosirak.errors import ArtifactCorruptError, MaterializerError

log = logging.getLogger(__name__)
_warned: set[str] = set()


class PickleMaterializer(Materializer):
    """Any picklable object as ``object.pkl`` (cloudpickle). Register a materializer to avoid it."""

    version = "1"

    def save(self, obj: Any, path: Path) -> None:
        import cloudpickle

        name = f"{type(obj).__module__}.{type(obj).__qualname__}"
        try:
            data = cloudpickle.dumps(obj)
        except Exception as exc:  # noqa: BLE001 - cloudpickle raises anything the object raises
            raise MaterializerError(
                f"no materializer for type {name}, and it cannot be pickled ({type(exc).__name__}: {exc}); "
                "return a supported type or register a Materializer for it "
                "(see dosirak.artifacts.materializers.base)"
            ) from exc
        if name not in _warned:
            _warned.add(name)
            log.warning("no materializer for %s: storing it with cloudpickle, which only loads with the "
                        "same library versions; register a Materializer for this type to avoid it", name)
        with open(path / "object.pkl", "wb") as fh:
            fh.write(data)

    def load(self, path: Path, data_type: type | None) -> Any:
        try:
            with open(path / "object.pkl", "rb") as fh, warnings.catch_warnings():
                return pickle.load(fh)  # noqa: S301 - the user's own artifact store
        except FileNotFoundError as exc:
            raise ArtifactCorruptError(f"artifact file {path / 'object.pkl'} is missing") from exc
        except (pickle.UnpicklingError, EOFError, AttributeError, ModuleNotFoundError) as exc:
            raise ArtifactCorruptError(f"artifact file {path / 'object.pkl'} cannot be unpickled: {exc}") from exc

    def summary(self, obj: Any) -> dict[str, Any]:
        return {"repr": repr(obj)[:200]}


__all__ = ["PickleMaterializer"]
