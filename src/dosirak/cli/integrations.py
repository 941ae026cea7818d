"""``dosirak integration list|install``: dosirak's optional extras in the running environment."""

from __future__ import annotations

import shlex

import click

from dosirak import integrations
from dosirak.cli._render import json_option, print_json, table


@click.group("integration")
def integration() -> None:
    """Optional extras (torch, sklearn, aws, s3, ray, postgres, sign, ...): which are installed, and install them."""


@integration.command("list")
@json_option
def list_integrations(as_json: bool) -> None:
    """Every integration, whether it is installed, and what it still needs."""
    found = integrations.integrations()
    if as_json:
        print_json([{"name": i.name, "installed": i.installed, "requirements": list(i.requirements),
                     "missing": list(i.missing)} for i in found])
        return
    table("integrations", ["name", "installed", "requirements", "missing"],
          [(i.name, "yes" if i.installed else "no", ", ".join(i.requirements), ", ".join(i.missing) or "-")
           for i in found])


@integration.command("install")
@click.argument("names", nargs=-1, required=True)
@click.option("--upgrade", is_flag=True, help="Upgrade packages that are already installed.")
@click.option("--dry-run", is_flag=True, help="Print the pip command instead of running it.")
def install(names: tuple[str, ...], upgrade: bool, dry_run: bool) -> None:
    """pip-install integrations NAMES into the environment dosirak runs in."""
    chosen = integrations.plan(integrations.resolve(names), upgrade=upgrade)
    for note in chosen.notes:
        click.echo(note, err=True)
    click.echo("$ " + shlex.join(chosen.command), err=True)
    if dry_run:
        return
    after = integrations.run(chosen, output=lambda line: click.echo(line, err=True))
    for item in after:
        state = "installed" if item.installed else f"still missing {', '.join(item.missing)}"
        click.echo(f"{item.name}: {state}")
