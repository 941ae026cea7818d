"""``@dk.api``: mark a service method as an HTTP endpoint, typed by its hints.

The decorator only records options on the function; :class:`ApiSpec` is built when the
class is decorated with ``@dk.service``, from the method's type hints: one codec for the
input and one for the output (see :mod:`dosirak.serving.codecs.base`).

Inputs, by the method's parameters (besides ``self``):

* one parameter: the body is that value (an array, an image, bytes, or JSON of its type);
* several parameters: the body is a JSON object with one field per parameter;
* none: the body is ignored.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from dosirak import plugins, typehints
from dosirak.errors import ServiceError
from dosirak.serving.codecs.base import Codec
from dosirak.serving.codecs.file import BytesCodec
from dosirak.serving.codecs.image import ImageCodec

F = TypeVar("F", bound=Callable[..., Any])

API_ATTR = "__dosirak_api__"


@dataclass(frozen=True)
class ApiOptions:
    """What ``@dk.api(...)`` was given; read by ``@dk.service`` to build an :class:`ApiSpec`."""

    batchable: bool = False
    max_batch_size: int = 64
    max_latency_ms: float = 10.0
    route: str | None = None
    name: str | None = None


@overload
def api(fn: F, /) -> F: ...


@overload
def api(
    *,
    batchable: bool = False,
    max_batch_size: int = 64,
    max_latency_ms: float = 10.0,
    route: str | None = None,
    name: str | None = None,
) -> Callable[[F], F]: ...


def api(
    fn: Any = None,
    /,
    *,
    batchable: bool = False,
    max_batch_size: int = 64,
    max_latency_ms: float = 10.0,
    route: str | None = None,
    name: str | None = None,
) -> Any:
    """Expose a method of a ``@dk.service`` class as ``POST /<name>``.

    Args:
        batchable: Concurrent requests are joined along the first axis of the input, the
            method runs once on the batch, and each caller gets back exactly its rows. The
            method must take and return one batch (an ndarray or a list).
        max_batch_size: Most rows in one batch (rows, not requests: for requests of many
            rows, raise it so that concurrent requests still share one call).
        max_latency_ms: Longest a request waits for others to join its batch; the wait
            shrinks when the model is idle or batches are cheap.
        route: URL path (default ``/<name>``).
        name: Api name (default: the method name); also the client method's name.

    Example::

        @dk.service(name="mnist")
        class Mnist:
            @dk.api(batchable=True, max_batch_size=128, max_latency_ms=5)
            def predict(self, x: Annotated[np.ndarray, dk.Tensor("float32", (-1, 784))]) -> np.ndarray:
                return self.net(x)
    """
    if max_batch_size < 1:
        raise ServiceError(f"max_batch_size must be at least 1, got {max_batch_size}")
    if max_latency_ms < 0:
        raise ServiceError(f"max_latency_ms must be >= 0, got {max_latency_ms}")
    if route is not None and not route.startswith("/"):
        raise ServiceError(f"api route '{route}' must start with '/'")
    options = ApiOptions(batchable, int(max_batch_size), float(max_latency_ms), route, name)

    def mark(func: F) -> F:
        if not callable(func):
            raise ServiceError("@dk.api decorates a method")
        setattr(func, API_ATTR, options)
        return func

    return mark(fn) if fn is not None else mark


@dataclass(frozen=True)
class ApiSpec:
    """One endpoint of a service, as the app, the OpenAPI document and bundles see it.

    Attributes:
        name: Api name (``predict``); the client method has this name.
        route: URL path (``/predict``).
        method_name: Name of the method on the service class.
        batchable, max_batch_size, max_latency_ms: Batching options (see :func:`api`).
        is_async: The method is a coroutine function (it then runs on the event loop).
        input_codec, output_codec: How the body and result cross HTTP.
        input_mode: ``"value"`` (one parameter), ``"fields"`` (several) or ``"none"``.
        params: Parameter names, in order.
        doc: The method's docstring (the operation's description).
    """

    name: str
    route: str
    method_name: str
    batchable: bool
    max_batch_size: int
    max_latency_ms: float
    is_async: bool
    input_codec: Codec | None
    output_codec: Codec
    input_mode: str
    params: tuple[str, ...]
    doc: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def input_schema(self) -> dict[str, Any]:
        """OpenAPI ``content`` map of the request body (empty when the api takes nothing)."""
        return self.input_codec.request_content() if self.input_codec is not None else {}

    @property
    def output_schema(self) -> dict[str, Any]:
        """OpenAPI ``content`` map of a successful response."""
        return self.output_codec.response_content()

    def bind(self, instance: Any) -> Callable[[Any], Any]:
        """The callable taking the decoded input, for one service instance."""
        method = getattr(instance, self.method_name)
        if self.input_mode == "value":
            return method  # type: ignore[no-any-return]
        if self.input_mode == "none":
            return lambda _value: method()
        names = self.params
        return lambda value: method(**{n: getattr(value, n) for n in names})


def build_api_spec(func: Callable[..., Any], options: ApiOptions, owner: type) -> ApiSpec:
    """Build the :class:`ApiSpec` of a method from its options and type hints."""
    where = f"{owner.__qualname__}.{func.__name__}"
    try:
        hints = typehints.resolve(func)
    except Exception as exc:  # NameError for an unresolvable forward reference, among others
        raise ServiceError(f"api '{where}': cannot resolve its type hints ({exc}); import the types it names") from exc
    params = [p for p in inspect.signature(func).parameters.values()][1:]  # drop self
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise ServiceError(f"api '{where}': *args/**kwargs cannot come from a request; name each input")
    name = options.name or func.__name__
    is_async = inspect.iscoroutinefunction(func)
    input_codec: Codec | None
    if not params:
        mode, input_codec = "none", None
    elif len(params) == 1:
        mode = "value"
        input_codec = codec_for(hints.get(params[0].name, Any), params[0].name, where)
    else:
        mode = "fields"
        input_codec = _fields_codec(name, params, hints, where)
    output_codec = codec_for(hints.get("return", Any), "result", where)
    if options.batchable:
        for label, codec in (("input", input_codec), ("output", output_codec)):
            if codec is None or not getattr(codec, "batchable", hasattr(codec, "concat")):
                raise ServiceError(
                    f"api '{where}': a batchable api needs one array or list {label}; "
                    "type it np.ndarray (with dk.Tensor) or list[...], or drop batchable=True"
                )
    return ApiSpec(
        name=name,
        route=options.route or f"/{name}",
        method_name=func.__name__,
        batchable=options.batchable,
        max_batch_size=options.max_batch_size,
        max_latency_ms=options.max_latency_ms,
        is_async=is_async,
        input_codec=input_codec,
        output_codec=output_codec,
        input_mode=mode,
        params=tuple(p.name for p in params),
        doc=inspect.cleandoc(func.__doc__ or ""),
    )


def _fields_codec(name: str, params: list[inspect.Parameter], hints: dict[str, Any], where: str) -> Codec:
    from pydantic import create_model

    from dosirak.serving.codecs.json import JsonCodec

    fields: dict[str, Any] = {}
    for p in params:
        annotation = hints.get(p.name, Any)
        if not isinstance(codec_for(annotation, p.name, where), JsonCodec):
            raise ServiceError(
                f"api '{where}': parameter '{p.name}' is not JSON, so it must be the api's only parameter"
            )
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[p.name] = (annotation, default)
    model_name = "".join(part.capitalize() for part in name.split("_")) + "Input"
    return JsonCodec(create_model(model_name, **fields))


def codec_for(annotation: Any, field_name: str, where: str = "") -> Codec:
    """The codec for one type hint: ndarray, PIL image, bytes, a plugin's type, or JSON."""
    annotation, metadata = typehints.unwrap(annotation)
    qualname = _qualified_name(annotation)
    if qualname == "numpy.ndarray":
        from dosirak.serving.codecs.numpy import NdarrayCodec, Tensor

        tensor = next((m for m in metadata if isinstance(m, Tensor)), None)
        return NdarrayCodec(tensor)
    if qualname in ("PIL.Image.Image", "PIL.ImageFile.ImageFile"):
        return ImageCodec(field=field_name)
    if annotation is bytes:
        return BytesCodec(field=field_name)
    if qualname and not qualname.startswith(("builtins.", "typing.")) and _has_plugin(qualname):
        return plugins.load("codecs", qualname)(annotation, metadata)  # type: ignore[no-any-return]
    from dosirak.serving.codecs.json import JsonCodec

    try:
        return JsonCodec(annotation)
    except Exception as exc:  # pydantic's PydanticSchemaGenerationError and friends
        raise ServiceError(
            f"api '{where}': no codec for type {annotation!r}; use an ndarray, PIL image, bytes, a JSON type "
            "or a pydantic model, or register a codec in the 'dosirak.codecs' entry-point group"
        ) from exc


def _qualified_name(annotation: Any) -> str:
    if not isinstance(annotation, type):
        return ""
    return f"{annotation.__module__}.{annotation.__qualname__}"


def _has_plugin(qualname: str) -> bool:
    return plugins.has("codecs", qualname)


__all__ = ["API_ATTR", "ApiOptions", "ApiSpec", "api", "build_api_spec", "codec_for"]
