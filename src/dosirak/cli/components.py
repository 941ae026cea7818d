"""``dosirak orchestrator|artifact-store|model-deployer register|list|describe|delete`` and ``flavor list``."""

from __future__ import annotations

import json
from typing import Any

import click

from dosirak import plugins
from dosirak.cli._render import console, fmt, json_option, print_json, table
from dosirak.errors import ConfigError, NotFoundError, StackError
from dosirak.metadata.store import get_store
from dosirak.stack.component import option_flag
from dosirak.stack.credentials import masked
from dosirak.stack.flavors import KINDS, flavor_class


def parse_options(args: list[str]) -> dict[str, Any]:
    """``--key=value`` / ``--key value`` pairs; values are JSON when they parse, else strings."""
    options: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) < 3:
            raise ConfigError(f"unexpected argument '{arg}'; component options look like --key=value")
        key, eq, raw = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(args):
                raise ConfigError(f"option --{key} needs a value (--{key}=VALUE)")
            raw = args[i + 1]
            i += 1
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        options[key.replace("-", "_")] = value
        i += 1
    return options


def _component_group(component_type: str) -> click.Group:
    @click.group(name=component_type, help=f"Manage {component_type} components.")
    def group() -> None:
        """Only holds the subcommands below (its help text is set above)."""

    @group.command("register", context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
                   help=f"""Register a component NAME of a flavor, with its options as --key=value.

        Options are written with dashes (--port-policy=fail); underscores work too
        (--port_policy=fail). Values are JSON when they parse (--port=3100,
        --storage-options='{{"anon": true}}'), else strings. `dosirak {component_type} describe NAME`
        lists the options of a registered component's flavor. Registering it again with the
        same flavor and options changes nothing and says so; with others it needs --replace.
        """)
    @click.argument("name")
    @click.option("-f", "--flavor", required=True, help="Implementation (see `dosirak flavor list`).")
    @click.option("--replace", is_flag=True, help="Redefine an existing component of this name (its stacks follow).")
    @click.pass_context
    def register(ctx: click.Context, name: str, flavor: str, replace: bool) -> None:
        cls = flavor_class(component_type, flavor)
        config = cls.validate_config(parse_options(list(ctx.args)))
        cls.check_usable(name, config)
        store = get_store()
        try:
            existing = store.stacks.get_component(component_type, name)
        except NotFoundError:
            store.stacks.register_component(component_type, name, flavor, config)
            click.echo(f"registered {component_type} '{name}' (flavor {flavor})")
            return
        if (existing.flavor, existing.config) == (flavor, config):
            click.echo(f"{component_type} '{name}' already exists with this flavor and these options; nothing to change")
        elif replace:
            store.stacks.update_component(component_type, name, config, flavor=flavor)
            click.echo(f"redefined {component_type} '{name}' (flavor {flavor})")
        else:
            raise StackError(f"{component_type} '{name}' already exists with flavor {existing.flavor} and options "
                             f"{json.dumps(masked(existing.config))}; `--replace` redefines it (stacks using it "
                             "follow), or pick another name")

    @group.command("list")
    @json_option
    def list_(as_json: bool) -> None:
        """Registered components of this type, and the stacks using them."""
        store = get_store()
        components = store.stacks.list_components(component_type)
        users: dict[str, list[str]] = {}
        for stack in store.stacks.list_stacks():
            comp = stack.components.get(component_type)
            if comp is not None:
                users.setdefault(comp.name, []).append(stack.name)
        if as_json:
            print_json([{"name": c.name, "flavor": c.flavor, "config": masked(c.config),
                         "stacks": users.get(c.name, [])} for c in components])
            return
        table(f"{component_type} components", ["name", "flavor", "config", "used by"],
              [(c.name, c.flavor, masked(c.config) or None, ", ".join(users.get(c.name, [])) or None) for c in components])

    @group.command("describe")
    @click.argument("name")
    @json_option
    def describe(name: str, as_json: bool) -> None:
        """One component: flavor, configuration and the options its flavor takes."""
        comp = get_store().stacks.get_component(component_type, name)
        schema = flavor_class(component_type, comp.flavor).config_schema()
        if as_json:
            print_json({"name": comp.name, "type": comp.type, "flavor": comp.flavor, "config": masked(comp.config),
                        "schema": schema})
            return
        out = console()
        out.print(f"[bold]{component_type}[/bold] {fmt(comp.name)}  flavor {fmt(comp.flavor)}")
        out.print(f"config  {fmt(masked(comp.config))}")
        for key, prop in (schema.get("properties") or {}).items():
            out.print(f"  {option_flag(key)}: {fmt(prop.get('description', prop.get('type', '')))}")

    @group.command("delete")
    @click.argument("name")
    def delete(name: str) -> None:
        """Delete a component that no stack uses."""
        get_store().stacks.delete_component(component_type, name)
        click.echo(f"deleted {component_type} '{name}'")

    return group


orchestrator = _component_group("orchestrator")
artifact_store = _component_group("artifact-store")
model_deployer = _component_group("model-deployer")


@click.group()
def flavor() -> None:
    """Flavors: the implementations of each component type."""


@flavor.command("list")
@json_option
def list_flavors(as_json: bool) -> None:
    """Every installed flavor, by component type."""
    rows = [(ctype, name, plugins.spec(kind, name)) for ctype, kind in KINDS.items() for name in plugins.names(kind)]
    if as_json:
        print_json([{"type": t, "flavor": n, "implementation": s} for t, n, s in rows])
        return
    table("Flavors", ["component type", "flavor", "implementation"], rows)
