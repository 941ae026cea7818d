"""Fixtures for the dashboard's tests: a store seeded with runs, and an in-process client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.client import AppClient
from tests.dashboard.seeding import seed_run

XSS = "<script>alert(1)</script>"


@pytest.fixture
def store(dosirak_home: Path) -> Any:
    from dosirak.metadata.store import get_store

    return get_store()


@pytest.fixture
def client(store: Any) -> AppClient:
    from dosirak.dashboard.app import create_app

    return AppClient(create_app())


@pytest.fixture
def seeded(store: Any, dosirak_home: Path) -> dict[str, Any]:
    """A completed run, a failed run with a skipped step, and a running run."""
    ok, ok_steps = seed_run(store, dosirak_home, pipeline="training",
                            log_lines={"train": "epoch 1 loss=0.5\nepoch 2 loss=0.25\n"})
    bad, bad_steps = seed_run(store, dosirak_home, pipeline="training", statuses={"train": "failed", "evaluate": "skipped"},
                              run_status="failed")
    live, live_steps = seed_run(store, dosirak_home, pipeline="other", statuses={"train": "running", "evaluate": "pending"},
                                run_status=None)
    artifact_id = store.get_steps(ok)[0].outputs["output"]
    return {"ok": ok, "ok_steps": ok_steps, "bad": bad, "bad_steps": bad_steps, "live": live,
            "live_steps": live_steps, "artifact": artifact_id}
