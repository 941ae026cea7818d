from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

import dosirak as dk
from dosirak.errors import ClientError
from tests.integration.serving.conftest import Server, free_port, run_async, start_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_routes_answer_over_real_http(server: Server) -> None:
    with httpx.Client(base_url=server.url) as http:
        assert http.post("/scale", json=[[1, 1, 1, 1]]).json() == [[0.0, 1.0, 2.0, 3.0]]
        assert http.get("/openapi.json").json()["openapi"] == "3.1.0"
        assert http.get("/docs").status_code == 200
        assert http.get("/livez").status_code == 200
        assert http.get("/nowhere").status_code == 404
        assert http.get("/scale").status_code == 405
        too_big = http.post("/checksum", content=b"x" * (2 * 1024 * 1024), headers={"content-type": "application/octet-stream"})
        assert too_big.status_code == 413 and too_big.json()["error"]["type"] == "payload_too_large"
        assert http.post("/fail", json=1.0).status_code == 500
        assert http.post("/add", json={"a": 1, "b": 2}).json() == 3
        deadline = time.monotonic() + 5  # each worker publishes its tallies every 0.25 s
        while 'dosirak_requests_total{api="scale",status="200"}' not in (metrics := http.get("/metrics").text):
            assert time.monotonic() < deadline, metrics
            time.sleep(0.05)
        assert "dosirak_batch_size_bucket" in metrics


def test_two_workers_serve_and_a_killed_worker_is_restarted(server: Server) -> None:
    workers = server.worker_pids()
    assert len(workers) == 2
    seen = set()
    with httpx.Client(base_url=server.url) as http:
        deadline = time.monotonic() + 20
        while len(seen) < 2 and time.monotonic() < deadline:
            with httpx.Client(base_url=server.url) as fresh:  # a new connection may land on the other worker
                seen.add(fresh.post("/pid").json())
    assert seen == set(workers)
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        current = server.worker_pids()
        if len(current) == 2 and workers[0] not in current:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"worker not replaced: {server.worker_pids()}")
    server.wait_ready()
    with httpx.Client(base_url=server.url) as http:
        assert http.post("/add", json={"a": 1}).json() == 2
    assert "restarting" in server.log.read_text()


def in_flight(server: Server, api: str) -> float:
    prefix = f'dosirak_requests_in_flight{{api="{api}"}} '
    text = httpx.get(server.url + "/metrics", timeout=2).text
    return sum(float(line[len(prefix):]) for line in text.splitlines() if line.startswith(prefix))


def test_sigterm_drains_in_flight_requests_then_exits_0(server: Server) -> None:
    results: list[int] = []

    def slow_call() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            results.append(http.post("/slow", json=1.0).status_code)

    threads = [threading.Thread(target=slow_call) for _ in range(6)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while in_flight(server, "slow") < 6:  # every request has reached a worker
        assert time.monotonic() < deadline, "the slow requests never all reached the workers"
        time.sleep(0.02)
    assert server.stop() == 0
    for thread in threads:
        thread.join(10)
    assert results == [200] * 6


def test_readyz_is_503_until_every_worker_has_run_init(tmp_path: Path) -> None:
    srv = start_server(tmp_path, "--workers", "1", env={"SAMPLE_INIT_DELAY": "2"})
    try:
        deadline = time.monotonic() + 30
        statuses = set()
        while time.monotonic() < deadline:
            try:
                live = httpx.get(srv.url + "/livez", timeout=1).status_code
                ready = httpx.get(srv.url + "/readyz", timeout=1).status_code
            except httpx.HTTPError:
                time.sleep(0.05)
                continue
            statuses.add((live, ready))
            if ready == 200:
                break
            time.sleep(0.05)
        assert (200, 503) in statuses and (200, 200) in statuses
    finally:
        assert srv.stop() == 0


def test_sagemaker_contract(tmp_path: Path) -> None:
    srv = start_server(tmp_path, "--sagemaker", "--workers", "1")  # --host 127.0.0.1 --port P given by the helper
    try:
        srv.wait_ready()
        assert httpx.get(srv.url + "/ping").status_code == 200
        response = httpx.post(srv.url + "/invocations", json=[[3, 3, 3, 3]])
        assert response.json() == [[0.0, 3.0, 6.0, 9.0]]
    finally:
        srv.stop()


def test_a_busy_model_does_not_block_livez(tmp_path: Path) -> None:
    srv = start_server(tmp_path, "--workers", "1")
    try:
        srv.wait_ready()
        busy = threading.Thread(target=lambda: httpx.post(srv.url + "/block", json=3.0, timeout=30))
        busy.start()
        deadline = time.monotonic() + 10
        while in_flight(srv, "block") < 1:  # the blocking call is running in the worker
            assert time.monotonic() < deadline
            time.sleep(0.02)
        started = time.perf_counter()
        assert httpx.get(srv.url + "/livez", timeout=5).status_code == 200
        elapsed = time.perf_counter() - started
        busy.join(10)
        assert elapsed < 1.5  # answered while the 3 s call was still running
    finally:
        srv.stop()


def test_sync_and_async_clients(server: Server) -> None:
    with dk.ServiceClient(server.url, timeout=10) as client:
        client.wait_ready(timeout=10)
        out = client.scale(np.ones((2, 4), np.float32))
        assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (2, 4)
        assert client.add(1, b=5) == 6
        assert client.measure({"x": 3, "y": 4, "label": "a"}) == {"distance": 5.0, "label": "a"}
        assert client.checksum(b"\x05\x05") == 10
        with pytest.raises(ClientError, match="validation_error") as info:
            client.scale(np.ones((1, 3), np.float32))
        assert info.value.status_code == 422
        with pytest.raises(AttributeError, match="no api 'nope'"):
            client.nope  # noqa: B018

    async def main() -> None:
        async with dk.AsyncServiceClient(server.url) as client:
            out = await client.scale(np.ones((1, 4), np.float32))
            assert out.tolist() == [[0.0, 1.0, 2.0, 3.0]]
            assert await client.shout("x") == "X"

    run_async(main)


def test_client_errors_are_clear_when_nothing_listens() -> None:
    with dk.ServiceClient(f"http://127.0.0.1:{free_port()}", timeout=2) as client:
        with pytest.raises(ClientError, match="is the service running"):
            client.call("scale", np.ones((1, 4)))
        assert not client.is_ready()


def test_reload_restarts_workers_when_the_service_file_changes(tmp_path: Path) -> None:
    from tests.integration.serving.conftest import SAMPLE

    source = tmp_path / "svc.py"
    source.write_text(SAMPLE.read_text())
    srv = start_server(tmp_path, "--workers", "1", "--reload", spec=f"{source}:Sample")
    try:
        srv.wait_ready()
        before = httpx.post(srv.url + "/pid").json()
        source.write_text(SAMPLE.read_text() + "\n# changed\n")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.post(srv.url + "/pid", timeout=2).json() != before:
                    break
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("the worker was not restarted after the source changed")
    finally:
        assert srv.stop() == 0
