"""Reading YAML: every YAML file dosirak reads (``bundle.yaml``, ``model.yaml``, ``dosirak.yaml``,
``deploy.yaml``, a run config) goes through :func:`load_yaml`.

Files come from users and from imported archives, so each is read as if hostile.

``yaml.safe_load`` builds no Python objects but plain ones, yet it still lets a 500-byte
document describe a billion values through aliases (``&a [x, x]``, ``&b [*a, *a]``, ...):
loading shares them and is instant, and whatever walks the result next (JSON for the
metadata store, a table on screen) never finishes. :func:`load_yaml` bounds the text's
size and the number of values the document expands to, and refuses it otherwise. Every
problem is raised as the caller's error type, naming the file and, for a syntax error, the
line and column.

Example::

    data = load_yaml(path, what="bundle.yaml", error=BundleIntegrityError)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dosirak.errors import DosirakError

#: Largest YAML file read (bundle, model, build spec, run config).
MAX_YAML_BYTES = 16 * 1024 * 1024
#: Most values (scalars, list items, mapping entries) such a file may expand to, aliases counted each time.
MAX_YAML_VALUES = 1_000_000


def load_yaml(path: Path, *, what: str | None = None, error: type[DosirakError], hint: str = "",
              max_bytes: int = MAX_YAML_BYTES, max_values: int = MAX_YAML_VALUES) -> Any:
    """Parse the YAML file at ``path`` with the safe loader, within size and expansion bounds.

    Every message names the file (``"{what} at {path}"``, or the path alone without ``what``);
    a syntax error says where, on one line: ``... is not valid YAML at line 2, column 1: expected ...``.

    Args:
        path: the file.
        what: what the file is (``"bundle.yaml"``, ``"config file"``), for messages.
        error: the caller's error type, raised for every problem.
        hint: appended to the message when the file cannot be read (how to make one).
        max_bytes: largest file read.
        max_values: most values the document may expand to.

    Raises:
        error: the file cannot be read, is larger than ``max_bytes``, is not UTF-8 YAML, or
            expands to more than ``max_values`` values.
    """
    label = f"{what} at {path}" if what else str(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"cannot read {label}: {exc.strerror or exc}{hint}") from exc
    if len(raw) > max_bytes:
        raise error(f"{label} is larger than {max_bytes} bytes; refusing to read it")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{label} is not valid YAML: {exc}") from exc
    return parse_yaml(text, label=label, error=error, max_values=max_values)


def parse_yaml(text: str, *, label: str, error: type[DosirakError], max_values: int = MAX_YAML_VALUES) -> Any:
    """Parse YAML ``text`` with the safe loader, refusing more than ``max_values`` values.

    Args:
        text: the document.
        label: where it comes from, for messages (``"deploy.yaml at /x"``).
        error: the caller's error type, raised for every problem.
        max_values: most values the document may expand to.

    Raises:
        error: the text is not YAML (the message says at which line and column), or expands
            to more than ``max_values`` values.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise error(f"{label} is not valid YAML{_where(exc)}") from exc
    _check_expansion(data, label, error, max_values)
    return data


def _where(exc: Exception) -> str:
    """``" at line L, column C: problem"`` for a YAML error, on one line."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or not problem:
        return ": " + " ".join(str(exc).split())
    return f" at line {mark.line + 1}, column {mark.column + 1}: {' '.join(str(problem).split())}"


def _check_expansion(data: Any, label: str, error: type[DosirakError], limit: int) -> None:
    seen = 0
    stack = [data]
    while stack:
        item = stack.pop()
        seen += 1
        if seen > limit:
            raise error(f"{label} expands to more than {limit:,} values (nested YAML aliases?); refusing it")
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


__all__ = ["MAX_YAML_BYTES", "MAX_YAML_VALUES", "load_yaml", "parse_yaml"]
