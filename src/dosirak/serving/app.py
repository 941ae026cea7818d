"""The ASGI application of one serving worker.

Routes: ``POST <api route>`` per api, ``POST /invocations`` (the api named by SageMaker's
``X-Amzn-SageMaker-Custom-Attributes: api=NAME``, else the default api), ``GET
/livez``, ``/readyz``, ``/ping``, ``/metrics``, ``/openapi.json`` and ``/docs`` (Swagger UI 5
from the ``swagger-ui-py`` package's files, no CDN).

The request path is a plain ASGI callable with a dict lookup per request: routing,
schemas, example payloads and the OpenAPI document are all built once, at start-up. Every
error is answered as ``{"error": {"type", "message", "request_id"}}`` with the status of
the :class:`~dosirak.errors.ServingError` raised; anything else the user's code raises is
a 500 whose traceback goes to the server log only.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import orjson

from dosirak.errors import (
    BadRequestError,
    InternalServerError,
    MethodNotAllowedError,
    NotFoundRouteError,
    PayloadTooLargeError,
    RequestTimeoutError,
    ServiceUnavailableError,
    ServingError,
)
from dosirak.serving import docs, metrics
from dosirak.serving.api import ApiSpec
from dosirak.serving.batching import AdaptiveBatcher
from dosirak.serving.codecs.base import Codec
from dosirak.serving.decoding import DECODE_WAIT_S, INLINE_BODY_BYTES, LargeBodyDecoder
from dosirak.serving.service import ServiceDefinition
from dosirak.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)

_JSON_HEADERS = [(b"content-type", b"application/json")]
_INVOCATIONS = "/invocations"
_CUSTOM_ATTRIBUTES = b"x-amzn-sagemaker-custom-attributes"


_HEADER_CACHE: dict[str, list[tuple[bytes, bytes]]] = {}


def _content_type(media_type: str) -> list[tuple[bytes, bytes]]:
    headers = _HEADER_CACHE.get(media_type)
    if headers is None:
        headers = _HEADER_CACHE[media_type] = [(b"content-type", media_type.encode("latin-1"))]
    return list(headers)


class _ApiRuntime:
    """One api bound to the service instance: its codecs, its caller, its metrics."""

    def __init__(self, spec: ApiSpec, metrics_: metrics.ApiMetrics) -> None:
        self.spec = spec
        self.codec = spec.input_codec
        self.decode = spec.input_codec.decode if spec.input_codec is not None else None
        #: Bodies up to INLINE_BODY_BYTES decode inline, unless a small body may decode large (images).
        self.inline_bytes = -1 if getattr(spec.input_codec, "compressed", False) else INLINE_BODY_BYTES
        self.encode = spec.output_codec.encode
        self.metrics = metrics_
        self.call: Callable[[Any], Awaitable[Any]] = _not_ready
        self.batcher: AdaptiveBatcher | None = None


class _Deadline:
    """Cancels a request's task when its time is up (a lighter ``asyncio.timeout`` for the hot path)."""

    __slots__ = ("expired", "task")

    def __init__(self, task: asyncio.Task[Any] | None) -> None:
        self.task = task
        self.expired = False

    def __call__(self) -> None:
        if self.task is not None:
            self.expired = True
            self.task.cancel()


async def _not_ready(value: Any) -> Any:
    raise ServiceUnavailableError("the service is still loading; retry when /readyz answers 200")


