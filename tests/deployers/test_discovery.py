"""Refreshing deployments: cloud status checks run at the same time, local ones stay instant."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dosirak.deployers.discovery import refresh_all
from dosirak.metadata.store import get_store

DELAY_S = 2.0


class _SlowSageMaker(BaseHTTPRequestHandler):
    """Answers DescribeEndpoint (SageMaker's JSON protocol) after DELAY_S, as a far region would."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.asked.append(body["EndpointName"])  # type: ignore[attr-defined]
        time.sleep(DELAY_S)
        answer = json.dumps({"EndpointName": body["EndpointName"], "EndpointArn": "arn:aws:sagemaker:x",
                             "EndpointStatus": "Failed", "FailureReason": "capacity",
                             "CreationTime": 0, "LastModifiedTime": 0}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slow_sagemaker(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowSageMaker)
    server.asked = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    yield server
    server.shutdown()
    server.server_close()


def test_four_slow_cloud_checks_cost_about_one_and_each_record_gets_its_own_answer(
        dosirak_home: Path, slow_sagemaker: ThreadingHTTPServer) -> None:
    deployments = get_store().deployments
    cloud = [deployments.create_deployment(name=f"endpoint-{i}", deployer="sm", flavor="sagemaker", status="running",
                                           config={"region": "eu-west-1", "endpoint_name": f"endpoint-{i}"})
             for i in range(4)]
    local = deployments.create_deployment(name="here", deployer="local_deployer", flavor="local", status="stopped")
    records = [cloud[0], local, *cloud[1:]]

    started = time.monotonic()
    refreshed = refresh_all(records)
    elapsed = time.monotonic() - started

    assert sorted(slow_sagemaker.asked) == [f"endpoint-{i}" for i in range(4)]  # type: ignore[attr-defined]
    assert [r.id for r in refreshed] == [r.id for r in records]  # order kept
    assert [r.status for r in refreshed] == ["failed", "stopped", "failed", "failed", "failed"]
    assert all(r.error == "capacity" for r in refreshed if r.flavor == "sagemaker")
    # one after another they take at least 4 * DELAY_S (8 s); together, one delay plus making 4 clients
    assert elapsed < 3 * DELAY_S, f"4 checks of {DELAY_S} s took {elapsed:.1f} s: they ran one after another"
