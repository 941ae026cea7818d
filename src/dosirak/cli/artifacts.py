"""``dosirak artifact list|show``."""

from __future__ import annotations

import click

from dosirak.cli._render import console, fmt, json_option, print_json, table
from dosirak.errors import NotFoundError
from dosirak.metadata.like import MAX_SQL_INTEGER
from dosirak.metadata.store import get_store
from dosirak.units import human_size


@click.group()
def artifact() -> None:
    """Artifacts: the outputs of steps."""


@artifact.command("list")
@click.option("-n", "--limit", default=30, show_default=True, type=click.IntRange(1, MAX_SQL_INTEGER))
@click.option("--type", "type_name", help="Only artifacts of this type (e.g. ndarray or numpy.ndarray).")
@json_option
def list_artifacts(limit: int, type_name: str | None, as_json: bool) -> None:
    """Artifacts, newest first."""
    found = get_store().artifacts.list_artifacts(limit=limit, type_name=type_name)
    if as_json:
        print_json(found)
        return
    table("Artifacts", ["id", "name", "type", "size", "created", "hash"], [
        (a.id[:8], a.name, a.type, human_size(a.size), a.created_at, a.content_hash[:12]) for a in found
    ])


@artifact.command("show")
@click.argument("artifact_id", metavar="ARTIFACT")
@json_option
def show(artifact_id: str, as_json: bool) -> None:
    """One artifact: type, size, URI, hash, producer and consumers.

    ARTIFACT is an id, an id prefix, or `latest` (the newest artifact).
    """

    store = get_store()
    if artifact_id == "latest":
        newest = store.artifacts.list_artifacts(limit=1)
        if not newest:
            raise NotFoundError("there are no artifacts yet; a pipeline run makes them")
        artifact_id = newest[0].id
    a = store.artifacts.get_artifact(artifact_id)
    links = store.artifacts.artifact_links(a.id)
    if as_json:
        print_json({"artifact": a, "links": [
            {"kind": k, "name": n, "step_run_id": sid, "step": sname, "run_id": rid} for k, n, sid, sname, rid in links]})
        return
    out = console()
    for label, value in (("id", a.id), ("name", a.name), ("type", a.type), ("size", human_size(a.size)),
                         ("uri", a.uri), ("content hash", a.content_hash),
                         ("materializer", f"{a.materializer} v{a.materializer_version}"),
                         ("created", a.created_at), ("summary", {k: v for k, v in a.summary.items() if k != "histogram"})):
        out.print(f"[bold]{label:>13}[/bold]  {fmt(value)}")
    for kind, name, _sid, step_name, run_id in links:
        role = "produced by" if kind == "output" else "consumed by"
        out.print(f"[bold]{role:>13}[/bold]  step {fmt(step_name)} (as '{fmt(name)}') in run {run_id[:8]}")
