"""Materializers for builtins: JSON values, bytes, and directories (``pathlib.Path``)."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from dosirak.artifacts.materializers.base import Materializer
from dosirak.errors import ArtifactCorruptError, MaterializerError


def _is_json(value: Any, depth: int = 0) -> bool:
    if depth > 100:
        return False
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_is_json(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v, depth + 1) for k, v in value.items())
    return False


class JSONMaterializer(Materializer):
    """int, float, str, bool, None, and lists/tuples/dicts of them, as ``data.json``.

    Tuples come back as tuples and non-finite floats (nan, inf) survive the round trip.
    """

    version = "1"

    def save(self, obj: Any, path: Path) -> None:
        try:
            text = json.dumps(_encode(obj), allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise MaterializerError(f"cannot save {type(obj).__name__} as JSON: {exc}") from exc
        with open(path / "data.json", "w", encoding="utf-8") as fh:
            fh.write(text)

    def load(self, path: Path, data_type: type | None) -> Any:
        try:
            with open(path / "data.json", encoding="utf-8") as fh:
                return _decode(json.load(fh))
        except FileNotFoundError as exc:
            raise ArtifactCorruptError(f"artifact file {path / 'data.json'} is missing") from exc
        except json.JSONDecodeError as exc:
            raise ArtifactCorruptError(f"artifact file {path / 'data.json'} is not valid JSON: {exc}") from exc

    def summary(self, obj: Any) -> dict[str, Any]:
        if isinstance(obj, (bool, int, float)) or obj is None:
            return {"value": obj if not isinstance(obj, float) or math.isfinite(obj) else str(obj)}
        if isinstance(obj, str):
            return {"length": len(obj), "value": obj[:200]}
        return {"length": len(obj)}


def _encode(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return {"__float__": str(obj)}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v) for v in obj]
    if isinstance(obj, dict):
        for key in obj:
            if not isinstance(key, str):
                raise TypeError(f"dict key {key!r} is not a string")
        return {k: _encode(v) for k, v in obj.items()}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _decode(obj: Any) -> Any:
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    if isinstance(obj, dict):
        if len(obj) == 1 and "__tuple__" in obj:
            return tuple(_decode(v) for v in obj["__tuple__"])
        if len(obj) == 1 and "__float__" in obj:
            return float(obj["__float__"])
        return {k: _decode(v) for k, v in obj.items()}
    return obj


class BytesMaterializer(Materializer):
    """``bytes`` as a raw file."""

    version = "1"

    def save(self, obj: bytes, path: Path) -> None:
        with open(path / "data.bin", "wb") as fh:
            fh.write(obj)

    def load(self, path: Path, data_type: type | None) -> bytes:
        try:
            with open(path / "data.bin", "rb") as fh:
                return fh.read()
        except FileNotFoundError as exc:
            raise ArtifactCorruptError(f"artifact file {path / 'data.bin'} is missing") from exc

    def summary(self, obj: bytes) -> dict[str, Any]:
        return {"length": len(obj)}


class PathMaterializer(Materializer):
    """A ``pathlib.Path`` to a file or directory: its contents are copied into the store.

    Loading gives the path of the stored copy (read it, don't write to it).
    """

    version = "1"

    def save(self, obj: Path, path: Path) -> None:
        source = Path(obj)
        if source.is_dir():
            shutil.copytree(source, path / "dir", symlinks=False)
            (path / "kind").write_text("dir")
        elif source.is_file():
            (path / "file").mkdir()
            shutil.copy2(source, path / "file" / source.name)
            (path / "kind").write_text("file")
        else:
            raise MaterializerError(f"path {source} does not exist; a Path output must name a file or directory")

    def load(self, path: Path, data_type: type | None) -> Path:
        try:
            kind = (path / "kind").read_text()
        except FileNotFoundError as exc:
            raise ArtifactCorruptError(f"artifact {path} is missing its 'kind' file") from exc
        if kind == "dir":
            return path / "dir"
        files = os.listdir(path / "file")
        if len(files) != 1:
            raise ArtifactCorruptError(f"artifact {path} should hold exactly one file")
        return path / "file" / files[0]

    def summary(self, obj: Path) -> dict[str, Any]:
        source = Path(obj)
        if source.is_dir():
            return {"kind": "dir", "files": sum(1 for p in source.rglob("*") if p.is_file())}
        return {"kind": "file", "name": source.name}


__all__ = ["BytesMaterializer", "JSONMaterializer", "PathMaterializer"]
