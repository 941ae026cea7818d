"""The one grammar for names and versions that become paths, and the check that keeps paths home.

Every name that can end up in a file path (bundles and their versions, models, pipelines,
steps, stacks, components, deployments) is checked here when it enters dosirak: from a
decorator, the CLI, the API, a ``bundle.yaml`` or ``model.yaml`` inside an imported archive.
A name is 1-128 ASCII letters, digits, ``_``, ``-`` or ``.``, starting with a letter or a
digit, so it is always exactly one path component and never ``.``/``..``.

:func:`path_under` is the second line of defence: it joins components onto a root,
resolves the result (symlinks included) and refuses anything that is not strictly below
the root, before anything is written there.

Example::

    check_name("fashion_mnist", "bundle name", error=BundleError)      # -> "fashion_mnist"
    check_name("../../outside", "bundle name", error=BundleError)      # BundleError naming it
    path_under(bundles_root, name, version, error=BundleError)         # root/name/version, checked
"""

from __future__ import annotations

import re
from pathlib import Path

from dosirak.errors import ConfigError, DosirakError

#: 1-128 characters: ASCII letters, digits, '_', '-', '.', starting with a letter or digit.
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"
_NAME = re.compile(NAME_PATTERN)
#: What every "invalid name" message says the grammar is.
NAME_RULE = "use 1-128 ASCII letters, digits, '_', '-' or '.', starting with a letter or digit"


def is_valid_name(value: object) -> bool:
    """Whether ``value`` is a string in the name grammar."""
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def check_name(value: object, kind: str, *, error: type[DosirakError] = ConfigError, hint: str = "") -> str:
    """Return ``value`` if it is a valid name, else raise ``error`` naming the bad value.

    Args:
        value: the candidate name (anything: it may come from a file or a request).
        kind: what the name is for, used in the message (``"bundle name"``, ``"model version"``).
        error: the exception class raised (the caller's part of the error tree).
        hint: appended to the message, e.g. how to choose another name.
    """
    if not is_valid_name(value):
        shown = repr(value) if not isinstance(value, str) else f"'{_shorten(value)}'"
        raise error(f"invalid {kind} {shown}: {NAME_RULE}{'; ' + hint if hint else ''}")
    return str(value)


def path_under(root: Path, *parts: str, error: type[DosirakError] = ConfigError) -> Path:
    """``root / parts...``, resolved, after checking it lies strictly below ``root``.

    Raises ``error`` when a part is empty, absolute, or climbs out (``..``, a symlink
    pointing elsewhere), so nothing can be written outside ``root``.
    """
    base = Path(root).resolve()
    if not parts or any(not p or Path(p).is_absolute() for p in parts):
        raise error(f"refusing path {'/'.join(parts)!r} below {base}: every part must be a relative name")
    target = base.joinpath(*parts).resolve()
    if target == base or not target.is_relative_to(base):
        raise error(f"refusing path {'/'.join(_shorten(p) for p in parts)!r}: it resolves to {target}, "
                    f"outside {base}")
    return target


def _shorten(text: str, limit: int = 80) -> str:
    text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[:limit] + "..."


__all__ = ["NAME_PATTERN", "NAME_RULE", "check_name", "is_valid_name", "path_under"]
