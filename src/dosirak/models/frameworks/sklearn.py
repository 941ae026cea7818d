"""scikit-learn estimators, saved with skops (no pickle) where skops can, else pickle.

skops lists the types a file would instantiate; types from scikit-learn, NumPy and SciPy
are accepted, anything else needs ``trusted=True``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from dosirak._extras import require
from dosirak.errors import ModelError, ModelTrustError
from dosirak.models.frameworks.base import FrameworkHandler, model_file, refuse_pickle
from dosirak.models.frameworks.pickle import PickleHandler

log = logging.getLogger(__name__)

FILE = "model.skops"
#: Module prefixes whose types skops may instantiate without ``trusted=True``.
SAFE_PREFIXES = ("sklearn.", "numpy.", "scipy.")


class SklearnHandler(FrameworkHandler):
    """Saves an estimator with ``skops.io.dump``; falls back to pickle when skops cannot."""

    name = "sklearn"
    distributions = ("scikit-learn", "skops")

    def save(self, obj: Any, directory: Path, options: dict[str, Any]) -> dict[str, Any]:
        sio = require("skops.io", extra="sklearn", purpose="saving a scikit-learn model")
        try:
            sio.dump(obj, directory / FILE)
        except Exception as exc:  # skops refuses some custom objects
            (directory / FILE).unlink(missing_ok=True)
            log.warning("skops cannot save %s (%s); saving it with pickle instead (loading it from an "
                        "imported bundle will need trusted=True)", type(obj).__qualname__, exc)
            info = PickleHandler().save(obj, directory, options)
            return {**info, "format": "pickle"}
        return {"file": FILE, "format": "skops", "pickle": False}

    def load(self, directory: Path, info: dict[str, Any], *, allow_pickle: bool) -> Any:
        if info.get("format") == "pickle":
            if not allow_pickle:
                raise refuse_pickle("this scikit-learn model")
            return PickleHandler().load(directory, info, allow_pickle=True)
        sio = require("skops.io", extra="sklearn", purpose="loading a scikit-learn model")
        path = model_file(directory, info, "file", FILE)
        try:
            untrusted = sio.get_untrusted_types(file=path)
        except Exception as exc:
            raise ModelError(f"{path} is not a readable skops file: {exc}") from exc
        unsafe = [name for name in untrusted if not name.startswith(SAFE_PREFIXES)]
        if unsafe and not allow_pickle:
            raise ModelTrustError(
                f"this scikit-learn model would instantiate types outside scikit-learn/NumPy/SciPy "
                f"({', '.join(unsafe)}) and comes from an untrusted source; if you trust it, load it with "
                "`trusted=True`"
            )
        try:
            return sio.load(path, trusted=untrusted)
        except Exception as exc:
            raise ModelError(f"skops cannot load {path}: {exc}") from exc


__all__ = ["SAFE_PREFIXES", "SklearnHandler"]
