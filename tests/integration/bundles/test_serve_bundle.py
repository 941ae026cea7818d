"""A bundle built, exported, imported into a fresh empty home and served answers exactly as the source does."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dosirak as dk
from dosirak.bundles import store
from dosirak.bundles.archive import export_bundle
from dosirak.bundles.builder import build
from dosirak.bundles.spec import make_spec
from tests.bundles._fixtures import free_port, make_mlp, stop, wait_ready, write_service

pytestmark = [pytest.mark.integration, pytest.mark.slow]
pytest.importorskip("torch")

DOSIRAK = [sys.executable, "-m", "dosirak.cli.main"]


def _serve(target: str, home: Path, cwd: Path, extra_env: dict[str, str] | None = None) -> tuple[str, Any]:
    port = free_port()
    env = {**os.environ, "DOSIRAK_HOME": str(home), **(extra_env or {})}
    log_path = cwd / f"serve-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([*DOSIRAK, "serve", target, "--port", str(port)], cwd=cwd, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
    except BaseException:
        stop(proc)
        print(log_path.read_text())  # noqa: T201 - shown on failure
        raise
    return url, proc


def _predict(url: str, batch: np.ndarray) -> bytes:
    import httpx

    buf = io.BytesIO()
    np.save(buf, batch)
    response = httpx.post(f"{url}/predict", content=buf.getvalue(),
                          headers={"content-type": "application/x-npy", "accept": "application/x-npy"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.content


def test_imported_bundle_serves_byte_identical_predictions(tmp_path: Path, dosirak_home: Path) -> None:
    service_dir = write_service(tmp_path / "svc")
    dk.models.save("fashion_mnist", make_mlp(seed=3))
    record = build(make_spec(service="service.py:FashionMNIST"), base_dir=service_dir)
    archive = export_bundle(record.tag, tmp_path / "fm.bundle")

    fresh = tmp_path / "fresh_home"
    imported = subprocess.run([*DOSIRAK, "bundle", "import", str(archive)], env={**os.environ, "DOSIRAK_HOME": str(fresh)},
                              capture_output=True, text=True, check=False)
    assert imported.returncode == 0, imported.stderr
    assert not (fresh / "models").exists()  # the bundle serves from its own copy, not a model store

    batch = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    source_url, source = _serve("service.py:FashionMNIST", dosirak_home, service_dir)
    try:
        from_source = _predict(source_url, batch)
    finally:
        stop(source)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    bundle_url, served = _serve(record.tag, fresh, elsewhere)
    try:
        from_bundle = _predict(bundle_url, batch)
    finally:
        stop(served)
    assert from_bundle == from_source
    assert np.load(io.BytesIO(from_bundle)).shape == (4, 10)


def test_serving_a_tampered_bundle_refuses_to_start(tmp_path: Path, dosirak_home: Path) -> None:
    service_dir = write_service(tmp_path / "svc")
    dk.models.save("fashion_mnist", make_mlp())
    record = build(make_spec(service="service.py:FashionMNIST"), base_dir=service_dir)
    (Path(record.path) / "src" / "service.py").write_text("raise SystemExit('evil')\n")
    done = subprocess.run([*DOSIRAK, "serve", record.tag, "--port", str(free_port())],
                          env={**os.environ, "DOSIRAK_HOME": str(dosirak_home)}, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 2
    assert "file src/service.py has 25 bytes, the MANIFEST says" in done.stderr
    assert store.get(record.tag).id == record.id
