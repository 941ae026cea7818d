"""Call a dosirak service from Python: one method per api, built from ``/openapi.json``.

Example::

    import numpy as np
    import dosirak as dk

    with dk.ServiceClient("http://127.0.0.1:3000") as client:
        client.wait_ready(timeout=30)
        scores = client.predict_ndarray(np.zeros((1, 28, 28), np.float32))   # an ndarray

    async with dk.AsyncServiceClient("http://127.0.0.1:3000") as client:
        scores = await client.predict_ndarray(images)

Each api is a bound method named after it, with the api's signature and docstring
(``help(client.predict_ndarray)``; ``dir(client)`` and completion list the apis once they
are known: a ``ServiceClient`` fetches them on first use, an ``AsyncServiceClient`` after
``await client.apis()`` or its first call). The clients' own attributes (``call``, ``apis``,
``close``, ``aclose``, ``is_ready``, ``wait_ready``, ``url``) win over an api of the same name;
``client.call(NAME, ...)`` reaches every api, whatever its name.

Arrays travel as ``.npy`` both ways; JSON values as JSON; PIL images as PNG; ``bytes`` as
raw bytes. An error answer raises :class:`~dosirak.errors.ClientError` carrying the HTTP
``status_code``, the server's error ``type`` and message, and the request id. A request
that gets no answer raises :class:`~dosirak.errors.ServiceUnreachableError` (refused, or
closed or reset first), one that outlasts the timeout :class:`~dosirak.errors.ServiceTimeoutError`
(both ClientErrors): no httpx type leaves this module's calls. Both clients share one core (request building and response decoding); only the transport
differs.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import keyword
import time
import types
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
import orjson

from dosirak.errors import ClientError, ServiceTimeoutError, ServiceUnreachableError

_NPY = "application/x-npy"


@dataclass(frozen=True)
class Operation:
    """One api as the client sees it (from the ``x-dosirak-api`` extension)."""

    name: str
    route: str
    input: str | None
    output: str
    input_mode: str
    params: tuple[str, ...]
    #: The api's docstring (or its one-line summary).
    doc: str = ""
    #: The api's parameters and result as Python sees them (from the OpenAPI schemas).
    signature: inspect.Signature = field(default_factory=inspect.Signature, compare=False)


def operations(document: dict[str, Any]) -> dict[str, Operation]:
    """The apis described by a dosirak OpenAPI document, by name."""
    found: dict[str, Operation] = {}
    components = document.get("components", {}).get("schemas", {})
    for route, item in document.get("paths", {}).items():
        post = item.get("post")
        meta = post.get("x-dosirak-api") if post else None
        if not meta or post.get("operationId") == "invocations":
            continue
        op = Operation(meta["name"], route, meta.get("input"), meta.get("output", "json"),
                       meta.get("input_mode", "value"), tuple(str(p) for p in meta.get("params", ())),
                       doc=str(post.get("description") or post.get("summary") or ""))
        try:
            signature = _signature(op, post, components)
        except (ValueError, TypeError, AttributeError):  # a document from elsewhere: the signature stays open
            signature = inspect.Signature([inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL),
                                           inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)])
        found[op.name] = Operation(op.name, op.route, op.input, op.output, op.input_mode, op.params, op.doc,
                                   signature)
    return found


#: Python types of the codec kinds, for signatures (names only: nothing is imported).
_KIND_TYPES: dict[str, Any] = {"ndarray": "numpy.ndarray", "image": "PIL.Image.Image", "file": bytes}
_JSON_TYPES: dict[str, Any] = {"integer": int, "number": float, "string": str, "boolean": bool, "array": list,
                               "object": dict, "null": None}


def _json_type(schema: Any, components: dict[str, Any]) -> Any:
    """The Python type of a JSON schema, as far as one type says it (``Any`` otherwise)."""
    if not isinstance(schema, dict):
        return Any
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return dict if ref.rsplit("/", 1)[-1] in components else Any
    kind = schema.get("type")
    return _JSON_TYPES.get(kind, Any) if isinstance(kind, str) else Any


def _resolved(schema: Any, components: dict[str, Any]) -> dict[str, Any]:
    if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        schema = components.get(schema["$ref"].rsplit("/", 1)[-1], {})
    return schema if isinstance(schema, dict) else {}


def _signature(op: Operation, post: dict[str, Any], components: dict[str, Any]) -> inspect.Signature:
    """The Python signature of an api: its parameters (with JSON defaults) and its result type."""
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    content = (post.get("requestBody") or {}).get("content") or {}
    json_schema = (content.get("application/json") or {}).get("schema")
    parameters: list[inspect.Parameter] = []
    if op.input_mode == "fields":
        model = _resolved(json_schema, components)
        properties, required = model.get("properties") or {}, set(model.get("required") or ())
        for name in op.params:
            prop = properties.get(name) or {}
            default = prop["default"] if "default" in prop else inspect.Parameter.empty
            if default is inspect.Parameter.empty and name not in required:
                default = None
            parameters.append(inspect.Parameter(name, positional, default=default,
                                                annotation=_json_type(prop, components)))
    elif op.input_mode == "value" and op.input is not None and op.params:
        annotation = _KIND_TYPES.get(op.input) or _json_type(json_schema, components)
        parameters.append(inspect.Parameter(op.params[0], positional, annotation=annotation))
    response = ((post.get("responses") or {}).get("200") or {}).get("content") or {}
    result = _KIND_TYPES.get(op.output) or _json_type((response.get("application/json") or {}).get("schema"),
                                                      components)
    return inspect.Signature(parameters, return_annotation=result)


def _json_default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dump(mode="json")
    tolist = getattr(value, "tolist", None)
    if tolist is not None:
        return tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def build_request(op: Operation, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[bytes | None, dict[str, str]]:
    """Body and headers for calling ``op`` with Python arguments."""
    headers: dict[str, str] = {}
    if op.output == "ndarray":
        headers["accept"] = _NPY
    if op.input_mode == "none" or op.input is None:
        if args or kwargs:
            raise ClientError(f"api '{op.name}' takes no arguments")
        return None, headers
    if op.input_mode == "fields":
        if len(args) > len(op.params):
            raise ClientError(f"api '{op.name}' takes at most {len(op.params)} arguments: {', '.join(op.params)}")
        payload = dict(zip(op.params, args, strict=False))
        for key in kwargs:
            if key not in op.params:
                raise ClientError(f"api '{op.name}' has no parameter '{key}'; it takes {', '.join(op.params)}")
        payload.update(kwargs)
        headers["content-type"] = "application/json"
        return orjson.dumps(payload, default=_json_default, option=orjson.OPT_SERIALIZE_NUMPY), headers
    if len(args) + len(kwargs) != 1:
        raise ClientError(f"api '{op.name}' takes exactly one argument")
    value = args[0] if args else next(iter(kwargs.values()))
    if op.input == "ndarray":
        import numpy as np

        out = io.BytesIO()
        np.save(out, np.asarray(value), allow_pickle=False)
        headers["content-type"] = _NPY
        return out.getvalue(), headers
    if op.input == "image":
        if isinstance(value, bytes | bytearray):
            headers["content-type"] = "application/octet-stream" if not value else _sniff_image(bytes(value))
            return bytes(value), headers
        out = io.BytesIO()
        value.save(out, format="PNG")
        headers["content-type"] = "image/png"
        return out.getvalue(), headers
    if op.input == "file":
        headers["content-type"] = "application/octet-stream"
        return bytes(value), headers
    headers["content-type"] = "application/json"
    return orjson.dumps(value, default=_json_default, option=orjson.OPT_SERIALIZE_NUMPY), headers


def _sniff_image(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    return "image/octet-stream"


def read_response(op_name: str, output: str, response: httpx.Response) -> Any:
    """The Python value of a response, or ClientError for an error answer."""
    if response.status_code >= 400:
        raise _error_from(op_name, response)
    content_type = response.headers.get("content-type", "")
    if output == "ndarray":
        import numpy as np

        if content_type.startswith(_NPY):
            return np.load(io.BytesIO(response.content), allow_pickle=False)
        return np.asarray(orjson.loads(response.content))
    if output == "image":
        from PIL import Image

        return Image.open(io.BytesIO(response.content))
    if output == "file":
        return response.content
    return orjson.loads(response.content)


def _error_from(what: str, response: httpx.Response) -> ClientError:
    try:
        error = orjson.loads(response.content)["error"]
        message = f"{what}: HTTP {response.status_code} {error['type']}: {error['message']} (request id {error['request_id']})"
        body: Any = error
    except (orjson.JSONDecodeError, KeyError, TypeError):
        message = f"{what}: HTTP {response.status_code}: {response.text[:200]}"
        body = response.text
    return ClientError(message, status_code=response.status_code, body=body)


#: httpx's errors for a request that got no response at all (a timeout aside).
_UNANSWERED = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


def _wrap(url: str, exc: httpx.HTTPError) -> ClientError:
    """The :mod:`dosirak.errors` type for an httpx failure: the client boundary, past which no httpx type leaks."""
    if isinstance(exc, httpx.TimeoutException):
        return ServiceTimeoutError(f"{url}: timed out ({type(exc).__name__}); raise the client's timeout or "
                                   "check the server")
    if isinstance(exc, _UNANSWERED):
        return ServiceUnreachableError(f"{url}: {type(exc).__name__}: {exc}; is the service running?")
    return ClientError(f"{url}: {type(exc).__name__}: {exc}; is the service running?")


def request_headers(headers: dict[str, str] | None, api_key: str | None) -> dict[str, str]:
    """The headers every request carries: ``headers`` plus ``Authorization: Bearer`` when a key is given."""
    merged = dict(headers or {})
    if api_key is not None:
        if not api_key or not api_key.isascii() or not api_key.isprintable() or " " in api_key:
            raise ClientError("api_key must be a non-empty key of visible ASCII characters (no spaces)")
        merged["authorization"] = f"Bearer {api_key}"
    return merged


def _api_function(op: Operation, owner: str, is_async: bool) -> Any:
    """A function of ``(self, ...)`` calling api ``op`` through ``self.call``, named, documented and
    signed as the api; bound to a client with :class:`types.MethodType`."""
    name = op.name

    async def call_async(self: Any, *args: Any, **kwargs: Any) -> Any:
        return await self.call(name, *args, **kwargs)

    def call_blocking(self: Any, *args: Any, **kwargs: Any) -> Any:
        return self.call(name, *args, **kwargs)

    api: Any = call_async if is_async else call_blocking
    api.__name__ = name
    api.__qualname__ = f"{owner}.{name}"
    api.__doc__ = f"{op.doc or f'Call the {name!r} api.'}\n\nSends POST {op.route} to the service."
    with contextlib.suppress(ValueError):  # an api parameter named "self": the signature stays (*args, **kwargs)
        self_parameter = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
        vars(api)["__signature__"] = op.signature.replace(
            parameters=[self_parameter, *op.signature.parameters.values()])
    return api


class _Base:
    #: Attributes a user may reach for on this client that belong to its twin: name -> what to use here.
    _TWIN: ClassVar[dict[str, str]] = {}
    #: Whether the api methods are coroutine functions.
    _ASYNC: ClassVar[bool] = False

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._ops: dict[str, Operation] | None = None
        self._methods: dict[str, Any] = {}

    def _method(self, name: str) -> Any:
        """The bound method of api ``name`` (the apis being known), made once per client."""
        method = self._methods.get(name)
        if method is None:
            ops = self._ops or {}
            if name not in ops:
                hint = f"; use {self._TWIN[name]}" if name in self._TWIN else ""
                listed = (', '.join(ops) or 'none') if self._ops is not None else "not fetched yet"
                raise AttributeError(f"{type(self).__name__} has no attribute '{name}' and the service at {self.url} "
                                     f"has no api '{name}'{hint}; its apis: {listed}")
            method = types.MethodType(_api_function(ops[name], type(self).__name__, self._ASYNC), self)
            self._methods[name] = method
        return method

    def _api_names(self) -> list[str]:
        """The apis reachable as attributes: those that are identifiers and no attribute of the client."""
        return [name for name in (self._ops or {})
                if name.isidentifier() and not keyword.iskeyword(name) and not hasattr(type(self), name)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def _op(self, name: str) -> Operation:
        ops = self._ops or {}
        try:
            return ops[name]
        except KeyError:
            raise AttributeError(f"service at {self.url} has no api '{name}'; it has: {', '.join(ops)}") from None

    def _set_ops(self, response: httpx.Response) -> dict[str, Operation]:
        if response.status_code != 200:
            raise _error_from("GET /openapi.json", response)
        self._ops = operations(orjson.loads(response.content))
        return self._ops


class ServiceClient(_Base):
    """A blocking client for a dosirak service; each api is a method (``client.predict(x)``).

    ``help(client.predict)`` shows the api's signature and docstring; ``dir(client)`` lists
    the apis. An api named like an attribute of the client (``call``, ``close``, ...) is
    reached with ``client.call("close", ...)``.

    Args:
        url: Base URL of the service, e.g. ``http://127.0.0.1:3000``.
        timeout: Seconds for each request (connect, read, write).
        headers: Extra headers sent with every request.
        api_key: Sent as ``Authorization: Bearer KEY`` with every request, for a service
            started with ``dosirak serve --api-key-env VAR``.
    """

    _TWIN = {"aclose": "close() (aclose belongs to AsyncServiceClient)"}

    def __init__(self, url: str, *, timeout: float = 30.0, headers: dict[str, str] | None = None,
                 api_key: str | None = None) -> None:
        super().__init__(url)
        self._http = httpx.Client(base_url=self.url, timeout=timeout, headers=request_headers(headers, api_key))

    @property
    def apis(self) -> dict[str, Operation]:
        """The service's apis (fetched from /openapi.json once)."""
        if self._ops is None:
            return self._set_ops(self._get("/openapi.json"))
        return self._ops

    def _get(self, path: str) -> httpx.Response:
        try:
            return self._http.get(path)
        except httpx.HTTPError as exc:
            raise _wrap(self.url + path, exc) from exc

    def call(self, api: str, *args: Any, **kwargs: Any) -> Any:
        """Call api ``api`` with Python arguments and return its decoded result."""
        self.apis  # noqa: B018 - load the operations
        op = self._op(api)
        body, headers = build_request(op, args, kwargs)
        try:
            response = self._http.post(op.route, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise _wrap(self.url + op.route, exc) from exc
        return read_response(api, op.output, response)

    def __getattr__(self, name: str) -> Any:
        """Api ``name`` as a bound method (apis fetched on first use); an attribute of the client wins."""
        if name.startswith("_"):
            raise AttributeError(name)
        self.apis  # noqa: B018 - load the operations
        return self._method(name)

    def __dir__(self) -> list[str]:
        """The client's attributes and the service's apis (fetched if reachable), for ``dir()`` and completion."""
        with contextlib.suppress(ClientError):  # unreachable: the client's own attributes only
            self.apis  # noqa: B018
        return sorted({*super().__dir__(), *self._api_names()})

    def is_ready(self) -> bool:
        """Whether ``/readyz`` answers 200."""
        try:
            return self._http.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 60.0, interval: float = 0.1) -> None:
        """Block until ``/readyz`` answers 200; ClientError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not self.is_ready():
            if time.monotonic() >= deadline:
                raise ClientError(f"{self.url} was not ready within {timeout:g} s")
            time.sleep(interval)

    def close(self) -> None:
        """Close the connections (``with ServiceClient(...)`` does it on leaving)."""
        self._http.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncServiceClient(_Base):
    """The asyncio twin of :class:`ServiceClient` (same arguments): ``await client.predict(x)``.

    ``await client.close()`` and ``await client.aclose()`` both close it; the apis' methods
    carry their signatures once ``await client.apis()`` (or a first call) has fetched them.
    """

    _TWIN = {"wait_ready": "`await client.is_ready()` in a loop (wait_ready belongs to ServiceClient)"}
    _ASYNC = True

    def __init__(self, url: str, *, timeout: float = 30.0, headers: dict[str, str] | None = None,
                 api_key: str | None = None) -> None:
        super().__init__(url)
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout, headers=request_headers(headers, api_key))

    async def apis(self) -> dict[str, Operation]:
        """The service's apis (fetched from /openapi.json once)."""
        if self._ops is None:
            try:
                response = await self._http.get("/openapi.json")
            except httpx.HTTPError as exc:
                raise _wrap(self.url + "/openapi.json", exc) from exc
            return self._set_ops(response)
        return self._ops

    async def call(self, api: str, *args: Any, **kwargs: Any) -> Any:
        """Call api ``api`` with Python arguments and return its decoded result."""
        await self.apis()
        op = self._op(api)
        body, headers = build_request(op, args, kwargs)
        try:
            response = await self._http.post(op.route, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise _wrap(self.url + op.route, exc) from exc
        return read_response(api, op.output, response)

    def __getattr__(self, name: str) -> Any:
        """Api ``name`` as a bound coroutine method; an attribute of the client wins.

        Before the apis are known (``await client.apis()`` or a first call fetches them) any
        name gives a coroutine function that checks the name when awaited.
        """
        if name.startswith("_"):
            raise AttributeError(name)
        if self._ops is not None or name in self._TWIN:
            return self._method(name)

        async def method(*args: Any, **kwargs: Any) -> Any:
            return await self.call(name, *args, **kwargs)

        method.__name__ = name
        method.__doc__ = (f"Call api {name!r} of the service at {self.url}; its signature and docstring are "
                          "known once `await client.apis()` has run.")
        return method

    def __dir__(self) -> list[str]:
        """The client's attributes and, once fetched, the service's apis."""
        return sorted({*super().__dir__(), *self._api_names()})

    async def is_ready(self) -> bool:
        """Whether ``/readyz`` answers 200."""
        try:
            return (await self._http.get("/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    async def aclose(self) -> None:
        """Close the connections (``async with AsyncServiceClient(...)`` does it on leaving)."""
        await self._http.aclose()

    async def close(self) -> None:
        """The same as :meth:`aclose` (``await client.close()``)."""
        await self.aclose()

    async def __aenter__(self) -> AsyncServiceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


__all__ = ["AsyncServiceClient", "Operation", "ServiceClient", "build_request", "operations", "read_response",
           "request_headers"]
