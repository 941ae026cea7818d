"""Two processes writing runs to one SQLite store at once: no lost rows, no 'database is locked'."""

from __future__ import annotations

import pytest

from dosirak import Client
from dosirak.metadata.store import get_store
from tests._pipelines.chain import check_two_processes_record_every_run, run_in_two_processes
from tests.integration.pipelines.test_client_process import python_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RUNS_PER_PROCESS = 20


def test_two_processes_times_twenty_runs_lose_no_rows_and_never_lock() -> None:
    get_store()  # create the schema first, so both writers open an existing store
    check_two_processes_record_every_run(RUNS_PER_PROCESS, python_env())


def test_two_processes_creating_the_schema_at_once_both_succeed() -> None:
    for returncode, _out, err in run_in_two_processes(1, python_env()):
        assert returncode == 0, err
    assert len(Client().list_runs("chain")) == 2
