"""Artifact stores: staged writes published atomically; missing artifacts are ArtifactCorruptError."""

from __future__ import annotations

from pathlib import Path

import pytest

from dosirak.artifacts.store import FsspecArtifactStore, LocalArtifactStore, artifact_store_for
from dosirak.errors import ArtifactCorruptError, ArtifactError


def test_local_store_publishes_a_staged_directory_by_rename(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path / "root"))
    uri = store.location("run1", "trainer", "model")
    assert uri == f"{tmp_path}/root/run1/trainer/model"
    with store.staging(uri) as staged:
        (staged / "weights").write_bytes(b"w")
        assert not store.exists(uri)
        store.publish(staged, uri)
    assert store.exists(uri)
    with store.local_copy(uri) as path:
        assert (path / "weights").read_bytes() == b"w"
    assert [p.name for p in Path(uri).parent.iterdir()] == ["model"]


def test_a_failed_write_leaves_nothing_visible(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path))
    uri = store.location("run1", "s", "output")
    with pytest.raises(RuntimeError), store.staging(uri) as staged:
        (staged / "half").write_bytes(b"partial")
        raise RuntimeError("materializer crashed")
    assert not store.exists(uri)
    assert list(Path(uri).parent.iterdir()) == []


def test_publishing_again_replaces_the_earlier_attempt_whole(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path))
    uri = store.location("run1", "s", "output")
    for files in (["old1", "old2"], ["new"]):
        with store.staging(uri) as staged:
            for name in files:
                (staged / name).write_text(name)
            store.publish(staged, uri)
    assert sorted(p.name for p in Path(uri).iterdir()) == ["new"]
    assert [p.name for p in Path(uri).parent.iterdir()] == ["output"]


def test_local_copy_of_a_missing_artifact_is_an_artifact_corrupt_error(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path))
    with pytest.raises(ArtifactCorruptError, match="is missing"), store.local_copy(str(tmp_path / "gone")):
        pass


def test_logs_are_written_atomically_and_read_with_a_limit(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path))
    uri = store.log_path("run1", "s")
    store.write_log(uri, "line one\nline two\n")
    assert store.read_text(uri) == "line one\nline two\n"
    assert store.read_text(uri, limit=4) == "line"
    assert store.read_text(str(tmp_path / "none.log")) == ""


def test_fsspec_store_round_trips_a_directory() -> None:
    store = FsspecArtifactStore("memory://dosirak-test-store")
    uri = store.location("run1", "s", "output")
    with store.staging(uri) as staged:
        (staged / "sub").mkdir()
        (staged / "sub" / "f.txt").write_text("remote")
        store.publish(staged, uri)
    assert store.exists(uri)
    with store.local_copy(uri) as path:
        assert (path / "sub" / "f.txt").read_text() == "remote"
    store.write_log(f"{uri}/step.log", "hello")
    assert store.read_text(f"{uri}/step.log") == "hello"
    store.fs.rm(uri, recursive=True)
    with pytest.raises(ArtifactCorruptError), store.local_copy(uri):
        pass


def test_an_unknown_url_scheme_says_what_to_install() -> None:
    with pytest.raises(ArtifactError, match="install its fsspec package"):
        FsspecArtifactStore("nosuchscheme://bucket")


def test_artifact_store_for_defaults_to_the_home_and_takes_urls(dosirak_home: Path) -> None:
    local = artifact_store_for("local", {})
    assert isinstance(local, LocalArtifactStore)
    assert local.root == str(dosirak_home / "artifacts")
    remote = artifact_store_for("local", {"path": "memory://elsewhere"})
    assert isinstance(remote, FsspecArtifactStore)


def _files_below(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if not p.is_dir())


def test_a_write_that_fills_the_disk_says_disk_full_and_leaves_nothing_visible(small_disk: Path) -> None:
    store = LocalArtifactStore(str(small_disk / "artifacts"))
    uri = store.location("run1", "s", "output")
    with pytest.raises(ArtifactError, match="disk full") as info, store.staging(uri) as staged:
        (staged / "big.bin").write_bytes(b"x" * (4 << 20))
        store.publish(staged, uri)
    message = str(info.value)
    assert str(small_disk) in message and "free" in message and "dosirak gc" in message
    assert not store.exists(uri)
    assert _files_below(small_disk / "artifacts") == []


def test_a_numpy_short_write_on_a_full_disk_says_disk_full(small_disk: Path) -> None:
    np = pytest.importorskip("numpy")
    from dosirak.artifacts.materializers.numpy import NumpyMaterializer

    store = LocalArtifactStore(str(small_disk / "artifacts"))
    uri = store.location("run1", "s", "output")
    with pytest.raises(ArtifactError, match="disk full") as info, store.staging(uri) as staged:
        NumpyMaterializer().save(np.zeros(1 << 20), staged)  # 8 MiB: numpy says "N requested and M written"
    assert "requested and" in str(info.value.__cause__)
    assert not store.exists(uri)
    assert _files_below(small_disk / "artifacts") == []


def test_an_unrelated_write_error_is_not_called_disk_full(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path))
    uri = store.location("run1", "s", "output")
    with pytest.raises(OSError, match="requested and") as info, store.staging(uri):
        raise OSError("10 requested and 3 written")  # numpy's words, but this disk has room
    assert "disk full" not in str(info.value)
