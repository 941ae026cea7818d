"""Two processes writing runs to one SQLite store at once: no lost rows, no 'database is locked'."""

from __future__ import annotations

import pytest

from dosirak import Client
from dosirak.metadata.store import get_store
from tests._pipelines.chain import run_in_two_processes
from tests.integration.pipelines.test_client_process import python_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RUNS_PER_PROCESS = 20


def test_two_processes_times_twenty_runs_lose_no_rows_and_never_lock() -> None:
    get_store()  # create the schema first, so both writers open an existing store
    for returncode, out, err in run_in_two_processes(RUNS_PER_PROCESS, python_env()):
        assert returncode == 0, err
        assert out.strip() == "done"
        assert "database is locked" not in err
    runs = Client().list_runs("chain", limit=1000)
    assert len(runs) == 2 * RUNS_PER_PROCESS
    assert {r.status for r in runs} == {"completed"}
    outputs = sorted(r.steps["describe"].output.load() for r in runs)
    assert outputs == sorted(f"{tag}-{i}" for tag in ("left", "right") for i in range(RUNS_PER_PROCESS))
    assert get_store().count_artifacts() == 2 * 2 * RUNS_PER_PROCESS


def test_two_processes_creating_the_schema_at_once_both_succeed() -> None:
    for returncode, _out, err in run_in_two_processes(1, python_env()):
        assert returncode == 0, err
    assert len(Client().list_runs("chain")) == 2
