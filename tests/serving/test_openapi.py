from __future__ import annotations

from pathlib import Path

from dosirak.serving.service import load_service

HERE = Path(__file__).parent


def document() -> dict:
    return load_service("sample_service.py:Sample", base_dir=HERE).openapi()


def test_document_is_openapi_3_1_with_every_api_and_infrastructure_route() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"] == "sample"
    for route in ("/scale", "/add", "/measure", "/size", "/checksum", "/invocations"):
        assert "post" in doc["paths"][route]
    for route in ("/livez", "/readyz", "/ping", "/metrics"):
        assert "get" in doc["paths"][route]


def test_operations_have_schemas_examples_and_error_responses() -> None:
    doc = document()
    scale = doc["paths"]["/scale"]["post"]
    content = scale["requestBody"]["content"]
    assert set(content) == {"application/json", "application/x-npy", "application/octet-stream"}
    assert content["application/json"]["example"] == [[0.0, 0.0, 0.0, 0.0]]
    assert scale["x-dosirak-api"]["batchable"] is True
    for status in ("400", "413", "415", "422", "500"):
        assert scale["responses"][status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    add = doc["paths"]["/add"]["post"]
    schema = add["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/AddInput"}
    assert add["requestBody"]["content"]["application/json"]["example"] == {"a": 0, "b": 1}
    assert doc["paths"]["/add"]["post"]["description"] == "Add two integers."


def test_pydantic_models_are_components() -> None:
    doc = document()
    schemas = doc["components"]["schemas"]
    assert {"Point", "Distance", "Error", "AddInput"} <= set(schemas)
    assert schemas["Point"]["properties"]["y"]["minimum"] == 0
    measure = doc["paths"]["/measure"]["post"]
    assert measure["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Distance"}


def test_invocations_mirror_the_default_api() -> None:
    doc = document()
    assert doc["paths"]["/invocations"]["post"]["requestBody"] == doc["paths"]["/scale"]["post"]["requestBody"]


def test_schemas_say_what_the_apis_refuse() -> None:
    doc = document()
    scale = doc["paths"]["/scale"]["post"]["requestBody"]["content"]
    plain, wrapped = scale["application/json"]["schema"]["anyOf"]
    assert plain["minItems"] == 1 and wrapped["properties"]["instances"]["minItems"] == 1  # no batch of zero rows
    assert plain["items"] == {"type": "array", "items": plain["items"]["items"], "minItems": 4, "maxItems": 4}
    for media in ("application/octet-stream", "application/x-npy"):
        assert scale[media]["schema"]["minLength"] == 1
    checksum = doc["paths"]["/checksum"]["post"]["requestBody"]["content"]
    assert "minLength" not in checksum["application/octet-stream"]["schema"]  # empty bytes are bytes
    size = doc["paths"]["/size"]["post"]["requestBody"]["content"]
    assert size["image/png"]["schema"]["minLength"] == 1


def test_an_inner_free_axis_above_another_axis_needs_at_least_one_item() -> None:
    from dosirak.serving.codecs.numpy import NdarrayCodec, Tensor

    schema = NdarrayCodec(Tensor("float32", (-1, -1, 3))).schema()
    assert schema["minItems"] == 1 and schema["items"]["minItems"] == 1  # [] or [[]] cannot have 3 axes
    assert "minItems" not in NdarrayCodec(Tensor("float32", (-1,))).schema()
