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
