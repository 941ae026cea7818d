"""Call a dosirak service from Python: one method per api, built from ``/openapi.json``.

Example::

    import numpy as np
    import dosirak as dk

    with dk.ServiceClient("http://127.0.0.1:3000") as client:
        client.wait_ready(timeout=30)
        scores = client.predict_ndarray(np.zeros((1, 28, 28), np.float32))   # an ndarray

    async with dk.AsyncServiceClient("http://127.0.0.1:3000") as client:
        scores = await client.predict_ndarray(images)

Arrays travel as ``.npy`` both ways; JSON values as JSON; PIL images as PNG; ``bytes`` as
raw bytes. An error answer raises :class:`~dosirak.errors.ClientError` carrying the HTTP
``status_code``, the server's error ``type`` and message, and the request id. Both
clients share one core (request building and response decoding); only the transport
differs.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from dosirak.errors import ClientError

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


def operations(document: dict[str, Any]) -> dict[str, Operation]:
    """The apis described by a dosirak OpenAPI document, by name."""
    found: dict[str, Operation] = {}
    for route, item in document.get("paths", {}).items():
        post = item.get("post")
        meta = post.get("x-dosirak-api") if post else None
        if not meta or post.get("operationId") == "invocations":
            continue
        found[meta["name"]] = Operation(meta["name"], route, meta.get("input"), meta.get("output", "json"),
                                        meta.get("input_mode", "value"), tuple(meta.get("params", ())))
    return found


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


def _wrap(url: str, exc: httpx.HTTPError) -> ClientError:
    if isinstance(exc, httpx.TimeoutException):
        return ClientError(f"{url}: timed out ({type(exc).__name__}); raise the client's timeout or check the server")
    return ClientError(f"{url}: {type(exc).__name__}: {exc}; is the service running?")


def request_headers(headers: dict[str, str] | None, api_key: str | None) -> dict[str, str]:
    """The headers every request carries: ``headers`` plus ``Authorization: Bearer`` when a key is given."""
    merged = dict(headers or {})
    if api_key is not None:
        if not api_key or not api_key.isascii() or not api_key.isprintable() or " " in api_key:
            raise ClientError("api_key must be a non-empty key of visible ASCII characters (no spaces)")
        merged["authorization"] = f"Bearer {api_key}"
    return merged


class _Base:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._ops: dict[str, Operation] | None = None

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

    Args:
        url: Base URL of the service, e.g. ``http://127.0.0.1:3000``.
        timeout: Seconds for each request (connect, read, write).
        headers: Extra headers sent with every request.
        api_key: Sent as ``Authorization: Bearer KEY`` with every request, for a service
            started with ``dosirak serve --api-key-env VAR``.
    """

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
        if name.startswith("_"):
            raise AttributeError(name)
        self._op_checked(name)
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)

    def _op_checked(self, name: str) -> Operation:
        self.apis  # noqa: B018
        return self._op(name)

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
        self._http.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncServiceClient(_Base):
    """The asyncio twin of :class:`ServiceClient` (same arguments): ``await client.predict(x)``."""

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
        if name.startswith("_"):
            raise AttributeError(name)

        async def method(*args: Any, **kwargs: Any) -> Any:
            return await self.call(name, *args, **kwargs)

        method.__name__ = name
        return method

    async def is_ready(self) -> bool:
        """Whether ``/readyz`` answers 200."""
        try:
            return (await self._http.get("/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncServiceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


__all__ = ["AsyncServiceClient", "Operation", "ServiceClient", "build_request", "operations", "read_response",
           "request_headers"]
