"""The fsspec artifact store on a real S3 API: moto's server on 127.0.0.1, reached through s3fs.

Objects are listed with plain HTTP (``GET /BUCKET?list-type=2``), not through the store
under test, so "nothing left behind" is what S3 itself says. Needs the ``s3`` extra
(s3fs, installed by ``scripts/setup.sh --test``): without it they fail, they never skip.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Annotated, Any

import pytest

from dosirak import pipeline, step
from dosirak.artifacts.materializers.base import Materializer
from dosirak.artifacts.store import BaseArtifactStore, FileEntry, FsspecArtifactStore
from dosirak.errors import RunFailedError
from dosirak.metadata.store import get_store
from tests.integration.artifacts.conftest import BUCKET, objects

pytestmark = pytest.mark.integration

@pytest.fixture
def s3(moto_s3: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The config of an fsspec artifact store under a fresh prefix of the bucket (credentials by reference)."""
    monkeypatch.setenv("DK_TEST_S3_KEY", "testing-access-key")
    monkeypatch.setenv("DK_TEST_S3_SECRET", "testing-secret-key")
    return {"path": f"s3://{BUCKET}/{uuid.uuid4().hex}",
            "storage_options": {"key": "{env:DK_TEST_S3_KEY}", "secret": "{env:DK_TEST_S3_SECRET}",
                                "client_kwargs": {"endpoint_url": moto_s3, "region_name": "us-east-1"}}}


def use_stack(config: dict[str, Any]) -> None:
    store = get_store()
    store.stacks.register_component("artifact-store", "s3", "fsspec", config)
    store.stacks.register_stack("on-s3", {"orchestrator": "default", "artifact-store": "s3"})
    store.stacks.set_active_stack("on-s3")


class HalfThenCrash(Materializer):
    """Writes part of its output, then fails."""

    def save(self, obj: Any, path: Path) -> None:
        (path / "part.bin").write_bytes(b"p" * 10_000)
        raise OSError("the materializer crashed half-way")

    def load(self, path: Path, data_type: type | None) -> Any:
        raise AssertionError("never saved")


def test_a_step_whose_third_output_fails_leaves_no_object_on_s3(moto_s3: str, s3: dict[str, Any]) -> None:
    use_stack(s3)

    @step(output_materializers={"third": HalfThenCrash})
    def three() -> tuple[Annotated[int, "first"], Annotated[bytes, "second"], Annotated[str, "third"]]:
        print("saving three outputs")
        return 1, b"s" * 50_000, "never stored"

    @pipeline(enable_cache=False)
    def three_outputs_on_s3() -> None:
        three()

    with pytest.raises(RunFailedError, match="the materializer crashed half-way") as info:
        three_outputs_on_s3()
    run_id = info.value.run.id
    assert objects(moto_s3, s3) == [f"{run_id}/three/.logs/step.log"]


def test_outputs_of_a_step_on_s3_are_stored_loaded_and_previewable(moto_s3: str, s3: dict[str, Any]) -> None:
    use_stack(s3)

    @step
    def two() -> tuple[Annotated[dict[str, int], "a"], Annotated[bytes, "b"]]:
        return {"x": 1}, b"bytes"

    @pipeline(enable_cache=False)
    def two_outputs_on_s3() -> None:
        two()

    run = two_outputs_on_s3()
    outputs = run.steps["two"].outputs
    assert outputs["a"].load() == {"x": 1} and outputs["b"].load() == b"bytes"
    assert objects(moto_s3, s3) == [f"{run.id}/two/a/data.json", f"{run.id}/two/b/data.bin"]
    from dosirak.dashboard import previews

    shown = previews.preview(outputs["a"].record)
    assert shown["kind"] == "json" and json.loads(shown["text"]) == {"x": 1}


def test_every_operation_of_the_store_works_on_s3(moto_s3: str, s3: dict[str, Any]) -> None:
    store: BaseArtifactStore = FsspecArtifactStore.from_config("s3", s3)
    uri = store.location("run1", "s", "output")
    with store.staging(uri) as staged:
        (staged / "sub").mkdir()
        (staged / "sub" / "c.txt").write_bytes(b"deep")
        (staged / "b.bin").write_bytes(bytes(range(256)))
        store.publish(staged, uri)
    assert store.exists(uri)
    assert store.list_files(uri) == [FileEntry("b.bin", 256), FileEntry("sub/c.txt", 4)]
    assert store.list_files(f"{uri}/b.bin") == [] and store.list_files(f"{uri}/none") == []
    assert store.size(f"{uri}/b.bin") == 256 and store.size(uri) is None and store.size(f"{uri}/none") is None
    assert store.read_bytes(f"{uri}/b.bin", 250, 100) == bytes(range(250, 256))
    assert store.read_bytes(f"{uri}/none") == b"" and store.read_bytes(f"{uri}/b.bin", 4096, 10) == b""
    assert store.read_bytes(f"{uri}/b.bin", 0, 0) == b"" and store.read_bytes(f"{uri}/sub") == b""
    with store.local_copy(uri) as path:
        assert (path / "sub" / "c.txt").read_bytes() == b"deep"
    log = store.log_path("run1", "s")
    store.write_log(log, "one\ntwo\n")
    assert store.read_text(log) == "one\ntwo\n"
    store.delete(uri)
    assert not store.exists(uri) and objects(moto_s3, s3) == ["run1/s/.logs/step.log"]


def test_an_upload_to_s3_that_fails_part_way_leaves_no_object(moto_s3: str, s3: dict[str, Any],
                                                               tmp_path: Path) -> None:
    store = FsspecArtifactStore.from_config("s3", s3)
    staged = tmp_path / "staged"
    staged.mkdir()
    (staged / "a.bin").write_bytes(b"uploaded first")
    (staged / "b.bin").symlink_to("/proc/self/mem")  # a regular file that cannot be read
    with pytest.raises(OSError):
        store.publish(staged, store.location("run1", "s", "output"))
    assert objects(moto_s3, s3) == []
