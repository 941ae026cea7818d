"""numpy arrays as ``.npy`` files, memory-mapped on load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dosirak._extras import require
from dosirak.artifacts.materializers.base import Materializer
from dosirak.errors import ArtifactCorruptError, MaterializerError

#: Arrays larger than this are memory-mapped (read-only) instead of read into memory.
MMAP_THRESHOLD = 1 << 20
#: Summary statistics of larger arrays are computed on this many evenly spaced values.
SUMMARY_SAMPLE = 65_536


class NumpyMaterializer(Materializer):
    """``numpy.ndarray`` as ``array.npy``; large arrays load memory-mapped (read-only)."""

    version = "1"

    def save(self, obj: Any, path: Path) -> None:
        np = require("numpy", extra="data")
        if obj.dtype == object:
            raise MaterializerError("numpy arrays of dtype=object cannot be saved safely; convert to a numeric dtype")
        with open(path / "array.npy", "wb") as fh:
            np.save(fh, obj, allow_pickle=False)

    def load(self, path: Path, data_type: type | None) -> Any:
        np = require("numpy", extra="data")
        file = path / "array.npy"
        try:
            size = file.stat().st_size
            mode = "r" if size >= MMAP_THRESHOLD else None
            return np.load(file, mmap_mode=mode, allow_pickle=False)
        except FileNotFoundError as exc:
            raise ArtifactCorruptError(f"artifact file {file} is missing") from exc
        except ValueError as exc:
            raise ArtifactCorruptError(f"artifact file {file} is not a valid .npy file: {exc}") from exc

    def summary(self, obj: Any) -> dict[str, Any]:
        """Shape, dtype, and statistics of at most :data:`SUMMARY_SAMPLE` evenly spaced values."""
        out: dict[str, Any] = {"shape": list(obj.shape), "dtype": str(obj.dtype)}
        if obj.size and obj.dtype.kind in "biuf":
            np = require("numpy", extra="data")
            flat = obj.reshape(-1)
            if flat.size > SUMMARY_SAMPLE:
                flat = flat[:: flat.size // SUMMARY_SAMPLE]
                out["sampled"] = int(flat.size)
            finite = flat[np.isfinite(flat)] if obj.dtype.kind == "f" else flat
            if finite.size:
                out.update(min=float(finite.min()), max=float(finite.max()), mean=float(finite.mean()),
                           std=float(finite.std()))
                counts, edges = np.histogram(finite, bins=20)
                out["histogram"] = {"counts": counts.tolist(), "edges": [float(e) for e in edges]}
        return out


__all__ = ["NumpyMaterializer"]
