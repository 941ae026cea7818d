"""Import optional dependencies on first use, with an error naming the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from dosirak.errors import MissingExtraError


def require(module: str, *, extra: str, purpose: str = "") -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` saying which extra installs it.

    Example::

        torch = require("torch", extra="torch")
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        why = f" for {purpose}" if purpose else ""
        raise MissingExtraError(
            f"'{module}' is needed{why} but is not installed; "
            f"install it with `pip install 'dosirak[{extra}]'`"
        ) from exc
