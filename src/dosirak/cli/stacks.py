"""``dosirak stack register|list|describe|set|delete``."""

from __future__ import annotations

import click

from dosirak.cli._render import console, fmt, json_option, print_json, table
from dosirak.errors import NotFoundError
from dosirak.metadata.store import get_store
from dosirak.settings import get_settings
from dosirak.stack.credentials import masked


@click.group()
def stack() -> None:
    """Stacks: the orchestrator, artifact store and model deployer pipelines run on."""


@stack.command("register")
@click.argument("name")
@click.option("-o", "--orchestrator", required=True, help="Orchestrator component name.")
@click.option("-a", "--artifact-store", required=True, help="Artifact store component name.")
@click.option("-d", "--model-deployer", help="Model deployer component name.")
@click.option("--set", "activate", is_flag=True, help="Make it the active stack.")
@click.option("--replace", is_flag=True, help="Redefine an existing stack of this name.")
def register(name: str, orchestrator: str, artifact_store: str, model_deployer: str | None, activate: bool,
             replace: bool) -> None:
    """Register a stack NAME from registered components.

    Registering a stack again with the same components changes nothing and says so (and
    --set still activates it); with other components it needs --replace.
    """

    store = get_store()
    wanted = {"orchestrator": orchestrator, "artifact-store": artifact_store, "model-deployer": model_deployer or ""}
    try:
        existing = store.stacks.get_stack(name)
    except NotFoundError:
        existing = None
    if existing is not None and not replace and \
            {t: c.name for t, c in existing.components.items()} == {t: n for t, n in wanted.items() if n}:
        click.echo(f"stack '{name}' already exists with these components; nothing to change")
    else:
        store.stacks.register_stack(name, wanted, replace=replace)
        click.echo(f"{'redefined' if existing is not None else 'registered'} stack '{name}'")
    if activate:
        store.stacks.set_active_stack(name)
        click.echo(f"active stack: '{name}'")


@stack.command("list")
@json_option
def list_stacks(as_json: bool) -> None:
    """Every stack; the active one is marked."""
    stacks = get_store().stacks.list_stacks()
    if as_json:
        print_json([{"name": s.name, "active": s.active,
                     "components": {t: {"name": c.name, "flavor": c.flavor} for t, c in s.components.items()}}
                    for s in stacks])
        return
    table("Stacks", ["active", "name", "orchestrator", "artifact store", "model deployer"], [
        ("*" if s.active else "", s.name,
         *(f"{s.components[t].name} ({s.components[t].flavor})" if t in s.components else None
           for t in ("orchestrator", "artifact-store", "model-deployer")))
        for s in stacks
    ])


@stack.command("describe")
@click.argument("name", required=False)
@json_option
def describe(name: str | None, as_json: bool) -> None:
    """A stack's components and their configuration (default: the active stack)."""
    s = get_store().stacks.get_stack(name)
    if as_json:
        print_json({"name": s.name, "active": s.active, "components": {
            t: {"name": c.name, "flavor": c.flavor, "config": masked(c.config)} for t, c in s.components.items()}})
        return
    out = console()
    out.print(f"[bold]stack {fmt(s.name)}[/bold]{' (active)' if s.active else ''}")
    for ctype in ("orchestrator", "artifact-store", "model-deployer"):
        comp = s.components.get(ctype)
        if comp is None:
            out.print(f"  {ctype:>15}  -")
            continue
        config = masked(comp.config)
        if ctype == "artifact-store" and not config.get("path"):
            config["path"] = f"{get_settings().artifact_root} (default)"
        out.print(f"  {ctype:>15}  {fmt(comp.name)} ({fmt(comp.flavor)})  {fmt(config) if config else ''}")


@stack.command("set")
@click.argument("name")
def set_stack(name: str) -> None:
    """Make NAME the active stack."""
    get_store().stacks.set_active_stack(name)
    click.echo(f"active stack: '{name}'")


@stack.command("delete")
@click.argument("name")
def delete(name: str) -> None:
    """Delete a stack (not the active one); its components stay."""
    get_store().stacks.delete_stack(name)
    click.echo(f"deleted stack '{name}'")
