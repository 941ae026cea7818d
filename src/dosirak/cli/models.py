"""``dosirak model``: list, show, alias and delete model versions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from dosirak.cli._render import json_option, print_json, table
from dosirak.models import api
from dosirak.units import human_size

if TYPE_CHECKING:
    from dosirak.models.model import ModelVersion


@click.group("model")
def model() -> None:
    """The model registry: versions, aliases and their history."""


@model.command("list")
@json_option
def list_models(as_json: bool) -> None:
    """Every model with its newest version and aliases."""
    records = api.list()
    if as_json:
        print_json(records)
        return
    rows = [(r.name, r.version_count, r.latest_version,
             ", ".join(f"{a}→{v}" for a, v in sorted(r.aliases.items())) or "-", r.created_at) for r in records]
    table("models", ["name", "versions", "latest", "aliases", "created"], rows)


@model.command("show")
@click.argument("tag")
@json_option
def show(tag: str, as_json: bool) -> None:
    """A model's versions and alias history, or one version (NAME:VERSION or NAME:ALIAS) in detail."""
    name, sep, _ref = tag.partition(":")
    if sep:
        version = api.get(tag)
        if as_json:
            print_json(version.to_dict())
            return
        _show_version(version)
        return
    versions = api.versions(name)
    history = api.alias_history(name)
    if as_json:
        print_json({"name": name, "versions": [v.to_dict() for v in versions], "alias_history": history})
        return
    table(f"model {name}", ["version", "framework", "aliases", "metrics", "run", "created"],
          [(v.version, v.framework, ", ".join(v.aliases) or "-", v.metrics or "-", _short(v.run_id), v.created_at)
           for v in versions])
    if history:
        table("alias history", ["when", "alias", "from", "to", "by"],
              [(h.moved_at, h.alias, h.from_version, h.to_version, h.actor) for h in history])


def _short(value: str | None) -> str:
    return value[:8] if value else "-"


def _show_version(version: ModelVersion) -> None:
    rows = [
        ("tag", version.tag), ("id", version.id), ("framework", version.framework),
        ("aliases", ", ".join(version.aliases) or "-"), ("created", version.created_at),
        ("path", str(version.path)), ("run", version.run_id), ("step run", version.step_run_id),
        ("metrics", version.metrics), ("labels", version.labels), ("metadata", version.metadata),
        ("signatures", version.signatures), ("libraries", version.libraries),
        ("needs trust", "yes (pickle)" if version.needs_trust else "no"),
    ]
    table(f"model {version.tag}", ["field", "value"], rows)
    table("files", ["file", "size", "sha256"],
          [(name, human_size(info["size"]), info["sha256"]) for name, info in version.files.items()])


@model.command("alias")
@click.argument("tag")
@click.argument("alias")
@click.option("--remove", is_flag=True, help="Remove ALIAS from the model named by TAG instead of moving it.")
def alias(tag: str, alias: str, remove: bool) -> None:
    """Point ALIAS (e.g. production) at the version TAG names; every move is kept as history."""
    if remove:
        name = tag.partition(":")[0]
        api.remove_alias(name, alias, actor="cli")
        click.echo(f"removed alias {name}:{alias}")
        return
    move = api.alias(tag, alias, actor="cli")
    name = tag.partition(":")[0]
    before = f" (was {move.from_version})" if move.from_version is not None else ""
    click.echo(f"{name}:{alias} -> {name}:{move.to_version}{before}")


@model.command("delete")
@click.argument("tag")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(tag: str, yes: bool) -> None:
    """Delete one version (NAME:VERSION) or a whole model (NAME); refused while a bundle or deployment uses it."""
    if not yes:
        click.confirm(f"delete {tag}?", abort=True)
    for version in api.delete(tag):
        click.echo(f"deleted {version.tag}")
