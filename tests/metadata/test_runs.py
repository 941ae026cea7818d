"""A pipeline run on an up-to-date SQLite store records itself through the store's runs without importing SQLAlchemy or alembic."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from dosirak.metadata.tables import SCHEMA_REVISION

pytestmark = pytest.mark.integration

PIPELINE = """
import json, sys
from dosirak import pipeline, step

@step
def base() -> dict[str, int]:
    return {"a": 1, "b": 2}

@step
def scale(xs: dict[str, int], factor: int) -> int:
    return sum(xs.values()) * factor

@pipeline
def light(factor: int = 1) -> None:
    scale(base(), factor=factor)

run = light(factor=int(sys.argv[1]))
print(json.dumps({
    "status": run.status,
    "steps": {name: s.status for name, s in run.steps.items()},
    "outputs": {name: s.outputs["output"].load() for name, s in run.steps.items()},
    "loaded": sorted(m for m in ("sqlalchemy", "alembic") if m in sys.modules),
}))
"""


def run_pipeline(factor: int) -> dict[str, Any]:
    """Run ``light`` in a fresh interpreter on this test's DOSIRAK_HOME; what it reports."""
    out = subprocess.run([sys.executable, "-W", "error", "-c", PIPELINE, str(factor)], capture_output=True,
                         text=True, timeout=120, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def revision(home: Path) -> str | None:
    with closing(sqlite3.connect(home / "metadata.db")) as conn:
        return conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]  # type: ignore[no-any-return]


def test_a_run_on_an_up_to_date_store_imports_neither_sqlalchemy_nor_alembic(dosirak_home: Path) -> None:
    first = run_pipeline(factor=1)
    assert (first["status"], first["steps"]) == ("completed", {"base": "completed", "scale": "completed"})
    assert revision(dosirak_home) == SCHEMA_REVISION  # the fresh home got its schema on the first run

    second = run_pipeline(factor=10)
    assert second == {
        "status": "completed",
        "steps": {"base": "cached", "scale": "completed"},
        "outputs": {"base": {"a": 1, "b": 2}, "scale": 30},
        "loaded": [],
    }
