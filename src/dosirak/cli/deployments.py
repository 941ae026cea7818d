"""``dosirak deployment``: list, describe, follow the logs of, stop, start and delete deployments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from dosirak.cli._render import console, json_option, print_json, status_style, table
from dosirak.deployers.discovery import refresh_all
from dosirak.errors import NotFoundError
from dosirak.metadata.store import get_store
from dosirak.stack.flavors import flavor_class
from dosirak.statuses import ENDED_DEPLOYMENT_STATUSES, SERVING_DEPLOYMENT_STATUSES

if TYPE_CHECKING:
    from dosirak.metadata.records import DeploymentRecord


def _deployer_for(record: DeploymentRecord) -> Any:
    """The deployer that made ``record``, configured as registered (or with defaults if since deleted)."""
    try:
        config = get_store().stacks.get_component("model-deployer", record.deployer).config
    except NotFoundError:
        config = {}
    return flavor_class("model-deployer", record.flavor)(record.deployer, config)


def _get(deployment_id: str) -> tuple[DeploymentRecord, Any]:
    record = get_store().deployments.get_deployment(deployment_id)
    deployer = _deployer_for(record)
    return deployer.refresh(record), deployer


@click.group("deployment")
def deployment() -> None:
    """Model services started by deployers (`dosirak deployment list`)."""


@deployment.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also stopped and failed deployments.")
@click.option("--model", "model_name", default=None, help="Only deployments of this model.")
@json_option
def list_deployments(show_all: bool, model_name: str | None, as_json: bool) -> None:
    """Deployments, newest first, their status checked against their processes."""
    records = refresh_all(get_store().deployments.list_deployments(model_name=model_name))
    if not show_all:
        records = [r for r in records if r.status not in ENDED_DEPLOYMENT_STATUSES] or records[:5]
    if as_json:
        print_json(records)
        return
    rows = [(r.id[:8], r.name, status_style(r.status), r.url or "-", r.pid or "-", r.deployer,
             f"{r.pipeline_name}/{r.step_name}" if r.pipeline_name else "-", r.started_at or r.created_at)
            for r in records]
    table("deployments", ["id", "name", "status", "url", "pid", "deployer", "deployed by", "started"], rows)


@deployment.command("describe")
@click.argument("deployment_id")
@json_option
def describe(deployment_id: str, as_json: bool) -> None:
    """Everything recorded about one deployment (ID, ID prefix or name)."""
    record, _ = _get(deployment_id)
    if as_json:
        print_json(record)
        return
    out = console()
    fields: list[tuple[str, Any]] = [
        ("id", record.id), ("name", record.name), ("status", status_style(record.status)),
        ("url", record.url), ("docs", record.docs_url), ("host", record.host), ("port", record.port),
        ("pid", record.pid), ("serves", record.config.get("target")), ("bundle id", record.bundle_id),
        ("model", record.model_name), ("model version id", record.model_version_id),
        ("deployer", f"{record.deployer} ({record.flavor})"), ("pipeline", record.pipeline_name),
        ("run", record.run_id), ("step", record.step_name), ("created", record.created_at),
        ("started", record.started_at), ("stopped", record.stopped_at), ("log", record.log_path),
    ]
    fields += [(k.replace("_", " "), v) for k, v in sorted(record.extra.items())]
    table(None, ["field", "value"], [(k, "-" if v is None else v) for k, v in fields])
    if record.error:
        out.print(f"[red]error:[/red] {record.error}", markup=True)


@deployment.command("logs")
@click.argument("deployment_id")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until the service stops.")
def logs(deployment_id: str, follow: bool) -> None:
    """The service's output (`--follow` to keep watching)."""
    record, deployer = _get(deployment_id)
    for line in deployer.logs(record.id, follow=follow):
        click.echo(line, nl=False)


@deployment.command("stop")
@click.argument("deployment_id")
def stop(deployment_id: str) -> None:
    """Stop a deployment; in-flight requests finish first."""
    record, deployer = _get(deployment_id)
    record = deployer.stop(record.id)
    click.echo(f"deployment {record.id[:8]} ({record.name}) is {record.status}")


@deployment.command("start")
@click.argument("deployment_id")
def start(deployment_id: str) -> None:
    """Start a stopped or failed deployment again, as recorded."""
    record, deployer = _get(deployment_id)
    record = deployer.start(record.id)
    click.echo(f"deployment {record.id[:8]} ({record.name}) is {record.status} at {record.url} "
               f"(docs: {record.docs_url})")


@deployment.command("delete")
@click.argument("deployment_id")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before stopping a running deployment.")
def delete(deployment_id: str, yes: bool) -> None:
    """Stop (if running) and forget a deployment and its log."""
    record, deployer = _get(deployment_id)
    if record.status in SERVING_DEPLOYMENT_STATUSES and not yes:
        click.confirm(f"deployment {record.id[:8]} is running at {record.url}; stop and delete it?", abort=True)
    deployer.delete(record.id)
    click.echo(f"deleted deployment {record.id[:8]} ({record.name})")
