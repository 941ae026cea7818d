"""scikit-learn estimators (from your own artifact store: trusted) via cloudpickle."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from dosirak.artifacts.materializers.base import Materializer
from dosirak.errors import ArtifactCorruptError


class EstimatorMaterializer(Materializer):
    """``sklearn.base.BaseEstimator`` as ``estimator.pkl`` with the sklearn version recorded."""

    version = "1"

    def save(self, obj: Any, path: Path) -> None:
        import cloudpickle

        with open(path / "estimator.pkl", "wb") as fh:
            cloudpickle.dump(obj, fh)

    def load(self, path: Path, data_type: type | None) -> Any:
        try:
            with open(path / "estimator.pkl", "rb") as fh:
                return pickle.load(fh)  # noqa: S301 - the user's own artifact store
        except FileNotFoundError as exc:
            raise ArtifactCorruptError(f"artifact file {path / 'estimator.pkl'} is missing") from exc
        except (pickle.UnpicklingError, EOFError) as exc:
            raise ArtifactCorruptError(f"artifact file {path / 'estimator.pkl'} is damaged: {exc}") from exc

    def summary(self, obj: Any) -> dict[str, Any]:
        import sklearn

        return {"class": f"{type(obj).__module__}.{type(obj).__qualname__}", "sklearn": sklearn.__version__,
                "params": {k: repr(v)[:80] for k, v in list(obj.get_params(deep=False).items())[:20]}}


__all__ = ["EstimatorMaterializer"]
