"""Statuses are declared once, as Literal types, and everything derived from them agrees."""

from __future__ import annotations

from typing import get_args

from dosirak import statuses
from dosirak.metadata import schema


def test_status_tuples_list_exactly_the_literal_values() -> None:
    assert statuses.RUN_STATUSES == get_args(statuses.RunStatus)
    assert statuses.STEP_STATUSES == get_args(statuses.StepStatus)
    assert statuses.DEPLOYMENT_STATUSES == get_args(statuses.DeploymentStatus)


def test_live_and_ended_deployment_statuses_split_every_deployment_status() -> None:
    live, ended = set(statuses.LIVE_DEPLOYMENT_STATUSES), set(statuses.ENDED_DEPLOYMENT_STATUSES)
    assert live.isdisjoint(ended)
    assert live | ended == set(statuses.DEPLOYMENT_STATUSES)
    assert set(statuses.SERVING_DEPLOYMENT_STATUSES) < live


def test_every_status_fits_its_column() -> None:
    for table, values in ((schema.pipeline_runs, statuses.RUN_STATUSES), (schema.step_runs, statuses.STEP_STATUSES),
                          (schema.deployments, statuses.DEPLOYMENT_STATUSES)):
        length = table.c.status.type.length
        assert all(len(v) <= length for v in values), (table.name, length)


def test_is_run_status_accepts_run_statuses_only() -> None:
    assert all(statuses.is_run_status(s) for s in statuses.RUN_STATUSES)
    assert not statuses.is_run_status("cached")
    assert not statuses.is_run_status("")
    assert not statuses.is_run_status(None)
