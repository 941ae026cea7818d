"""The OpenAPI 3.1 document of a service, built once from its apis' codecs.

Each api is a ``POST`` operation whose ``operationId`` is the api name, with its request
and response schemas, an example, every error response, and an ``x-dosirak-api``
extension (codec kinds, batching) that :mod:`dosirak.serving.client` reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dosirak
from dosirak.serving.codecs.base import JSON

if TYPE_CHECKING:
    from dosirak.serving.api import ApiSpec
    from dosirak.serving.service import ServiceDefinition

OPENAPI_VERSION = "3.1.0"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message", "request_id"],
            "properties": {
                "type": {"type": "string", "examples": ["validation_error"]},
                "message": {"type": "string", "examples": ["expected shape (N, 28, 28), got (1, 27, 28)"]},
                "request_id": {"type": "string"},
            },
        }
    },
}

_ERROR_STATUSES = {
    "400": "Malformed body (bad JSON, not an image, truncated bytes).",
    "408": "The client sent its body too slowly, or the api took longer than the service timeout.",
    "413": "The body is larger than the service accepts.",
    "415": "The content type is not one this api accepts.",
    "422": "The body parsed but does not fit the declared types (shape, dtype, fields), or a batchable api got no rows.",
    "431": "The request's header fields are too large or too many (dosirak serve --max-header-bytes, --max-headers).",
    "500": "The api raised; the server log has the traceback under the request id.",
    "503": "The service is starting or shutting down, or the worker is busy decoding other large bodies "
           "(see Retry-After).",
}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _operation(api: ApiSpec, operation_id: str, summary: str, components: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "tags": ["apis"],
        "responses": {"200": {"description": "The api's result.", "content": _with_examples(api.output_schema, components)}},
        "x-dosirak-api": {
            "name": api.name,
            "input": api.input_codec.kind if api.input_codec is not None else None,
            "output": api.output_codec.kind,
            "input_mode": api.input_mode,
            "params": list(api.params),
            "batchable": api.batchable,
            "max_batch_size": api.max_batch_size,
            "max_latency_ms": api.max_latency_ms,
        },
    }
    if api.doc:
        op["description"] = api.doc
    if api.input_codec is not None:
        content = api.input_schema
        if api.batchable:
            content = {media: {**entry, "schema": _non_empty(entry["schema"])} if "schema" in entry else entry
                       for media, entry in content.items()}
        op["requestBody"] = {"required": True, "content": _with_examples(content, components)}
    for status, text in _ERROR_STATUSES.items():
        op["responses"][status] = _error_response(text)
    return op


def _non_empty(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` refusing zero rows, as a batchable api does (422): arrays of 1+ items, binary of 1+ bytes."""
    if "anyOf" in schema:
        return {**schema, "anyOf": [_non_empty(option) for option in schema["anyOf"]]}
    if schema.get("type") == "array":
        return {**schema, "minItems": max(1, int(schema.get("minItems", 0)))}
    if schema.get("type") == "string" and schema.get("format") == "binary":
        return {**schema, "minLength": max(1, int(schema.get("minLength", 0)))}
    properties = schema.get("properties", {})
    if schema.get("type") == "object" and "instances" in properties:
        return {**schema, "properties": {**properties, "instances": _non_empty(properties["instances"])}}
    return schema


def _with_examples(content: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for media, entry in content.items():
        entry = dict(entry)
        if "example" not in entry and media == JSON and "schema" in entry:
            entry["example"] = example_from_schema(entry["schema"], components)
        out[media] = entry
    return out


def example_from_schema(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> Any:
    """A small value that fits ``schema`` (refs resolved against ``components``)."""
    if depth > 8:
        return None
    if "$ref" in schema:
        target = components.get(schema["$ref"].rsplit("/", 1)[-1], {})
        return example_from_schema(target, components, depth + 1)
    for key in ("example", "default", "const"):
        if key in schema:
            return schema[key]
    if schema.get("examples"):
        return schema["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return example_from_schema(options[0], components, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: example_from_schema(sub, components, depth + 1) for name, sub in props.items()}
    if kind == "array":
        item = example_from_schema(schema.get("items", {}), components, depth + 1)
        return [item] * max(1, int(schema.get("minItems", 1)))
    return {"string": "string", "integer": 0, "number": 0.0, "boolean": True, "null": None}.get(kind or "", {})


def _plain_get(summary: str, description: str, content: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": description, "content": content}}
    responses.update(extra or {})
    return {"get": {"summary": summary, "tags": ["infrastructure"], "responses": responses}}


def build_openapi(definition: ServiceDefinition) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a service (a fresh dict)."""
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for api in definition.apis:
        for codec in (api.input_codec, api.output_codec):
            extra = getattr(codec, "components", None)
            if extra is not None:
                components.update(extra())
    paths: dict[str, Any] = {}
    for api in definition.apis:
        summary = api.doc.splitlines()[0] if api.doc else f"Call the '{api.name}' api."
        paths[api.route] = {"post": _operation(api, api.name, summary, components)}
    default = definition.api(definition.default_api)
    paths["/invocations"] = {
        "post": _operation(default, "invocations", f"SageMaker invocations: the '{default.name}' api.", components)
    }
    status_schema = {JSON: {"schema": {"type": "object", "properties": {"status": {"type": "string"}}, "required": ["status"]}}}
    not_ready = {"503": _error_response("Not every worker has finished loading the service yet.")}
    paths["/livez"] = _plain_get("Liveness", "The worker process answers.", status_schema)
    paths["/readyz"] = _plain_get("Readiness", "Every worker has loaded the service.", status_schema, not_ready)
    paths["/ping"] = _plain_get("SageMaker health check", "Ready.", status_schema, not_ready)
    paths["/metrics"] = _plain_get("Prometheus metrics", "Metrics in the Prometheus text format.",
                                   {"text/plain": {"schema": {"type": "string"}}})
    info: dict[str, Any] = {"title": definition.name, "version": dosirak.__version__}
    if definition.description:
        info["description"] = definition.description
    return {
        "openapi": OPENAPI_VERSION,
        "info": info,
        "paths": paths,
        "components": {"schemas": components},
        "tags": [{"name": "apis", "description": "The service's apis."},
                 {"name": "infrastructure", "description": "Health, readiness and metrics."}],
    }


__all__ = ["ERROR_SCHEMA", "OPENAPI_VERSION", "build_openapi", "example_from_schema"]
