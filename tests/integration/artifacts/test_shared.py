"""Two homes sharing one PostgreSQL metadata store and one S3 artifact store (moto) are one team.

A model saved and a bundle built in home A are uploaded to the stack's S3 store with their
records; home B (another process, another DOSIRAK_HOME) sees them through PostgreSQL,
loads the model and serves the bundle, downloaded once into its cache and verified.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import dosirak as dk
from dosirak.bundles.builder import build
from dosirak.bundles.spec import make_spec
from dosirak.metadata.store import close_stores, get_store
from dosirak.settings import reset_settings
from tests.bundles._fixtures import free_port, make_mlp, stop, wait_ready, write_service
from tests.integration.artifacts.conftest import BUCKET, objects, slow_s3
from tests.integration.metadata.conftest import postgres_cluster, postgres_url  # noqa: F401 - fixtures

pytestmark = [pytest.mark.integration, pytest.mark.slow]
pytest.importorskip("torch")

DOSIRAK = [sys.executable, "-m", "dosirak.cli.main"]


@pytest.fixture
def team(postgres_url: str, moto_s3: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:  # noqa: F811
    """Home A (this process) on the team's PostgreSQL and S3 stack; the environment both homes share."""
    env = {"DOSIRAK_METADATA_URL": postgres_url, "AWS_ACCESS_KEY_ID": "testing-access-key",
           "AWS_SECRET_ACCESS_KEY": "testing-secret-key", "DOSIRAK_PROGRESS": "off"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "DOSIRAK_STACK"):
        monkeypatch.delenv(name, raising=False)
    close_stores()
    reset_settings()
    path = f"s3://{BUCKET}/{uuid.uuid4().hex}"
    store = get_store()
    store.stacks.register_component("artifact-store", "team", "s3",
                             {"path": path, "endpoint_url": moto_s3, "region": "us-east-1"})
    store.stacks.register_stack("shared", {"orchestrator": "default", "artifact-store": "team"})
    store.stacks.set_active_stack("shared")
    return {**env, "path": path}


