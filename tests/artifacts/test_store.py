"""Artifact stores: staged writes published atomically; missing artifacts are ArtifactCorruptError."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dosirak.artifacts.store import (
    BaseArtifactStore,
    FileEntry,
    FsspecArtifactStore,
    LocalArtifactStore,
    artifact_store_for,
    store_for_uri,
)
from dosirak.errors import ArtifactCorruptError, ArtifactError, FlavorError


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


# ------------------------------------------------------------- every backend, the same operations
@pytest.fixture(params=["local", "fsspec-memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseArtifactStore]:
    """A store on each backend: a local directory, and fsspec's (real) in-memory filesystem."""
    if request.param == "local":
        yield LocalArtifactStore(str(tmp_path / "root"))
        return
    remote = FsspecArtifactStore(f"memory://dk-{uuid.uuid4().hex}")
    yield remote
    remote.delete(remote.root)


def _publish(store: BaseArtifactStore, uri: str, files: dict[str, bytes]) -> None:
    with store.staging(uri) as staged:
        for name, data in files.items():
            (staged / name).parent.mkdir(parents=True, exist_ok=True)
            (staged / name).write_bytes(data)
        store.publish(staged, uri)


def test_every_backend_lists_sizes_and_reads_ranges_of_what_it_published(store: BaseArtifactStore) -> None:
    uri = store.location("run1", "s", "output")
    _publish(store, uri, {"b.bin": bytes(range(256)) * 4, "a.json": b"[1, 2]", "sub/c.txt": b"deep"})
    assert store.list_files(uri) == [FileEntry("a.json", 6), FileEntry("b.bin", 1024), FileEntry("sub/c.txt", 4)]
    assert store.list_files(uri, limit=2) == [FileEntry("a.json", 6), FileEntry("b.bin", 1024)]
    assert store.size(f"{uri}/b.bin") == 1024
    assert store.read_bytes(f"{uri}/b.bin") == bytes(range(256)) * 4
    assert store.read_bytes(f"{uri}/b.bin", 250, 10) == bytes([250, 251, 252, 253, 254, 255, 0, 1, 2, 3])
    assert store.read_bytes(f"{uri}/b.bin", 1020, 100) == bytes([252, 253, 254, 255])
    assert store.read_bytes(f"{uri}/b.bin", 4096, 10) == b""
    assert store.read_bytes(f"{uri}/b.bin", 0, 0) == b""
    assert store.read_bytes(f"{uri}/sub/c.txt", 1) == b"eep"


def test_every_backend_reads_what_is_missing_as_empty(store: BaseArtifactStore) -> None:
    uri = store.location("run1", "s", "output")
    _publish(store, uri, {"f.txt": b"x"})
    gone = store.location("run1", "s", "never")
    assert store.list_files(gone) == []
    assert store.list_files(f"{uri}/f.txt") == []  # a file is not a directory
    assert store.size(f"{gone}/f.txt") is None
    assert store.size(uri) is None  # a directory is not a file
    assert store.read_bytes(f"{gone}/f.txt") == b""
    assert store.read_text(f"{gone}/f.txt") == ""
    assert not store.exists(gone)


def test_a_negative_range_is_an_artifact_error_on_every_backend(store: BaseArtifactStore) -> None:
    uri = store.location("run1", "s", "output")
    _publish(store, uri, {"f.txt": b"x"})
    with pytest.raises(ArtifactError, match="offset -1"):
        store.read_bytes(f"{uri}/f.txt", -1, 10)
    with pytest.raises(ArtifactError, match="-5 bytes"):
        store.read_bytes(f"{uri}/f.txt", 0, -5)


def test_every_backend_deletes_a_directory_or_a_file_and_nothing_when_missing(store: BaseArtifactStore) -> None:
    kept, deleted = store.location("run1", "s", "kept"), store.location("run1", "s", "deleted")
    _publish(store, kept, {"one.txt": b"1", "two.txt": b"2"})
    _publish(store, deleted, {"x/y.bin": b"y" * 100})
    store.delete(deleted)
    assert not store.exists(deleted) and store.list_files(deleted) == []
    store.delete(f"{kept}/one.txt")
    assert store.list_files(kept) == [FileEntry("two.txt", 1)]
    store.delete(deleted)  # already gone
    store.delete(store.location("run9", "s", "never"))


def test_every_backend_writes_a_log_whole_and_reads_it_back(store: BaseArtifactStore) -> None:
    uri = store.log_path("run1", "s")
    store.write_log(uri, "first\n")
    store.write_log(uri, "line one\nline two\n")
    assert store.read_text(uri) == "line one\nline two\n"
    assert store.read_bytes(uri, 5, 3) == b"one"
    assert store.size(uri) == len("line one\nline two\n")


