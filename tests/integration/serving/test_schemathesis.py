"""Property-based run of schemathesis against a real server's /openapi.json.

Every generated request (valid and invalid by the schema) must get a documented status, a
documented content type and a body matching the documented schema, and never a 5xx. The
``fail`` api (which raises on purpose), ``slow`` and ``block`` (which sleep) are left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from tests.integration.serving.conftest import Server, start_server

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("schemathesis"), "--workers", "1")
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance, checks.negative_data_rejection]


def test_no_server_errors_and_no_schema_violations(module_server: Server) -> None:
    schema = schemathesis.openapi.from_url(module_server.url + "/openapi.json").exclude(path_regex="^/(fail|slow|block)$")
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def run(case: Any) -> None:
            case.call_and_validate(base_url=module_server.url, checks=CHECKS)

        run()
        tested.append(operation.label)
    assert len(tested) >= 12, tested
