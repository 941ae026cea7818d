"""Artifact previews fit the type and read a bounded amount, however large the artifact."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dosirak.dashboard import logs, previews, storage
from dosirak.metadata.records import ArtifactRecord
from dosirak.metadata.timeutil import utcnow


def _artifact(root: Path, files: dict[str, bytes], *, type_name: str, materializer: str = "m:M",
              summary: dict[str, Any] | None = None) -> ArtifactRecord:
    uri = root / uuid.uuid4().hex
    uri.mkdir(parents=True)
    for name, data in files.items():
        (uri / name).write_bytes(data)
    return ArtifactRecord(id=uuid.uuid4().hex, uri=str(uri), type=type_name, materializer=materializer,
                          materializer_version="1", content_hash="0" * 64, size=sum(map(len, files.values())),
                          producer_step_run_id=None, name="x", created_at=utcnow(), summary=summary or {})


def _npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def test_a_number_is_shown_as_a_metric(tmp_path: Path) -> None:
    p = previews.preview(_artifact(tmp_path, {"data.json": b"0.9132"}, type_name="builtins.float"))
    assert p["kind"] == "number" and p["value"] == 0.9132


def test_json_is_pretty_printed_and_markers_are_undone(tmp_path: Path) -> None:
    data = json.dumps({"a": {"__tuple__": [1, 2]}, "b": {"__float__": "nan"}}).encode()
    p = previews.preview(_artifact(tmp_path, {"data.json": data}, type_name="builtins.dict"))
    assert p["kind"] == "json"
    assert json.loads(p["text"]) == {"a": [1, 2], "b": "nan"} and "\n  " in p["text"]


def test_huge_json_is_cut_not_parsed(tmp_path: Path) -> None:
    data = json.dumps(list(range(200_000))).encode()
    assert len(data) > storage.MAX_READ
    p = previews.preview(_artifact(tmp_path, {"data.json": data}, type_name="builtins.list"))
    assert p["kind"] == "text" and p["truncated"] and len(p["text"]) == storage.MAX_READ


def test_array_preview_has_shape_dtype_stats_histogram_and_corner(tmp_path: Path) -> None:
    array = np.arange(60, dtype="float64").reshape(6, 10)
    p = previews.preview(_artifact(tmp_path, {"array.npy": _npy(array)}, type_name="numpy.ndarray"))
    assert p["kind"] == "array" and p["shape"] == [6, 10] and p["dtype"] == "float64" and p["size"] == 60
    assert p["stats"]["min"] == 0 and p["stats"]["max"] == 59 and p["stats"]["mean"] == pytest.approx(29.5)
    assert sum(p["histogram"]["counts"]) == 60 and max(p["histogram"]["heights"]) == 1.0
    assert p["head"][0] == [0, 1, 2, 3, 4, 5, 6, 7] and len(p["head"]) == 6 and not p["sampled"]


def test_large_array_is_memory_mapped_and_sampled(tmp_path: Path) -> None:
    array = np.ones((3000, 1000), dtype="float32")  # 3 M values, 12 MB
    array[0, 0] = 7
    p = previews.preview(_artifact(tmp_path, {"array.npy": _npy(array)}, type_name="numpy.ndarray"))
    assert p["sampled"] and p["size"] == 3_000_000
    assert p["stats"]["max"] == 7 and p["stats"]["mean"] == pytest.approx(1.0, abs=1e-3)
    assert p["head"][0][0] == 7


def test_summary_statistics_are_used_when_the_materializer_saved_them(tmp_path: Path) -> None:
    summary = {"shape": [3], "dtype": "int64", "min": -5.0, "max": 5.0, "mean": 0.0, "std": 4.0,
               "histogram": {"counts": [1, 0, 2], "edges": [-5.0, 0.0, 2.0, 5.0]}}
    p = previews.preview(_artifact(tmp_path, {"array.npy": _npy(np.array([1, 2, 3]))}, type_name="numpy.ndarray",
                                   summary=summary))
    assert p["stats"] == {"min": -5.0, "max": 5.0, "mean": 0.0, "std": 4.0}
    assert p["histogram"]["counts"] == [1, 0, 2] and p["histogram"]["heights"] == [0.5, 0.0, 1.0]


def test_object_arrays_are_never_unpickled(tmp_path: Path) -> None:
    data = io.BytesIO()
    np.save(data, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    p = previews.preview(_artifact(tmp_path, {"array.npy": data.getvalue()}, type_name="numpy.ndarray"))
    assert p["kind"] == "array" and p["dtype"] == "object" and p["head"] is None


def test_dataframe_preview_is_the_head_of_the_table(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame({"x": range(100), "name": [f"<b>{i}</b>" for i in range(100)]})
    out = io.BytesIO()
    frame.to_parquet(out)
    p = previews.preview(_artifact(tmp_path, {"data.parquet": out.getvalue()}, type_name="pandas.DataFrame"))
    assert p["kind"] == "table" and p["columns"] == ["x", "name"] and p["total_rows"] == 100
    assert len(p["rows"]) == previews.HEAD_ROWS and p["rows"][1] == [1, "<b>1</b>"]


def test_image_gets_a_bounded_thumbnail(tmp_path: Path) -> None:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (1200, 600), "red").save(out, format="PNG")
    art = _artifact(tmp_path, {"image.png": out.getvalue()}, type_name="PIL.Image.Image")
    assert previews.preview(art)["kind"] == "image"
    thumb = Image.open(io.BytesIO(previews.thumbnail(art) or b""))
    assert thumb.size == (320, 160)


def test_pickles_are_listed_not_loaded(tmp_path: Path) -> None:
    p = previews.preview(_artifact(tmp_path, {"data.pkl": b"\x80\x04cos\nsystem\n."}, type_name="x.Y",
                                   materializer="dosirak.artifacts.materializers.pickle:PickleMaterializer"))
    assert p["kind"] == "files" and "never loads" in p["message"] and p["files"][0]["name"] == "data.pkl"


def test_missing_or_damaged_artifacts_do_not_raise(tmp_path: Path) -> None:
    gone = _artifact(tmp_path, {}, type_name="numpy.ndarray")
    assert previews.preview(gone)["kind"] == "missing"
    broken = _artifact(tmp_path, {"array.npy": b"not an npy file"}, type_name="numpy.ndarray")
    assert previews.preview(broken)["kind"] == "files"


def test_log_tail_starts_at_a_line_and_since_follows(tmp_path: Path) -> None:
    log = tmp_path / "step.log"
    log.write_text("".join(f"line {i}\n" for i in range(20_000)))
    chunk = logs.tail(str(log), max_bytes=1000)
    assert chunk.truncated and chunk.text.startswith("line ") and chunk.text.endswith("line 19999\n")
    assert chunk.offset == log.stat().st_size
    with log.open("a") as fh:
        fh.write("more\n")
    assert logs.since(str(log), chunk.offset).text == "more\n"
    assert logs.tail(None).size is None and logs.since(str(tmp_path / "none.log"), 0).text == ""


def test_artifacts_and_logs_on_an_fsspec_store_are_previewed_and_tailed_through_it() -> None:
    from dosirak.artifacts.store import FsspecArtifactStore

    remote = FsspecArtifactStore(f"memory://dk-{uuid.uuid4().hex}")
    uri = remote.location("run1", "s", "output")
    with remote.staging(uri) as staged:
        (staged / "data.json").write_bytes(json.dumps({"a": 1}).encode())
        remote.publish(staged, uri)
    record = ArtifactRecord(id=uuid.uuid4().hex, uri=uri, type="builtins.dict", materializer="m:M",
                            materializer_version="1", content_hash="0" * 64, size=8, producer_step_run_id=None,
                            name="x", created_at=utcnow(), summary={})
    p = previews.preview(record)
    assert p["kind"] == "json" and json.loads(p["text"]) == {"a": 1} and p["files"] == [{"name": "data.json", "size": 8}]
    log = remote.log_path("run1", "s")
    remote.write_log(log, "".join(f"line {i}\n" for i in range(2000)))
    chunk = logs.tail(log, max_bytes=100)
    assert chunk.truncated and chunk.text.endswith("line 1999\n") and chunk.offset == remote.size(log)
    assert logs.since(log, chunk.offset - len("line 1999\n")).text == "line 1999\n"
    remote.delete(remote.root)