def in_home(home: Path, env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    shared = {k: v for k, v in env.items() if k != "path"}
    return subprocess.run(args, env={**os.environ, **shared, "DOSIRAK_HOME": str(home)}, capture_output=True,
                          text=True, timeout=300, cwd=cwd, check=False)


def away(home: Path, tmp_path: Path) -> None:
    """Make home A's files unreachable, as they are from another machine (its records stay in PostgreSQL)."""
    close_stores()
    home.rename(tmp_path / "home_a_on_another_machine")


def predict(url: str, batch: np.ndarray) -> np.ndarray:
    import httpx

    buf = io.BytesIO()
    np.save(buf, batch)
    answer = httpx.post(f"{url}/predict", content=buf.getvalue(),
                        headers={"content-type": "application/x-npy", "accept": "application/x-npy"}, timeout=60)
    assert answer.status_code == 200, answer.text
    return np.asarray(np.load(io.BytesIO(answer.content)))


def test_a_model_saved_and_a_bundle_built_in_one_home_are_loaded_and_served_from_another(
        tmp_path: Path, dosirak_home: Path, team: dict[str, str], moto_s3: str) -> None:
    import torch

    net = make_mlp(seed=5)
    saved = dk.models.save("fashion_mnist", net)
    record = build(make_spec(service="service.py:FashionMNIST"), base_dir=write_service(tmp_path / "svc"))
    keys = objects(moto_s3, {"path": team["path"]})
    assert f"models/fashion_mnist/{saved.id}/model.yaml" in keys  # uploaded before its number was known
    assert f"bundles/fashion_mnist/{record.version}/bundle.yaml" in keys
    assert f"bundles/fashion_mnist/{record.version}/MANIFEST" in keys

    away(dosirak_home, tmp_path)
    home_b = tmp_path / "home_b"
    listed = in_home(home_b, team, *DOSIRAK, "model", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "fashion_mnist" in listed.stdout
    batch = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    np.save(tmp_path / "batch.npy", batch)
    with torch.no_grad():
        expected = net(torch.from_numpy(batch)).numpy()
    loaded = in_home(home_b, team, sys.executable, "-c",
                     "import sys, numpy as np, torch, dosirak as dk\n"
                     f"net = dk.models.get('fashion_mnist:{saved.version}').load()\n"
                     f"np.save(sys.argv[1], net(torch.from_numpy(np.load('{tmp_path / 'batch.npy'}'))).detach().numpy())",
                     str(tmp_path / "from_b.npy"))
    assert loaded.returncode == 0, loaded.stderr
    assert np.allclose(np.load(tmp_path / "from_b.npy"), expected, atol=1e-6)
    cached_yaml = home_b / "cache" / "models" / "fashion_mnist" / str(saved.version) / "model.yaml"
    assert yaml.safe_load(cached_yaml.read_text())["version"] == saved.version  # the record's number

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    port = free_port()
    log_path = tmp_path / "serve_b.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([*DOSIRAK, "serve", record.tag, "--port", str(port)], cwd=elsewhere,
                                env={**os.environ, **{k: v for k, v in team.items() if k != "path"},
                                     "DOSIRAK_HOME": str(home_b)}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_ready(url, proc, timeout_s=120)
        except BaseException:
            print(log_path.read_text())  # noqa: T201 - shown on failure
            raise
        assert np.allclose(predict(url, batch), expected, atol=1e-5)
    finally:
        stop(proc)
    cached = home_b / "cache" / "bundles" / "fashion_mnist" / record.version / "bundle.yaml"
    assert cached.is_file()
    before = cached.stat().st_ino
    again = in_home(home_b, team, sys.executable, "-c",
                    f"from dosirak.bundles.store import resolve; print(resolve('{record.tag}')[0])")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == str(cached.parent) and cached.stat().st_ino == before  # downloaded once


def test_a_shared_bundle_changed_in_the_artifact_store_is_refused_by_another_home(
        tmp_path: Path, dosirak_home: Path, team: dict[str, str], moto_s3: str) -> None:
    dk.models.save("fashion_mnist", make_mlp(seed=1))
    record = build(make_spec(service="service.py:FashionMNIST"), base_dir=write_service(tmp_path / "svc"))
    key = f"{team['path'].removeprefix(f's3://{BUCKET}/')}/bundles/fashion_mnist/{record.version}/src/service.py"
    import boto3

    boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1").put_object(
        Bucket=BUCKET, Key=key, Body=b"print('not the built service')\n")
    away(dosirak_home, tmp_path)
    home_c = tmp_path / "home_c"
    done = in_home(home_c, team, *DOSIRAK, "serve", record.tag, "--port", str(free_port()), cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "service.py" in done.stderr and "MANIFEST" in done.stderr
    assert not (home_c / "cache" / "bundles" / "fashion_mnist" / record.version).exists()




@pytest.fixture
def shared_sqlite_stack(dosirak_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], str]]:
    """Activates, on this home's SQLite store, a stack whose S3 artifact store is reached at an endpoint; its path."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-key")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)

    def activate(endpoint: str) -> str:
        path = f"s3://{BUCKET}/{uuid.uuid4().hex}"
        store = get_store()
        store.stacks.register_component("artifact-store", "team", "s3",
                                        {"path": path, "endpoint_url": endpoint, "region": "us-east-1"})
        store.stacks.register_stack("shared", {"orchestrator": "default", "artifact-store": "team"})
        store.stacks.set_active_stack("shared")
        return path

    yield activate


def test_a_model_uploading_to_a_slow_artifact_store_does_not_keep_other_threads_from_the_metadata_store(
        shared_sqlite_stack: Callable[[str], str], moto_s3: str) -> None:
    delay_s = 2.0
    with slow_s3(moto_s3, delay_s=delay_s) as proxy:
        path = shared_sqlite_stack(proxy.url)
        store = get_store()
        outcome: dict[str, Any] = {}

        def save() -> None:
            try:
                outcome["saved"] = dk.models.save("slow", {"weights": os.urandom(1 << 20)}, framework="pickle")
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                outcome["error"] = exc

        saver = threading.Thread(target=save)
        started = time.monotonic()
        saver.start()
        try:
            assert proxy.put_started.wait(60), "the save never started uploading"
            begun = time.monotonic()
            other = store.models.create_model_version("other", framework="pickle",
                                                      place=lambda v, i: f"/elsewhere/other/{v}", files={})
            wrote = time.monotonic()
            listed = {m.name for m in store.models.list_models()}
            read = time.monotonic()
        finally:
            saver.join(120)
        assert "error" not in outcome, outcome.get("error")
        upload_s = time.monotonic() - started
        assert proxy.puts >= 2 and upload_s >= 2 * delay_s  # model.yaml and the pickle, each held
        assert wrote - begun < delay_s / 2, f"a write waited {wrote - begun:.2f} s for the upload"
        assert read - wrote < delay_s / 2, f"a read waited {read - wrote:.2f} s for the upload"
        assert other.version == 1 and "other" in listed
        saved = outcome["saved"]
        assert saved.shared_uri == f"{path}/models/slow/{saved.id}"
        assert f"models/slow/{saved.id}/model.yaml" in objects(moto_s3, {"path": path})
        assert saved.load()["weights"] == dk.models.get("slow:1").load()["weights"]


def test_a_model_whose_upload_fails_records_nothing_and_leaves_nothing(
        shared_sqlite_stack: Callable[[str], str], moto_s3: str) -> None:
    from dosirak.errors import ArtifactError, NotFoundError
    from dosirak.settings import get_settings

    with slow_s3(moto_s3, fail_after=1) as proxy:  # the first file is uploaded, the second denied
        path = shared_sqlite_stack(proxy.url)
        with pytest.raises((ArtifactError, PermissionError, OSError)):
            dk.models.save("broken", {"weights": os.urandom(1 << 16)}, framework="pickle")
        assert proxy.puts == 2
    with pytest.raises(NotFoundError):
        get_store().models.get_model_version("broken")
    assert objects(moto_s3, {"path": path}) == []
    models = get_settings().models_root
    assert not (models / "broken").exists()
    assert list((models / ".tmp").iterdir()) == []


def test_a_model_recorded_by_an_older_dosirak_with_only_its_shared_root_still_loads_from_its_shared_copy(
        shared_sqlite_stack: Callable[[str], str], moto_s3: str, dosirak_home: Path, tmp_path: Path) -> None:
    import shutil

    from dosirak.artifacts import shared

    weights = os.urandom(1 << 12)
    saved = dk.models.save("old", {"weights": weights}, framework="pickle")  # no shared store yet
    copy = tmp_path / "copy"
    shutil.copytree(saved.path, copy)
    dk.models.delete("old")
    path = shared_sqlite_stack(moto_s3)
    remote = shared.active_remote_store()
    assert remote is not None
    shared.upload(remote, copy, f"{path}/models/old/1")  # where older versions put it: ROOT/models/NAME/VERSION
    get_store().models.create_model_version(
        "old", framework="pickle", place=lambda v, i: str(tmp_path / "another_machine" / "old" / str(v)),
        files=saved.files, extra={"handler": saved.handler_info, "shared_root": path}, version_id=saved.id)

    found = dk.models.get("old:1")
    assert found.shared_uri == f"{path}/models/old/1"
    assert found.load()["weights"] == weights
    assert (dosirak_home / "cache" / "models" / "old" / "1" / "model.yaml").is_file()


def test_a_model_whose_record_fails_after_its_upload_removes_the_upload(
        shared_sqlite_stack: Callable[[str], str], moto_s3: str) -> None:
    from dosirak.errors import NotFoundError
    from dosirak.settings import get_settings

    path = shared_sqlite_stack(moto_s3)
    models = get_settings().models_root
    models.mkdir(parents=True, exist_ok=True)
    (models / "blocked").write_text("a file where the model's directory goes\n")  # place() fails, in the transaction
    with pytest.raises(OSError):
        dk.models.save("blocked", {"weights": os.urandom(1 << 12)}, framework="pickle")
    with pytest.raises(NotFoundError):
        get_store().models.get_model_version("blocked")
    assert objects(moto_s3, {"path": path}) == []
    assert list((models / ".tmp").iterdir()) == []


def test_a_shared_model_copy_describing_another_version_is_refused_and_not_cached(
        shared_sqlite_stack: Callable[[str], str], moto_s3: str, dosirak_home: Path) -> None:
    import shutil

    import boto3

    from dosirak.errors import ModelError

    path = shared_sqlite_stack(moto_s3)
    saved = dk.models.save("swapped", {"weights": os.urandom(1 << 12)}, framework="pickle")
    shutil.rmtree(saved.path)  # as seen from another machine: only the shared copy
    key = f"{path.removeprefix(f's3://{BUCKET}/')}/models/swapped/{saved.id}/model.yaml"
    client = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1")
    text = client.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    client.put_object(Bucket=BUCKET, Key=key, Body=text.replace(saved.id, str(uuid.uuid4())).encode())
    with pytest.raises(ModelError, match="not this version"):
        dk.models.get("swapped:1").load()
    assert not (dosirak_home / "cache" / "models" / "swapped" / "1").exists()


def test_deleting_a_shared_model_removes_its_copy_from_the_artifact_store(
        shared_sqlite_stack: Callable[[str], str], moto_s3: str) -> None:
    path = shared_sqlite_stack(moto_s3)
    kept = dk.models.save("kept", {"weights": [1, 2]}, framework="pickle")
    gone = dk.models.save("gone", {"weights": [3, 4]}, framework="pickle")
    assert any(key.startswith(f"models/gone/{gone.id}/") for key in objects(moto_s3, {"path": path}))

    dk.models.delete("gone")

    left = objects(moto_s3, {"path": path})
    assert not any(key.startswith("models/gone/") for key in left), left
    assert any(key.startswith(f"models/kept/{kept.id}/") for key in left)
