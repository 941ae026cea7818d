"""`dosirak image-entrypoint`, outside a container: it becomes `dosirak serve` in place and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dosirak.bundles.builder import build_from_file
from tests.bundles._fixtures import free_port, stop, wait_ready
from tests.integration.bundles.conftest import write_tiny_service

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_serve_becomes_dosirak_serve_in_the_same_process_on_the_sagemaker_port(tmp_path: Path) -> None:
    bundle = build_from_file(write_tiny_service(tmp_path / "svc") / "dosirak.yaml")
    port = free_port()
    env = {**os.environ, "SAGEMAKER_BIND_TO_PORT": str(port), "DOSIRAK_HOME": str(tmp_path / "container-home")}
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "dosirak.cli.main", "image-entrypoint", bundle.path, "serve",
                             "--host", "127.0.0.1"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc)
        argv = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert b"serve" in argv and argv[argv.index(b"--graceful-timeout") + 1] == b"25"  # exec'd, same PID
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        stop(proc)
        log.close()
    assert "listening on http://127.0.0.1:" + str(port) in (tmp_path / "serve.log").read_text()
