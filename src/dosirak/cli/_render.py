"""Output for the CLI: rich tables for people, ``--json`` for scripts."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def json_option(func: F) -> F:
    """Add ``--json`` to a command."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, default=_default, indent=2, sort_keys=False))


def console() -> Any:
    from rich.console import Console

    width = None if shutil.get_terminal_size((0, 0)).columns else 140
    return Console(highlight=False, soft_wrap=False, width=width)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    from rich.table import Table

    tbl = Table(title=title, title_justify="left", header_style="bold")
    for col in columns:
        tbl.add_column(col, overflow="fold")
    for row in rows:
        tbl.add_row(*[fmt(v) for v in row])
    console().print(tbl)


def fmt(value: Any) -> Any:
    from rich.markup import escape
    from rich.text import Text

    if isinstance(value, Text):
        return value
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict | list):
        return escape(json.dumps(value, default=str))
    return escape(str(value))


def status_style(status: str) -> Any:
    from rich.text import Text

    colour = {"completed": "green", "cached": "cyan", "failed": "red", "running": "yellow",
              "skipped": "dim", "pending": "dim", "stopped": "dim", "cancelled": "dim"}.get(status, "white")
    return Text(status, style=colour)


