"""A preview of an artifact that fits its type, built from a bounded read.

JSON is pretty-printed (numbers alone read as metrics), arrays show shape, dtype,
summary statistics, a histogram and a corner of their values (memory-mapped and sampled,
never loaded whole), images a thumbnail, DataFrames their first rows. Nothing is ever
unpickled: torch, sklearn and pickle artifacts show their files and their summary.

Each preview is a plain dict with a ``kind`` (``number``, ``json``, ``array``, ``image``,
``table``, ``text``, ``bytes``, ``files``) that the page template and the API both use.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

from dosirak.dashboard import storage
from dosirak.metadata.records import ArtifactRecord

#: Arrays larger than this are summarised from an evenly strided sample.
SAMPLE_ELEMENTS = 1_000_000
HEAD_ROWS = 20
THUMBNAIL_PX = 320
#: Images with more pixels than this (or files larger than MAX_IMAGE_BYTES) get no thumbnail.
MAX_IMAGE_PIXELS = 40_000_000
MAX_IMAGE_BYTES = 64 * 1024 * 1024
TEXT_SUFFIXES = (".txt", ".json", ".csv", ".tsv", ".yaml", ".yml", ".md", ".log", ".py", ".toml", ".cfg", ".ini")


def preview(artifact: ArtifactRecord) -> dict[str, Any]:
    """The preview of ``artifact``; never raises for a damaged or missing artifact."""
    files = storage.list_files(artifact.uri)
    base: dict[str, Any] = {"files": [{"name": f.name, "size": f.size} for f in files]}
    if not files:
        return {**base, "kind": "missing", "message": f"no files at {artifact.uri}"}
    names = {f.name: f for f in files}
    try:
        if "array.npy" in names:
            return {**base, **_array(storage.join(artifact.uri, "array.npy"), artifact.summary)}
        if "image.png" in names:
            return {**base, "kind": "image", "summary": artifact.summary}
        if "data.parquet" in names:
            return {**base, **_parquet(storage.join(artifact.uri, "data.parquet"))}
        if "data.json" in names and "DataFrame" in artifact.type:
            return {**base, **_split_json(storage.join(artifact.uri, "data.json"), names["data.json"].size)}
        if "data.json" in names:
            return {**base, **_json(storage.join(artifact.uri, "data.json"), names["data.json"].size)}
        if "data.bin" in names:
            return {**base, **_bytes(storage.join(artifact.uri, "data.bin"), names["data.bin"].size)}
        texts = [f for f in files if f.name.lower().endswith(TEXT_SUFFIXES)]
        if len(files) == 1 and texts:
            return {**base, **_text(storage.join(artifact.uri, texts[0].name), texts[0].size)}
    except Exception as exc:  # a damaged file must not break the page  # noqa: BLE001
        return {**base, "kind": "files", "message": f"cannot preview: {type(exc).__name__}: {exc}"}
    if "pickle" in artifact.materializer.lower():
        return {**base, "kind": "files", "message": "stored with pickle, which the dashboard never loads "
                "(unpickling runs code); its summary and files are shown instead"}
    return {**base, "kind": "files", "message": "no preview for this type; its summary and files are shown instead"}


def _json(uri: str, size: int) -> dict[str, Any]:
    data = storage.read_bytes(uri, 0, storage.MAX_READ)
    if size > len(data):
        return {"kind": "text", "text": data.decode("utf-8", errors="replace"), "truncated": True}
    value = json.loads(data)
    value = _decode_markers(value)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return {"kind": "json", "text": json.dumps(value, ensure_ascii=False), "value": value, "truncated": False}
    if isinstance(value, int | float):
        return {"kind": "number", "value": value}
    return {"kind": "json", "text": json.dumps(value, indent=2, ensure_ascii=False, default=str), "truncated": False}


def _decode_markers(obj: Any) -> Any:
    """Undo the JSON materializer's markers for tuples and non-finite floats."""
    if isinstance(obj, list):
        return [_decode_markers(v) for v in obj]
    if isinstance(obj, dict):
        if len(obj) == 1 and "__tuple__" in obj:
            return [_decode_markers(v) for v in obj["__tuple__"]]
        if len(obj) == 1 and "__float__" in obj:
            return str(obj["__float__"])
        return {k: _decode_markers(v) for k, v in obj.items()}
    return obj


def _text(uri: str, size: int) -> dict[str, Any]:
    data = storage.read_bytes(uri, 0, storage.MAX_READ)
    return {"kind": "text", "text": data.decode("utf-8", errors="replace"), "truncated": size > len(data)}


def _bytes(uri: str, size: int) -> dict[str, Any]:
    data = storage.read_bytes(uri, 0, 512)
    lines = []
    for i in range(0, len(data), 16):
        chunk = data[i: i + 16]
        ascii_ = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{i:08x}  {chunk.hex(' '):<47}  {ascii_}")
    return {"kind": "bytes", "text": "\n".join(lines), "truncated": size > len(data)}


