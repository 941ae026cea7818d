"""pandas DataFrames as parquet when pyarrow is installed, CSV-free pickle-free fallback otherwise."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from dosirak._extras import require
from dosirak.artifacts.materializers.base import Materializer
from dosirak.errors import ArtifactCorruptError


class DataFrameMaterializer(Materializer):
    """``pandas.DataFrame`` as ``data.parquet`` (pyarrow) or ``data.json`` (split orient)."""

    version = "1"

    def save(self, obj: Any, path: Path) -> None:
        if importlib.util.find_spec("pyarrow") is not None:
            obj.to_parquet(path / "data.parquet")
        else:
            obj.to_json(path / "data.json", orient="split", date_format="iso")

    def load(self, path: Path, data_type: type | None) -> Any:
        pd = require("pandas", extra="data")
        if (path / "data.parquet").exists():
            return pd.read_parquet(path / "data.parquet")
        if (path / "data.json").exists():
            return pd.read_json(path / "data.json", orient="split")
        raise ArtifactCorruptError(f"artifact {path} holds neither data.parquet nor data.json")

    def summary(self, obj: Any) -> dict[str, Any]:
        return {"shape": list(obj.shape), "columns": [str(c) for c in obj.columns[:50]],
                "dtypes": {str(k): str(v) for k, v in list(obj.dtypes.items())[:50]}}


__all__ = ["DataFrameMaterializer"]