class ServingApp:
    """ASGI app serving one :class:`ServiceDefinition` in this process.

    Args:
        definition: The service.
        all_workers_ready: Whether every worker of the server has loaded the service
            (answered by the supervisor); defaults to this worker's own readiness.
        load_in_background: Run the class's ``__init__`` after start-up instead of during
            it, so ``/livez`` answers (and ``/readyz`` says 503) while models load.
        on_fatal: Called when ``__init__`` raises, to stop the worker.
        on_ready: Called once ``__init__`` has returned and the apis are bound.
        decode_wait_s: Longest a large body waits for room in the decode budget (503 after),
            see :mod:`dosirak.serving.decoding`.
    """

    def __init__(
        self,
        definition: ServiceDefinition,
        *,
        all_workers_ready: Callable[[], bool] | None = None,
        load_in_background: bool = False,
        on_fatal: Callable[[BaseException], None] | None = None,
        on_ready: Callable[[], None] | None = None,
        decode_wait_s: float = DECODE_WAIT_S,
    ) -> None:
        self.definition = definition
        self.instance: Any = None
        self.ready = False
        self.load_error: BaseException | None = None
        self._all_workers_ready = all_workers_ready
        self._load_in_background = load_in_background
        self._on_fatal = on_fatal
        self._on_ready = on_ready
        self._timeout = definition.timeout_s
        self._max_body = definition.max_body_bytes
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dosirak-api")
        self._decoder = LargeBodyDecoder(max_decoded_bytes=definition.max_decoded_bytes,
                                         budget_bytes=definition.decode_budget_bytes, wait_s=decode_wait_s)
        self._ids = itertools.count(1)
        self._id_prefix = f"{os.getpid():x}"
        self._openapi = orjson.dumps(definition.openapi())
        self._apis: dict[str, _ApiRuntime] = {}
        for spec in definition.apis:
            self._apis[spec.route] = _ApiRuntime(spec, metrics.ApiMetrics(spec.name))
        self._by_name = {spec.name: self._apis[spec.route] for spec in definition.apis}
        default = definition.api(definition.default_api)
        self._apis[_INVOCATIONS] = self._apis[default.route]
        self._get: dict[str, ASGIApp] = {
            "/livez": self._livez,
            "/readyz": self._readyz,
            "/ping": self._readyz,
            "/metrics": self._metrics,
            "/openapi.json": self._openapi_json,
            "/docs": self._docs,
        }
        self._load_task: asyncio.Task[None] | None = None
        self._publisher: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ ASGI
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            runtime = self._apis.get(path)
            if runtime is not None:
                if path == _INVOCATIONS:
                    runtime = self._invocation_target(scope, runtime)
                    if runtime is None:
                        apis = ", ".join(self._by_name)
                        await self._error(send, NotFoundRouteError(
                            f"{_CUSTOM_ATTRIBUTES.decode()} names an api this service does not have; "
                            f"write api=NAME with one of: {apis}"), scope)
                        return
                await self._handle_api(runtime, scope, receive, send)
                return
            handler = self._get.get(path)
            if handler is None and path.startswith(docs.STATIC_PREFIX):
                handler = self._static
            if handler is None:
                await self._error(send, NotFoundRouteError(f"no route {path}; see /docs for the routes"), scope)
                return
            if scope["method"] not in ("GET", "HEAD"):
                await self._error(send, MethodNotAllowedError(f"{path} answers GET, not {scope['method']}"), scope,
                                  extra=[(b"allow", b"GET, HEAD")])
                return
            await handler(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    def _invocation_target(self, scope: Scope, default: _ApiRuntime) -> _ApiRuntime | None:
        """The api an ``api=NAME`` custom attribute names (None if unknown), else ``default``."""
        for key, value in scope["headers"]:
            if key == _CUSTOM_ATTRIBUTES:
                for attribute in value.decode("latin-1").split(","):
                    key_, sep, name = attribute.partition("=")
                    if sep and key_.strip() == "api":
                        return self._by_name.get(name.strip())
        return default

    # ------------------------------------------------------------- lifecycle
    async def startup(self) -> None:
        """Start loading the service (in the background, or waiting for it)."""
        loop = asyncio.get_running_loop()
        self._publisher = loop.create_task(self._publish_forever())
        task = loop.create_task(self._load())
        self._load_task = task
        if not self._load_in_background:
            await task
            if self.load_error is not None:
                raise self.load_error

    def _publish_metrics(self) -> None:
        for runtime in set(self._apis.values()):
            runtime.metrics.publish()

    async def _publish_forever(self, interval: float = 0.25) -> None:
        while True:
            await asyncio.sleep(interval)
            self._publish_metrics()

    async def shutdown(self) -> None:
        """Stop batchers and threads (in-flight requests have been drained by the server)."""
        if self._publisher is not None:
            self._publisher.cancel()
        for runtime in set(self._apis.values()):
            if runtime.batcher is not None:
                await runtime.batcher.close()
        self._publish_metrics()
        self._executor.shutdown(wait=False)
        self._decoder.shutdown()

    async def _load(self) -> None:
        started = time.perf_counter()
        try:
            self.instance = await asyncio.get_running_loop().run_in_executor(self._executor, self._construct)
            for runtime in set(self._apis.values()):
                self._bind(runtime)
        except BaseException as exc:
            self.load_error = exc
            if self._on_fatal is not None:  # it reports the failure (a worker: one line from the supervisor)
                logger.debug("service '%s' failed to load", self.definition.name, exc_info=True)
                self._on_fatal(exc)
            else:
                logger.exception("service '%s' failed to load", self.definition.name)
            return
        self.ready = True
        if self._on_ready is not None:
            self._on_ready()
        logger.info("service '%s' loaded in %.2f s (pid %d)", self.definition.name,
                    time.perf_counter() - started, os.getpid())

    def _construct(self) -> Any:
        """Prepare the codecs (what they would import on a first request) and run the class's ``__init__``."""
        for runtime in set(self._apis.values()):
            prepare = getattr(runtime.codec, "prepare", None)
            if prepare is not None:
                prepare()
        return self.definition.cls()

    def _bind(self, runtime: _ApiRuntime) -> None:
        spec = runtime.spec
        fn = spec.bind(self.instance)
        if spec.batchable:
            codec: Any = spec.input_codec
            out: Any = spec.output_codec
            batcher = AdaptiveBatcher(
                fn, size_of=codec.batch_size, concat=codec.concat, split=out.split,
                max_batch_size=spec.max_batch_size, max_latency_ms=spec.max_latency_ms,
                is_async=spec.is_async, observer=runtime.metrics.observe_batch, name=spec.name,
            )
            runtime.batcher = batcher
            runtime.call = batcher.submit
        elif spec.is_async:
            runtime.call = fn
        else:
            executor = self._executor

            async def call(value: Any) -> Any:
                return await asyncio.get_running_loop().run_in_executor(executor, fn, value)

            runtime.call = call

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except BaseException as exc:
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # ------------------------------------------------------------ the api path
    async def _handle_api(self, runtime: _ApiRuntime, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        m = runtime.metrics
        m.in_flight += 1
        status = 200
        phase = "reading the request body"
        held = 0
        try:
            if scope["method"] != "POST":
                raise MethodNotAllowedError(f"{scope['path']} answers POST, not {scope['method']}")
            content_type = accept = ""
            length = None
            headers = scope["headers"]
            for key, value in headers:
                if key == b"content-type":
                    content_type = value.decode("latin-1")
                elif key == b"content-length":
                    length = value
                elif key == b"accept":
                    accept = value.decode("latin-1")
            task = asyncio.current_task()
            deadline = _Deadline(task)
            timer = asyncio.get_running_loop().call_later(self._timeout, deadline)
            try:
                body = await self._read_body(receive, length)
                phase = "decoding the request body"
                decode = runtime.decode
                if decode is None:
                    value = None
                elif len(body) <= runtime.inline_bytes:
                    value = decode(body, content_type, headers)
                else:
                    codec = cast(Codec, runtime.codec)  # there is a decode, so there is its codec
                    value, held = await self._decoder.decode(codec, body, content_type, headers)
                phase = "running the api"
                result = await runtime.call(value)
            except asyncio.CancelledError:
                if not deadline.expired or task is None:
                    raise
                task.uncancel()
                raise TimeoutError from None
            finally:
                timer.cancel()
            phase = "encoding the result"
            payload, media_type = runtime.encode(result, accept)
            await send({"type": "http.response.start", "status": 200, "headers": _content_type(media_type)})
            await send({"type": "http.response.body", "body": payload})
        except Exception as exc:
            error = self._as_serving_error(exc, runtime.spec.name, phase, scope)
            status = error.status_code
            m.error(error.error_type)
            extra = [(b"connection", b"close")] if isinstance(error, PayloadTooLargeError | RequestTimeoutError) else None
            if isinstance(error, MethodNotAllowedError):
                extra = [(b"allow", b"POST")]
            await self._error(send, error, scope, extra=extra)
        finally:
            if held:
                self._decoder.release(held)
            m.latency.observe(time.perf_counter() - started)
            m.count(status)
            m.in_flight -= 1

    async def _read_body(self, receive: Receive, length: bytes | None) -> bytes:
        limit = self._max_body
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                raise BadRequestError("the Content-Length header is not a number") from None
            if declared > limit:
                raise PayloadTooLargeError(
                    f"the body has {declared} bytes; this service accepts at most {limit} (max_body_mb)"
                )
        message = await receive()
        body: bytes = message.get("body", b"")
        if not message.get("more_body"):
            return body
        chunks, size = [body], len(body)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise BadRequestError("the client disconnected before sending its whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(f"the body is larger than {limit} bytes (max_body_mb)")
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    def _as_serving_error(self, exc: Exception, api: str, phase: str, scope: Scope) -> ServingError:
        if isinstance(exc, ServingError):
            if exc.status_code >= 500:
                logger.error("api '%s' failed (request %s): %s", api, self._request_id(scope), exc)
            return exc
        if isinstance(exc, TimeoutError):
            who = ("the client sent its body too slowly" if phase.startswith("reading")
                   else "the body took too long to decode" if phase.startswith("decoding") else "the api took too long")
            return RequestTimeoutError(f"timed out after {self._timeout:g} s while {phase}: {who}")
        request_id = self._request_id(scope)
        what = (f"could not encode the result of api '{api}'" if phase.startswith("encoding")
                else f"could not decode the request body of api '{api}'" if phase.startswith("decoding")
                else f"the api '{api}' raised")
        logger.error("%s (request %s)", what, request_id, exc_info=exc)
        error = InternalServerError(
            f"{what}: {type(exc).__name__}; the server log has the traceback under this request id"
        )
        error.request_id = request_id  # type: ignore[attr-defined]
        return error

    def _request_id(self, scope: Scope) -> str:
        cached = scope.get("dosirak.request_id")
        if cached is None:
            for key, value in scope.get("headers", ()):
                if key == b"x-request-id":
                    cached = value.decode("latin-1")[:128]
                    break
            else:
                cached = f"{self._id_prefix}-{next(self._ids):x}"
            scope["dosirak.request_id"] = cached
        return str(cached)

    async def _error(self, send: Send, error: ServingError, scope: Scope,
                     extra: list[tuple[bytes, bytes]] | None = None) -> None:
        request_id = getattr(error, "request_id", None) or self._request_id(scope)
        body = orjson.dumps({"error": {"type": error.error_type, "message": str(error), "request_id": request_id}})
        headers = [*_JSON_HEADERS, (b"x-request-id", request_id.encode("latin-1"))]
        if extra:
            headers.extend(extra)
        retry_after = getattr(error, "retry_after_s", None)
        if retry_after is not None:
            headers.append((b"retry-after", str(retry_after).encode()))
        await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    # ---------------------------------------------------------- infrastructure
    async def _respond(self, send: Send, status: int, body: bytes, content_type: bytes,
                       extra: list[tuple[bytes, bytes]] | None = None) -> None:
        headers = [(b"content-type", content_type), *(extra or [])]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _livez(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._respond(send, 200, b'{"status":"alive"}', b"application/json")

    def is_ready(self) -> bool:
        """This worker has loaded the service, and so has every other worker of the server."""
        return self.ready and (self._all_workers_ready is None or self._all_workers_ready())

    async def _readyz(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.is_ready():
            await self._respond(send, 200, b'{"status":"ready"}', b"application/json")
        elif self.load_error is not None:
            await self._error(send, ServiceUnavailableError("the service failed to load; see the server log"), scope)
        else:
            await self._error(send, ServiceUnavailableError("the service is still loading; retry shortly"), scope)

    async def _metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._publish_metrics()
        await self._respond(send, 200, metrics.render(), metrics.CONTENT_TYPE.encode())

    async def _openapi_json(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._respond(send, 200, self._openapi, b"application/json")

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        page = docs.page(self.definition.name).encode()
        await self._respond(send, 200, page, b"text/html; charset=utf-8")

    async def _static(self, scope: Scope, receive: Receive, send: Send) -> None:
        asset = docs.asset(scope["path"][len(docs.STATIC_PREFIX):])
        if asset is None:
            await self._error(send, NotFoundRouteError(f"no asset {scope['path']}"), scope)
            return
        data, media_type = asset
        await self._respond(send, 200, data, media_type.encode(), [(b"cache-control", b"public, max-age=86400")])


def create_app(definition: ServiceDefinition, **options: Any) -> ServingApp:
    """The ASGI app for a service; see :class:`ServingApp` for the options."""
    return ServingApp(definition, **options)


__all__ = ["ServingApp", "create_app"]
