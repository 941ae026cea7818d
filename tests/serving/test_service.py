from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import pytest

import dosirak as dk
from dosirak.errors import ServiceError
from dosirak.serving.service import ServiceDefinition, definition_of, load_service

HERE = Path(__file__).parent


def test_service_collects_apis_with_their_options_and_codecs() -> None:
    @dk.service(name="demo", workers=2, timeout_s=5, max_body_mb=2)
    class Demo:
        @dk.api(batchable=True, max_batch_size=16, max_latency_ms=3, route="/v1/predict", name="predict")
        def run(self, x: Annotated[np.ndarray, dk.Tensor("float32", (-1, 3))]) -> np.ndarray:
            return x

        @dk.api
        async def hello(self, name: str, times: int = 1) -> str:
            return name * times

    definition = definition_of(Demo)
    assert isinstance(definition, ServiceDefinition)
    assert (definition.name, definition.workers, definition.max_body_bytes) == ("demo", 2, 2 * 1024 * 1024)
    predict, hello = definition.apis
    assert (predict.name, predict.route, predict.batchable, predict.max_batch_size) == ("predict", "/v1/predict", True, 16)
    assert predict.input_codec is not None and predict.input_codec.kind == "ndarray"
    assert hello.is_async and hello.input_mode == "fields" and hello.params == ("name", "times")
    assert definition.default_api == "predict"
    assert "application/json" in hello.input_schema


def test_default_name_is_the_class_name_in_snake_case() -> None:
    @dk.service
    class FashionMnistModel:
        @dk.api
        def hello(self) -> str:
            return "hi"

    assert definition_of(FashionMnistModel).name == "fashion_mnist_model"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("def f(self, x: int) -> int: return x", "has no @dk.api method"),
        ("@dk.api(batchable=True)\n    def f(self, x: dict) -> dict: return x", "batchable api needs one array or list"),
        ("@dk.api(route='/livez')\n    def f(self, x: int) -> int: return x", "reserved"),
        ("@dk.api\n    def f(self, image: bytes, n: int) -> int: return n", "must be the api's only parameter"),
        ("@dk.api\n    def f(self, *xs: int) -> int: return 0", "args"),
        ("@dk.api\n    def f(self, x: 'Missing') -> int: return 0", "cannot resolve its type hints"),
        ("@dk.api\n    def f(self, x: int) -> int: return x\n    @dk.api(name='f')\n    def g(self, x: int) -> int: return x",
         "share the name f"),
    ],
)
def test_badly_defined_services_are_refused_with_a_clear_message(body: str, message: str) -> None:
    source = f"import dosirak as dk\nclass S:\n    {body}\n"
    namespace: dict[str, object] = {}
    exec(compile(source, "<service>", "exec"), namespace)  # noqa: S102 - builds classes from test sources
    with pytest.raises(ServiceError, match=message):
        dk.service(namespace["S"])


def test_api_options_are_checked() -> None:
    with pytest.raises(ServiceError, match="max_batch_size"):
        dk.api(max_batch_size=0)
    with pytest.raises(ServiceError, match="start with '/'"):
        dk.api(route="predict")


def test_load_service_imports_a_file_relative_to_base_dir() -> None:
    definition = load_service("sample_service.py:Sample", base_dir=HERE)
    assert definition.name == "sample" and definition.api("scale").batchable
    assert load_service(str(HERE / "sample_service.py") + ":Sample").cls is definition.cls  # imported once


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon.py", "should look like"),
        ("missing_file.py:Sample", "does not exist"),
        ("sample_service.py:Nope", "has no attribute 'Nope'"),
        ("sample_service.py:Point", "not a @dk.service class"),
        ("dosirak_no_such_module:Thing", "cannot import module"),
    ],
)
def test_load_service_explains_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ServiceError, match=message):
        load_service(spec, base_dir=HERE)


def test_a_service_file_that_raises_on_import_is_a_service_error(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ServiceError, match="RuntimeError: boom"):
        load_service("broken.py:X", base_dir=tmp_path)