def _array(uri: str, summary: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    header = storage.read_bytes(uri, 0, 64 * 1024)
    fh = io.BytesIO(header)
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    out: dict[str, Any] = {"kind": "array", "shape": list(shape), "dtype": str(dtype),
                           "size": int(math.prod(shape)), "histogram": None, "head": None,
                           "stats": {k: summary[k] for k in ("min", "max", "mean", "std") if k in summary} or None}
    if isinstance(summary.get("histogram"), dict):
        out["histogram"] = summary["histogram"]
    if out["histogram"]:
        out["histogram"] = _bars(out["histogram"])
    path = storage.local_path(uri)
    if path is None or dtype.hasobject or out["size"] == 0:
        return out
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    flat = array.reshape(-1, order="A") if array.flags.c_contiguous or array.flags.f_contiguous else array.ravel()
    step = max(1, flat.size // SAMPLE_ELEMENTS)
    sample = np.asarray(flat[::step])
    out["sampled"] = step > 1
    out["head"] = _head(array)
    if dtype.kind in "biuf" and (out["stats"] is None or out["histogram"] is None):
        finite = sample[np.isfinite(sample)] if dtype.kind == "f" else sample
        if finite.size:
            finite = finite.astype(np.float64)
            out["stats"] = out["stats"] or {"min": float(finite.min()), "max": float(finite.max()),
                                            "mean": float(finite.mean()), "std": float(finite.std())}
            if out["histogram"] is None:
                counts, edges = np.histogram(finite, bins=20)
                out["histogram"] = _bars({"counts": counts.tolist(), "edges": [float(e) for e in edges]})
    return out


def _head(array: Any) -> list[list[Any]] | list[Any]:
    """The top-left corner: 8 values of a vector, 8x8 of a matrix (first slices beyond 2-D)."""
    view = array
    while view.ndim > 2:
        view = view[0]
    if view.ndim == 0:
        return [_scalar(view[()])]
    if view.ndim == 1:
        return [_scalar(v) for v in view[:8]]
    return [[_scalar(v) for v in row[:8]] for row in view[:8]]


def _scalar(value: Any) -> Any:
    item = value.item() if hasattr(value, "item") else value
    if isinstance(item, float):
        return item if math.isfinite(item) else str(item)
    if isinstance(item, bytes):
        return item[:32].decode("latin-1")
    return item if isinstance(item, int | bool | str) else str(item)


def _bars(histogram: dict[str, Any]) -> dict[str, Any]:
    """Histogram counts with each bar's height as a share of the tallest, for drawing."""
    counts = [int(c) for c in histogram.get("counts", [])]
    top = max(counts, default=0) or 1
    return {"counts": counts, "edges": histogram.get("edges", []), "heights": [c / top for c in counts]}


def _parquet(uri: str) -> dict[str, Any]:
    path = storage.local_path(uri)
    if path is None:
        return {"kind": "files", "message": "tables on remote stores are previewed from their summary only"}
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    batch = next(pf.iter_batches(batch_size=HEAD_ROWS), None)
    columns = [str(n) for n in pf.schema_arrow.names][:50]
    rows: list[list[Any]] = []
    if batch is not None:
        data = batch.to_pydict()
        rows = [[_cell(data[c][i]) for c in batch.schema.names[:50]] for i in range(batch.num_rows)]
    return {"kind": "table", "columns": columns, "rows": rows, "total_rows": pf.metadata.num_rows}


def _split_json(uri: str, size: int) -> dict[str, Any]:
    if size > storage.MAX_READ:
        return {"kind": "files", "message": "this table is too large to preview from its JSON file; its summary is above"}
    value = json.loads(storage.read_bytes(uri, 0, storage.MAX_READ))
    columns = [str(c) for c in value.get("columns", [])][:50]
    rows = [[_cell(v) for v in row[:50]] for row in value.get("data", [])[:HEAD_ROWS]]
    return {"kind": "table", "columns": columns, "rows": rows, "total_rows": len(value.get("data", []))}


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, int | float | bool):
        return value
    text = str(value)
    return text if len(text) <= 200 else text[:199] + "…"


def thumbnail(artifact: ArtifactRecord) -> bytes | None:
    """A PNG thumbnail (at most 320 px a side) of an image artifact, or None."""
    uri = storage.join(artifact.uri, "image.png")
    path = storage.local_path(uri)
    total = storage.size(uri)
    if path is None or total is None or total > MAX_IMAGE_BYTES:
        return None
    from PIL import Image

    with Image.open(path) as opened:
        if opened.width * opened.height > MAX_IMAGE_PIXELS:
            return None
        opened.draft(None, (THUMBNAIL_PX, THUMBNAIL_PX))  # JPEG decodes at a reduced size
        opened.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
        img = opened if opened.mode in ("RGB", "RGBA", "L", "LA") else opened.convert("RGBA")
        out = io.BytesIO()
        img.save(out, format="PNG")
    return out.getvalue()


__all__ = ["preview", "thumbnail"]
