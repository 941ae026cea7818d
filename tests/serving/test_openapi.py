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


def _examples(operation: dict, status: str) -> dict[str, dict]:
    """An error response's examples by name (a lone ``example`` under the name ``""``)."""
    media = operation["responses"][status]["content"]["application/json"]
    if "example" in media:
        return {"": media["example"]}
    return {name: entry["value"] for name, entry in media.get("examples", {}).items()}


ERROR_TYPES = {"400": "bad_request", "401": "unauthorized", "408": "timeout", "413": "payload_too_large", "415": "unsupported_media_type",
               "422": "validation_error", "431": "header_fields_too_large", "500": "internal_error",
               "503": "unavailable"}


def test_every_error_response_has_examples_of_its_own_status() -> None:
    doc = document()
    for route, item in doc["paths"].items():
        operation = item.get("post")
        if operation is None:
            continue
        for status in operation["responses"]:
            if status == "200":
                continue
            examples = _examples(operation, status)
            assert examples, (route, status)
            for value in examples.values():
                assert value["error"]["type"] == ERROR_TYPES[status], (route, status, value)
                assert value["error"]["message"] and "\n" not in value["error"]["message"]
    assert "examples" not in doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["message"]


def test_error_examples_fit_the_apis_codec() -> None:
    doc = document()
    scale = doc["paths"]["/scale"]["post"]  # float32 (N, 4), batchable
    shape_errors = [v["error"]["message"] for v in _examples(scale, "422").values()]
    assert "expected shape (N, 4), got (1, 3)" in shape_errors
    assert any("no rows" in m for m in shape_errors)
    assert any("X-Dosirak-Shape" in m and "application/x-npy" in m for m in shape_errors)  # a raw body of another size
    assert "application/octet-stream, application/x-npy" in _examples(scale, "415")[""]["error"]["message"]

    size = doc["paths"]["/size"]["post"]  # a PIL image
    messages = [v["error"]["message"] for status in size["responses"] if status != "200"
                for v in _examples(size, status).values()]
    assert not any("shape" in m or "JSON" in m for m in messages), messages
    assert "422" not in size["responses"]  # an image api never answers it
    assert "not an image" in _examples(size, "400")[""]["error"]["message"]
    assert "image/*" in _examples(size, "415")[""]["error"]["message"]
    assert any("pixels" in v["error"]["message"] for v in _examples(size, "413").values())

    add = doc["paths"]["/add"]["post"]  # two JSON fields
    assert _examples(add, "422")[""]["error"]["message"] == "a: Field required"
    checksum = doc["paths"]["/checksum"]["post"]  # bytes: any content type is a file's bytes
    assert "415" not in checksum["responses"] and "422" not in checksum["responses"]


def test_request_bodies_say_how_to_send_arrays_and_images() -> None:
    doc = document()
    scale = doc["paths"]["/scale"]["post"]["requestBody"]["description"]
    for words in ("(N, 4)", "float32", "application/octet-stream", "X-Dosirak-Shape: 2,4", "X-Dosirak-Dtype: float32",
                  "application/x-npy", "numpy.save"):
        assert words in scale, words
    assert "multipart/form-data" in doc["paths"]["/size"]["post"]["requestBody"]["description"]
