"""``dosirak pipeline list``."""

from __future__ import annotations

import click

from dosirak.cli._render import json_option, print_json, status_style, table
from dosirak.metadata.store import get_store
from dosirak.units import duration


@click.group()
def pipeline() -> None:
    """Pipelines recorded in the metadata store."""


@pipeline.command("list")
@json_option
def list_pipelines(as_json: bool) -> None:
    """Every pipeline with its number of runs and its last run."""
    rows = get_store().runs.list_pipelines()
    if as_json:
        print_json([{"name": p.name, "runs": n, "last_run": last.id if last else None,
                     "last_status": last.status if last else None} for p, n, last in rows])
        return
    table("Pipelines", ["name", "runs", "last run", "status", "started", "duration"], [
        (p.name, n, last.name if last else None, status_style(last.status) if last else None,
         last.start_time if last else None, duration(last.duration_s) if last else None)
        for p, n, last in rows
    ])
