"""What the container does, without Docker: a fresh venv from the bundle's requirements serves it."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dosirak
import dosirak as dk
from dosirak.bundles.builder import build
from dosirak.bundles.spec import make_spec
from tests.bundles._fixtures import free_port, make_mlp, stop, wait_ready, write_service

pytestmark = [pytest.mark.integration, pytest.mark.slow]
torch = pytest.importorskip("torch")

REPO = Path(dosirak.__file__).resolve().parents[2]


def _run(command: list[str], **kwargs: object) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1200, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.mark.timeout(1800)
def test_bundle_serves_from_a_fresh_venv_built_from_its_requirements(tmp_path: Path) -> None:
    if not (REPO / "pyproject.toml").is_file():
        pytest.skip("dosirak is not installed from a source checkout")
    service_dir = write_service(tmp_path / "svc")
    net = make_mlp(seed=7)
    dk.models.save("fashion_mnist", net)
    record = build(make_spec(service="service.py:FashionMNIST", python={"packages": ["numpy"]}), base_dir=service_dir)
    bundle = Path(record.path)

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    constraints = REPO / "constraints.txt"
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c", str(constraints)]
    _run([*pip, str(REPO)])
    _run([*pip, "-r", str(bundle / "env" / "requirements.txt")])
    probe = subprocess.run([str(python), "-c", "import sys, torch, dosirak; print(sys.prefix, torch.__version__)"],
                           capture_output=True, text=True, check=True)
    assert probe.stdout.split()[0] == str(venv) and probe.stdout.split()[1] == torch.__version__

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(DOSIRAK_HOME=str(tmp_path / "empty_home"), PATH=f"{venv / 'bin'}:{env.get('PATH', '')}")
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(venv / "bin" / "dosirak"), "serve", str(bundle), "--port", str(port)],
                                cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, proc, timeout_s=120)
        except BaseException:
            print(log_path.read_text())  # noqa: T201 - shown on failure
            raise
        import httpx

        batch = np.random.default_rng(1).random((3, 1, 28, 28), dtype=np.float32)
        buf = io.BytesIO()
        np.save(buf, batch)
        response = httpx.post(f"{url}/predict", content=buf.getvalue(), timeout=30,
                              headers={"content-type": "application/x-npy", "accept": "application/x-npy"})
        assert response.status_code == 200, response.text
        got = np.load(io.BytesIO(response.content))
        with torch.no_grad():
            expected = net.eval()(torch.from_numpy(batch)).numpy()
        assert np.array_equal(got, expected)
    finally:
        stop(proc)
