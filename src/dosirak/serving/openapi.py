"""The OpenAPI 3.1 document of a service, built once from its apis' codecs.

Each api is a ``POST`` operation whose ``operationId`` is the api name, with its request
and response schemas, an example, the error responses it can give, and an
``x-dosirak-api`` extension (codec kinds, batching) that :mod:`dosirak.serving.client`
reads. Each error response carries examples of what that api answers with that status:
the codec's own messages (a shape error for an array, "not an image" for an image api),
made by running its decoder on a bad body, so they are the messages a client really gets.
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
                "type": {"type": "string"},
                "message": {"type": "string"},
                "request_id": {"type": "string"},
            },
        }
    },
}

_ERROR_STATUSES = {
    "400": "The body cannot be read as this api's input (malformed, truncated, or missing what it needs).",
    "408": "The client sent its body too slowly, or the api took longer than the service timeout.",
    "413": "The body is larger than the service accepts.",
    "415": "The content type is not one this api accepts.",
    "422": "The body was read but does not fit the api's declared type, or a batchable api got no rows.",
    "431": "The request's header fields are too large or too many (dosirak serve --max-header-bytes, --max-headers).",
    "500": "The api raised; the server log has the traceback under the request id.",
    "503": "The service is starting or shutting down, or the worker is busy decoding other large bodies "
           "(see Retry-After).",
}
#: The ``error.type`` answered with each status (see :mod:`dosirak.errors`).
_ERROR_TYPES = {"400": "bad_request", "408": "timeout", "413": "payload_too_large", "415": "unsupported_media_type",
                "422": "validation_error", "431": "header_fields_too_large", "500": "internal_error",
                "503": "unavailable"}
#: Statuses only a codec answers: documented for an api whose codec gives examples of them (all of
#: them for a codec that gives none, as a third-party codec may not).
_CODEC_STATUSES = ("415", "422")
_REQUEST_ID = "5f3a-1c"
_DEFAULT_MAX_HEADER_BYTES = 65536


def _error_response(description: str, examples: dict[str, str] | None = None, status: str = "") -> dict[str, Any]:
    media: dict[str, Any] = {"schema": {"$ref": "#/components/schemas/Error"}}
    named = {name: {"summary": name, "value": {"error": {"type": _ERROR_TYPES.get(status, "serving_error"),
                                                          "message": message, "request_id": _REQUEST_ID}}}
             for name, message in (examples or {}).items()}
    if len(named) == 1:
        media["example"] = next(iter(named.values()))["value"]
    elif named:
        media["examples"] = named
    return {"description": description, "content": {JSON: media}}


def error_examples(api: ApiSpec, definition: ServiceDefinition) -> dict[str, dict[str, str]]:
    """What ``api`` answers with each error status it can give: status -> {example name: message}.

    The codec's examples (its decoder run on bad bodies) come first; the server's own
    refusals (body too large, timeout, not ready) fill in the statuses every api can give.
    """
    codec = api.input_codec
    own = getattr(codec, "error_examples", None)
    out: dict[str, dict[str, str]] = {}
    if own is not None:
        out.update({str(status): dict(examples) for status, examples in own().items()})
    elif codec is not None:
        out.update({status: {} for status in _CODEC_STATUSES})
    limit = definition.max_body_bytes
    out.setdefault("400", {"Content-Length not a number": "the Content-Length header is not a number"})
    out["408"] = {
        "api too slow": f"timed out after {definition.timeout_s:g} s while running the api: the api took too long",
        "body too slow": f"timed out after {definition.timeout_s:g} s while reading the request body: "
                         "the client sent its body too slowly",
    }
    out.setdefault("413", {})["body too large"] = (
        f"the body has {limit + 1} bytes; this service accepts at most {limit} (max_body_mb)")
    if api.batchable:
        out.setdefault("422", {})["no rows"] = ("the request holds no rows; send at least one "
                                                "(this api runs rows in batches)")
    out["431"] = {"head too large": f"the request's head is larger than {_DEFAULT_MAX_HEADER_BYTES} bytes; "
                                    "send less in headers, or raise dosirak serve --max-header-bytes"}
    out["500"] = {"api raised": f"the api '{api.name}' raised: ValueError; the server log has the traceback "
                                "under this request id"}
    out["503"] = {"still loading": "the service is still loading; retry when /readyz answers 200"}
    return {status: out[status] for status in sorted(out)}


def _operation(api: ApiSpec, operation_id: str, summary: str, components: dict[str, Any],
               definition: ServiceDefinition) -> dict[str, Any]:
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
        describe = getattr(api.input_codec, "request_description", None)
        if describe is not None:
            op["requestBody"]["description"] = describe()
    for status, examples in error_examples(api, definition).items():
        op["responses"][status] = _error_response(_ERROR_STATUSES[status], examples, status)
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
        paths[api.route] = {"post": _operation(api, api.name, summary, components, definition)}
    default = definition.api(definition.default_api)
    paths["/invocations"] = {
        "post": _operation(default, "invocations", f"SageMaker invocations: the '{default.name}' api.", components,
                           definition)
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


__all__ = ["ERROR_SCHEMA", "OPENAPI_VERSION", "build_openapi", "error_examples", "example_from_schema"]
