"""``schemathesis run --checks all`` against real servers' /openapi.json.

Every check schemathesis has (server errors, status codes, content types, response schemas,
headers, positive data accepted, negative data refused, undeclared methods answered 405
with ``Allow``, ...), over its examples, coverage and fuzzing phases, valid and invalid
requests alike. Binary bodies (images, ``.npy``, raw arrays), which a schema cannot
describe beyond ``format: binary``, get real files in positive cases from
``schemathesis_hooks.py`` (which also says the one kind of failure it drops). The sample
service's ``fail`` api (which raises on purpose), ``slow`` and ``block`` (which sleep) are
left out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.serving.conftest import Server, start_server

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

HERE = Path(__file__).resolve().parent
BULK = HERE.parents[1] / "serving" / "bulk_service.py"


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("schemathesis"), "--workers", "1")
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def bulk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("schemathesis-bulk"), "--workers", "1", spec=f"{BULK}:Bulk")
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


def schemathesis_run(server: Server, *options: str) -> str:
    """Run every check over the server's document; the report, after asserting the run passed."""
    command = [str(Path(sys.executable).with_name("schemathesis")), "run", f"{server.url}/openapi.json",
               "--checks", "all", "--phases", "examples,coverage,fuzzing", "--mode", "all", "--max-examples", "50",
               "--seed", "1", "--request-timeout", "20", "--no-color", *options]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HERE / "schemathesis_hooks.py")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=500, cwd=server.log.parent)
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-12000:]
    return report


def operations_tested(report: str) -> int:
    match = re.search(r"Tested: (\d+)", report)
    assert match is not None, report[-3000:]
    return int(match.group(1))


def test_the_sample_service_passes_every_schemathesis_check(sample: Server) -> None:
    report = schemathesis_run(sample, "--exclude-path-regex", "^/(fail|slow|block)$")
    assert operations_tested(report) >= 12


def test_an_array_and_image_service_at_the_default_body_limit_passes_every_schemathesis_check(bulk: Server) -> None:
    report = schemathesis_run(bulk)
    assert operations_tested(report) >= 7
