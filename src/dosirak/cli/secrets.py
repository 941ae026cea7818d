"""``dosirak secret create|list|delete``: named credentials, kept outside the metadata store."""

from __future__ import annotations

import sys

import click

from dosirak.cli._render import json_option, print_json, table
from dosirak.errors import CredentialError
from dosirak.settings import env_value
from dosirak.stack import secrets


@click.group()
def secret() -> None:
    """Named secrets, referred to in component options as {secret:NAME}; never shown."""


@secret.command("create")
@click.argument("name")
@click.option("--from-env", "from_env", metavar="VAR", help="Take the value from the environment variable VAR.")
@click.option("--value-stdin", is_flag=True, help="Read the value from standard input (one trailing newline dropped).")
@click.option("--value", "clear_value", hidden=True, help="Refused: a value on the command line is seen by others.")
@click.option("--replace", is_flag=True, help="Replace a secret of that name.")
def create(name: str, from_env: str | None, value_stdin: bool, clear_value: str | None, replace: bool) -> None:
    """Store the secret NAME (an owner-only file under the home), from --from-env VAR or --value-stdin."""

    if clear_value is not None:
        raise CredentialError(
            f"secret '{name}': a value given on the command line is refused (it is kept in shell history and "
            f"seen by every process); use `dosirak secret create {name} --from-env VAR` with VAR set, or pipe it "
            f"in: `dosirak secret create {name} --value-stdin`")
    if (from_env is None) == (not value_stdin):
        raise CredentialError(f"secret '{name}': give exactly one of --from-env VAR or --value-stdin")
    if from_env is not None:
        value = env_value(from_env)
        if value is None:
            raise CredentialError(f"secret '{name}': the environment variable {from_env} is not set; "
                                  f"`export {from_env}=...` first, or use --value-stdin")
    else:
        value = sys.stdin.read(secrets.MAX_BYTES + 2)
        value = value[:-1] if value.endswith("\n") else value
        value = value[:-1] if value.endswith("\r") else value
    path = secrets.create(name, value, replace=replace)
    click.echo(f"created secret '{name}' in {path.parent} (owner-only); refer to it as {{secret:{name}}}")


@secret.command("list")
@json_option
def list_(as_json: bool) -> None:
    """The secrets' names (never their values)."""

    found = secrets.names()
    if as_json:
        print_json([{"name": n, "reference": f"{{secret:{n}}}"} for n in found])
        return
    table("secrets", ["name", "reference"], [(n, f"{{secret:{n}}}") for n in found])


@secret.command("delete")
@click.argument("name")
def delete(name: str) -> None:
    """Delete the secret NAME (components referring to it fail until it is created again)."""

    secrets.delete(name)
    click.echo(f"deleted secret '{name}'")
