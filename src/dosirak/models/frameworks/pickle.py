"""Any picklable object, with cloudpickle: the fallback when no other handler fits.

Loading unpickles, so a model saved this way loads from an imported bundle only with
``trusted=True``.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from dosirak.errors import ModelError
from dosirak.models.frameworks.base import FrameworkHandler, model_file, refuse_pickle

FILE = "model.pkl"


class PickleHandler(FrameworkHandler):
    """Saves any picklable object with cloudpickle."""

    name = "pickle"
    distributions = ("cloudpickle",)

    def save(self, obj: Any, directory: Path, options: dict[str, Any]) -> dict[str, Any]:
        import cloudpickle  # a core dependency

        try:
            with open(directory / FILE, "wb") as fh:
                cloudpickle.dump(obj, fh)
        except Exception as exc:
            raise ModelError(f"cannot pickle {type(obj).__qualname__}: {exc}") from exc
        return {"file": FILE, "pickle": True, "type": f"{type(obj).__module__}.{type(obj).__qualname__}"}

    def load(self, directory: Path, info: dict[str, Any], *, allow_pickle: bool) -> Any:
        if not allow_pickle:
            raise refuse_pickle("this model")

        with open(model_file(directory, info, "file", FILE), "rb") as fh:
            return pickle.load(fh)  # noqa: S301 - only reached for trusted sources


__all__ = ["PickleHandler"]
