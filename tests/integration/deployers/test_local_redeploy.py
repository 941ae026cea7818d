"""Redeploying under load: the service keeps its address and no request fails.

Client threads call the service without pause while it is redeployed three times: some
on keep-alive connections (one ``httpx.Client`` each), some on a new connection per
request. Every failure (refused, reset, closed without an answer, a wrong answer, any
status but 200) is recorded and fails the test.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dosirak import process
from dosirak.metadata.store import get_store
from tests.deployers.conftest import echo_request, kill_deployments
from tests.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

REDEPLOYS = 3
KEEP_ALIVE_CLIENTS = 3
NEW_CONNECTION_CLIENTS = 2
#: Requests per client at most (bounds the test if something is slow to switch).
MAX_REQUESTS = 20000


@pytest.fixture
def deployer(dosirak_home: Path) -> Iterator[Any]:
    from dosirak.deployers.local import LocalDeployer

    yield LocalDeployer("local_deployer", {"ready_timeout_s": 60.0, "stop_timeout_s": 30.0})
    kill_deployments()


class Load:
    """Client threads calling ``url`` until stopped; what each request ended with, and when."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stop = threading.Event()
        self.outcomes: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(True, n)) for n in range(KEEP_ALIVE_CLIENTS)]
        self.threads += [threading.Thread(target=self._run, args=(False, n)) for n in range(NEW_CONNECTION_CLIENTS)]

    def _run(self, keep_alive: bool, n: int) -> None:
        limits = httpx.Limits(max_keepalive_connections=1 if keep_alive else 0)
        with httpx.Client(timeout=30.0, limits=limits) as client:
            for i in range(MAX_REQUESTS):
                if self.stop.is_set():
                    return
                x = float(n * MAX_REQUESTS + i)
                try:
                    response = client.post(f"{self.url}/double", json=x)
                    if response.status_code != 200:
                        outcome = f"status {response.status_code}: {response.text[:200]}"
                    elif response.json() != 2 * x:
                        outcome = f"wrong answer {response.text[:50]} for {x}"
                    else:
                        outcome = "ok"
                except httpx.HTTPError as exc:
                    outcome = f"{type(exc).__name__}: {exc}"
                with self.lock:
                    self.outcomes.append((time.monotonic(), outcome))

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def served_since(self, since: float) -> int:
        with self.lock:
            return sum(1 for at, outcome in self.outcomes if at >= since and outcome == "ok")

    def wait_served(self, count: int, since: float, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.served_since(since) < count:
            assert time.monotonic() < deadline, f"fewer than {count} requests served in {timeout_s} s"
            time.sleep(0.05)


def test_three_redeploys_under_load_keep_the_port_and_fail_no_request(deployer: Any) -> None:
    port = free_port()
    first = deployer.deploy(echo_request(port=port))
    assert first.port == port
    records = [first]
    windows: list[tuple[float, float]] = []
    with Load(first.url) as load:
        load.wait_served(200, since=0.0)
        for _ in range(REDEPLOYS):
            started = time.monotonic()
            record = deployer.deploy(echo_request(port=port))
            windows.append((started, time.monotonic()))
            records.append(record)
            load.wait_served(200, since=time.monotonic())  # the new server answers, on every kind of connection
    outcomes = Counter(outcome for _, outcome in load.outcomes)
    failures = {outcome: count for outcome, count in outcomes.items() if outcome != "ok"}
    assert not failures, failures
    assert {r.port for r in records} == {port} and {r.url for r in records} == {first.url}
    for (started, ended), old in zip(windows, records, strict=False):
        during = sum(1 for at, outcome in load.outcomes if started <= at <= ended and outcome == "ok")
        assert during > 0, "no request was sent while a redeploy ran: the test proved nothing"
        assert not process.is_alive(old.pid, old.pid_start)
        assert get_store().deployments.get_deployment(old.id).status == "stopped"
    assert get_store().deployments.get_deployment(records[-1].id).status == "running"
    print(f"\nredeploys: {REDEPLOYS}, requests: {outcomes['ok']} ok, 0 failed; "
          f"switch times: {', '.join(f'{b - a:.1f} s' for a, b in windows)}")
