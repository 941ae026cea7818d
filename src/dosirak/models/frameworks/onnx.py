"""ONNX models (``onnx.ModelProto``), saved as a ``.onnx`` protobuf: no pickle involved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dosirak._extras import require
from dosirak.errors import ModelError
from dosirak.models.frameworks.base import FrameworkHandler, model_file

FILE = "model.onnx"


class OnnxHandler(FrameworkHandler):
    """Saves an ``onnx.ModelProto`` after checking it, and loads it back as one."""

    name = "onnx"
    distributions = ("onnx",)

    def save(self, obj: Any, directory: Path, options: dict[str, Any]) -> dict[str, Any]:
        onnx = require("onnx", extra="onnx", purpose="saving an ONNX model")
        try:
            onnx.checker.check_model(obj)
        except onnx.checker.ValidationError as exc:
            raise ModelError(f"the ONNX model does not pass onnx.checker: {exc}") from exc
        onnx.save_model(obj, str(directory / FILE))
        return {
            "file": FILE,
            "pickle": False,
            "opset": {o.domain or "ai.onnx": o.version for o in obj.opset_import},
            "inputs": [i.name for i in obj.graph.input],
            "outputs": [o.name for o in obj.graph.output],
        }

    def load(self, directory: Path, info: dict[str, Any], *, allow_pickle: bool) -> Any:
        onnx = require("onnx", extra="onnx", purpose="loading an ONNX model")
        return onnx.load(str(model_file(directory, info, "file", FILE)))


__all__ = ["OnnxHandler"]