def test_only_a_store_with_local_bytes_has_local_paths(store: BaseArtifactStore) -> None:
    uri = store.location("run1", "s", "output")
    _publish(store, uri, {"array.npy": b"x"})
    path = store.local_path(f"{uri}/array.npy")
    if isinstance(store, LocalArtifactStore):
        assert path is not None and Path(path).read_bytes() == b"x"
    else:
        assert path is None


def test_an_upload_that_fails_part_way_leaves_nothing_at_the_uri(tmp_path: Path) -> None:
    remote = FsspecArtifactStore(f"memory://dk-{uuid.uuid4().hex}")
    uri = remote.location("run1", "s", "output")
    staged = tmp_path / "staged"
    staged.mkdir()
    (staged / "a.bin").write_bytes(b"uploaded first")
    # a regular file that cannot be read (EIO/EINVAL): the upload fails after a.bin went up
    (staged / "b.bin").symlink_to("/proc/self/mem")
    with pytest.raises(OSError):
        remote.publish(staged, uri)
    assert not remote.exists(uri)
    assert remote.fs.find(remote.root) == []


def test_publishing_again_on_fsspec_replaces_the_earlier_attempt_whole() -> None:
    remote = FsspecArtifactStore(f"memory://dk-{uuid.uuid4().hex}")
    uri = remote.location("run1", "s", "output")
    _publish(remote, uri, {"old1": b"1", "old2": b"2"})
    _publish(remote, uri, {"new": b"3"})
    assert remote.list_files(uri) == [FileEntry("new", 1)]
    remote.delete(remote.root)


def test_store_for_uri_reads_local_paths_file_urls_and_fsspec_urls(tmp_path: Path) -> None:
    (tmp_path / "art").mkdir()
    (tmp_path / "art" / "data.json").write_text("[1]")
    for uri in (str(tmp_path / "art"), f"file://{tmp_path}/art"):
        local = store_for_uri(uri)
        assert isinstance(local, LocalArtifactStore)
        assert local.list_files(uri) == [FileEntry("data.json", 3)]
        assert local.read_bytes(f"{uri}/data.json") == b"[1]"
        assert local.local_path(f"{uri}/data.json") == str(tmp_path / "art" / "data.json")
    remote = FsspecArtifactStore(f"memory://dk-{uuid.uuid4().hex}")
    uri = remote.location("run1", "s", "output")
    _publish(remote, uri, {"data.json": b"[2]"})
    reader = store_for_uri(uri)
    assert isinstance(reader, FsspecArtifactStore)
    assert reader.read_bytes(f"{uri}/data.json") == b"[2]" and reader.size(f"{uri}/data.json") == 3
    remote.delete(remote.root)


def test_stores_are_built_through_their_flavor(dosirak_home: Path, tmp_path: Path) -> None:
    local = artifact_store_for("local", {"path": f"file://{tmp_path}"}, name="scratch")
    assert isinstance(local, LocalArtifactStore) and (local.name, local.root) == ("scratch", str(tmp_path))
    remote = artifact_store_for("fsspec", {"path": "memory://dk-flavor"}, name="mem")
    assert isinstance(remote, FsspecArtifactStore) and remote.name == "mem"
    assert remote.config == {"path": "memory://dk-flavor"}
    with pytest.raises(FlavorError, match="unknown artifact-store flavor 'nfs'"):
        artifact_store_for("nfs", {})


def test_a_url_is_read_by_the_store_built_for_its_component_with_that_components_options() -> None:
    root = f"memory://dk-{uuid.uuid4().hex}"
    built = FsspecArtifactStore.from_config("team", {"path": root, "storage_options": {}})
    assert store_for_uri(f"{root}/run1/s/output") is built
    assert store_for_uri(root) is built
    sibling = store_for_uri(f"{root}-other/run1/s/output")  # a prefix of the name is not its root
    assert sibling is not built and isinstance(sibling, FsspecArtifactStore)


def test_a_remote_object_whose_key_climbs_out_is_refused_and_nothing_lands_outside(tmp_path: Path) -> None:
    """An S3 key may hold ``..`` segments: ``local_copy`` must not write it outside its directory."""
    root = f"memory://dk-{uuid.uuid4().hex}"
    store = FsspecArtifactStore(root)
    store.fs.pipe(f"{root}/run/step/out/data.txt", b"fine")
    planted = f"/dk-climb-{uuid.uuid4().hex}.txt"
    store.fs.pipe(f"{root}/run/step/out/a/../../../../../../../../../..{planted}", b"attacker")
    with pytest.raises(ArtifactCorruptError, match="outside"), store.local_copy(f"{root}/run/step/out"):
        pass
    assert not Path(planted).exists()
