"""The supervisor's life cycle: giving up on a service that never loads, and workers that
do not outlive it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from dosirak.serving.server import EXIT_SERVICE_FAILED
from tests.integration.serving.conftest import Server, start_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def wait_exit(server: Server, timeout: float = 60.0) -> int:
    try:
        return server.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.stop()
        raise AssertionError(f"dosirak serve still running after {timeout} s:\n{server.log.read_text()}") from None


def error_lines(server: Server) -> list[str]:
    return [line for line in server.log.read_text().splitlines() if line.lower().startswith("error")]


def test_a_service_that_cannot_be_imported_makes_serve_exit_with_status_3(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('broken at import: missing weights')\nclass Broken: ...\n")
    srv = start_server(tmp_path, "--workers", "2", spec=f"{broken}:Broken")
    assert wait_exit(srv) == EXIT_SERVICE_FAILED
    [last] = [line for line in error_lines(srv) if "dosirak serve exits with status 3" in line]
    assert "could not be loaded" in last and "broken at import: missing weights" in last
    assert "restarting" not in srv.log.read_text()


def test_a_service_whose_init_raises_makes_serve_exit_with_status_3(tmp_path: Path) -> None:
    srv = start_server(tmp_path, "--workers", "2", env={"SAMPLE_INIT_FAIL": "1"})
    assert wait_exit(srv) == EXIT_SERVICE_FAILED
    assert any("exits with status 3" in line and "SAMPLE_INIT_FAIL is set" in line for line in error_lines(srv))
    assert not srv.worker_pids()


def test_workers_dying_silently_before_ready_make_serve_give_up_after_three(tmp_path: Path) -> None:
    srv = start_server(tmp_path, "--workers", "1", env={"SAMPLE_INIT_EXIT": "7"})
    assert wait_exit(srv) == EXIT_SERVICE_FAILED
    log = srv.log.read_text()
    assert log.count("exited with status 7; restarting it") == 2
    assert any("3 workers in a row died before the service was ready" in line for line in error_lines(srv))


def test_a_worker_killed_after_the_service_was_up_is_restarted_not_fatal(tmp_path: Path) -> None:
    srv = start_server(tmp_path, "--workers", "1")
    try:
        srv.wait_ready()
        [worker] = srv.worker_pids()
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not (srv.worker_pids() and srv.worker_pids() != [worker]):
            assert srv.process.poll() is None, srv.log.read_text()
            assert time.monotonic() < deadline, "the worker was not restarted"
            time.sleep(0.05)
        srv.wait_ready()
    finally:
        assert srv.stop() == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_bytes().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def _refused(url: str) -> bool:
    try:
        httpx.get(url + "/livez", timeout=1.0)
    except httpx.ConnectError:
        return True
    except httpx.HTTPError:
        return False
    return False


def test_workers_stop_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    srv = start_server(tmp_path, "--workers", "2")
    workers: list[int] = []
    try:
        srv.wait_ready()
        workers = srv.worker_pids()
        assert len(workers) == 2
        srv.process.send_signal(signal.SIGKILL)
        srv.process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while not _refused(srv.url) or any(_alive(pid) for pid in workers):
            assert time.monotonic() < deadline, f"still alive: {[p for p in workers if _alive(p)]}, " \
                                                f"refused: {_refused(srv.url)}"
            time.sleep(0.05)
        assert "the supervisor is gone" in srv.log.read_text()
    finally:
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_with_two_workers_a_killed_worker_costs_no_503_and_readiness_holds(tmp_path: Path) -> None:
    """The survivor takes every request while the replacement loads (slowly: 2 s of __init__).

    The replacement must not accept connections before its service is loaded (it would
    answer them 503), and /readyz must stay 200 while one worker serves.
    """
    srv = start_server(tmp_path, "--workers", "2", env={"SAMPLE_INIT_DELAY": "2"})
    try:
        srv.wait_ready()
        before = srv.worker_pids()
        os.kill(before[0], signal.SIGKILL)
        statuses: list[int] = []
        ready: list[int] = []
        deadline = time.monotonic() + 30
        # fresh connections, as clients without a pool open them, until the replacement is ready
        while not (set(srv.worker_pids()) - set(before) and _replacement_loaded(srv)):
            assert time.monotonic() < deadline, srv.log.read_text()
            with httpx.Client(base_url=srv.url, timeout=10) as http:
                try:
                    statuses.append(http.post("/add", json={"a": 1}).status_code)
                    ready.append(http.get("/readyz").status_code)
                except httpx.TransportError:  # a request on the killed worker's last connections
                    statuses.append(0)
        for _ in range(20):  # and a little after
            statuses.append(httpx.post(srv.url + "/add", json={"a": 1}, timeout=10).status_code)
        during = len(statuses) - 20
        assert during >= 5, f"only {during} requests while the replacement loaded: too few to prove anything"
        assert statuses.count(503) == 0, statuses
        assert statuses[5:].count(0) == 0, statuses
        assert set(ready) == {200}, ready
    finally:
        assert srv.stop() == 0


def _replacement_loaded(srv: Server) -> bool:
    """Whether the log says the replacement worker has loaded the service (the third 'loaded' line)."""
    return srv.log.read_text().count("service 'sample' loaded") >= 3
