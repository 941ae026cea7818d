"""Reading YAML that may come from outside (``bundle.yaml``, ``model.yaml`` of an imported bundle).

``yaml.safe_load`` builds no Python objects but plain ones, yet it still lets a 500-byte
document describe a billion values through aliases (``&a [x, x]``, ``&b [*a, *a]``, ...):
loading shares them and is instant, and whatever walks the result next (JSON for the
metadata store, a table on screen) never finishes. :func:`load_yaml` bounds the text's
size and the number of values the document expands to, and refuses it otherwise.

Example::

    data = load_yaml(path, what="bundle.yaml", error=BundleIntegrityError)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dosirak.errors import DosirakError

#: Largest YAML file read from a bundle or model directory.
MAX_YAML_BYTES = 16 * 1024 * 1024
#: Most values (scalars, list items, mapping entries) such a file may expand to, aliases counted each time.
MAX_YAML_VALUES = 1_000_000


def load_yaml(path: Path, *, what: str, error: type[DosirakError],
              max_bytes: int = MAX_YAML_BYTES, max_values: int = MAX_YAML_VALUES) -> Any:
    """Parse the YAML file at ``path`` with the safe loader, within size and expansion bounds.

    Raises:
        error: the file cannot be read, is larger than ``max_bytes``, is not YAML, or
            expands to more than ``max_values`` values.
    """
    import yaml

    try:
        with open(path, "rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"cannot read {what} at {path}: {exc.strerror or exc}") from exc
    if len(raw) > max_bytes:
        raise error(f"{what} at {path} is larger than {max_bytes} bytes; refusing to read it")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(raw.decode("utf-8"), Loader=loader)  # noqa: S506 - a safe loader
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise error(f"{what} at {path} is not valid YAML: {exc}") from exc
    _check_expansion(data, what, path, error, max_values)
    return data


def _check_expansion(data: Any, what: str, path: Path, error: type[DosirakError], limit: int) -> None:
    seen = 0
    stack = [data]
    while stack:
        item = stack.pop()
        seen += 1
        if seen > limit:
            raise error(f"{what} at {path} expands to more than {limit:,} values (nested YAML aliases?); "
                        "refusing it")
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


__all__ = ["MAX_YAML_BYTES", "MAX_YAML_VALUES", "load_yaml"]
