"""``@dk.service``: a class whose ``@dk.api`` methods are served over HTTP.

The class's ``__init__`` runs once per worker process, before the worker reports ready, so
it is the place to load models. :func:`load_service` imports a service from
``path/to/file.py:ClassName`` (or ``package.module:ClassName``); bundles and ``dosirak
serve`` both go through it.

Stable for other dosirak packages (bundles): :func:`load_service`, and on
:class:`ServiceDefinition` the attributes ``name``, ``cls``, ``apis`` (a tuple of
:class:`~dosirak.serving.api.ApiSpec` with ``name``, ``route``, ``input_schema``,
``output_schema``, ``batchable``, ...), ``default_api`` and the method ``openapi()``.
Class attributes (``model = dk.model_ref(...)``) are plain attributes of ``cls``: scan
``vars(definition.cls)`` to find them.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar, overload

from dosirak.errors import ServiceError
from dosirak.serving.api import API_ATTR, ApiSpec, build_api_spec
from dosirak.serving.openapi import build_openapi

T = TypeVar("T", bound=type)

SERVICE_ATTR = "__dosirak_service__"


@dataclass(frozen=True)
class ServiceDefinition:
    """A service class and its apis, ready to be served or described.

    Attributes:
        name: Service name (OpenAPI title, metrics label, bundle name by default).
        cls: The user's class; instantiate it once per worker.
        apis: The endpoints, in definition order.
        workers: Default number of worker processes.
        timeout_s: Longest an api call may take, and longest a client may take to send
            its body; past it the request is answered 408.
        max_body_mb: Largest request body accepted; larger ones are answered 413 before
            they are read.
        default_api: Name of the api answering ``POST /invocations`` (SageMaker).
        max_decoded_mb: Largest decoded input of one request (an image's pixels, an
            array), read before decoding; larger ones are answered 413.
        decode_budget_mb: Decoded inputs of large bodies one worker holds at once; past
            it a large body waits briefly, then is answered 503 with ``Retry-After`` (see
            :mod:`dosirak.serving.decoding`).
    """

    name: str
    cls: type
    apis: tuple[ApiSpec, ...]
    workers: int = 1
    timeout_s: float = 60.0
    max_body_mb: float = 20.0
    default_api: str = ""
    description: str = ""
    max_decoded_mb: float = 256.0
    decode_budget_mb: float = 512.0
    _openapi: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def max_decoded_bytes(self) -> int:
        return int(self.max_decoded_mb * 1024 * 1024)

    @property
    def decode_budget_bytes(self) -> int:
        return int(self.decode_budget_mb * 1024 * 1024)

    def api(self, name: str) -> ApiSpec:
        """The api called ``name``; ServiceError listing the known ones otherwise."""
        for spec in self.apis:
            if spec.name == name:
                return spec
        raise ServiceError(f"service '{self.name}' has no api '{name}'; it has: {', '.join(a.name for a in self.apis)}")

    def openapi(self) -> dict[str, Any]:
        """The service's OpenAPI 3.1 document (built once, then cached)."""
        if not self._openapi:
            self._openapi.update(build_openapi(self))
        return self._openapi


@overload
def service(cls: T, /) -> T: ...


@overload
def service(
    cls: None = None,
    /,
    *,
    name: str | None = None,
    workers: int = 1,
    timeout_s: float = 60.0,
    max_body_mb: float = 20.0,
    default_api: str | None = None,
    max_decoded_mb: float = 256.0,
    decode_budget_mb: float = 512.0,
) -> Callable[[T], T]: ...


def service(
    cls: Any = None,
    /,
    *,
    name: str | None = None,
    workers: int = 1,
    timeout_s: float = 60.0,
    max_body_mb: float = 20.0,
    default_api: str | None = None,
    max_decoded_mb: float = 256.0,
    decode_budget_mb: float = 512.0,
) -> Any:
    """Make a class servable: its ``@dk.api`` methods become ``POST`` routes.

    Args:
        name: Service name (default: the class name in snake case).
        workers: Default number of worker processes for ``dosirak serve``.
        timeout_s: Longest an api call, or a client sending its body, may take (408 after).
        max_body_mb: Largest request body accepted (413 above it, before reading it).
        default_api: The api behind ``POST /invocations`` (default: the first one).
        max_decoded_mb: Largest decoded input of one request, e.g. an image's pixels (413
            above it, before decoding).
        decode_budget_mb: Decoded inputs of large bodies (over 256 KiB, or images over
            4 MB decoded) one worker holds at once; past it a request waits up to 2 s, then
            gets 503 with ``Retry-After``. At least ``max_decoded_mb``.

    Example::

        import dosirak as dk

        @dk.service(name="echo", workers=2)
        class Echo:
            def __init__(self) -> None:
                self.prefix = "echo: "          # load models here, once per worker

            @dk.api
            def say(self, text: str) -> str:
                return self.prefix + text
    """

    def wrap(klass: T) -> T:
        definition = _define(klass, name, workers, timeout_s, max_body_mb, default_api)
        if not 0 < max_decoded_mb <= decode_budget_mb:
            raise ServiceError(f"service '{klass.__name__}': 0 < max_decoded_mb <= decode_budget_mb is required, "
                               f"got {max_decoded_mb} and {decode_budget_mb}")
        definition = replace(definition, max_decoded_mb=float(max_decoded_mb), decode_budget_mb=float(decode_budget_mb))
        setattr(klass, SERVICE_ATTR, definition)
        return klass

    return wrap(cls) if cls is not None else wrap


def _define(
    klass: type, name: str | None, workers: int, timeout_s: float, max_body_mb: float, default_api: str | None
) -> ServiceDefinition:
    if not isinstance(klass, type):
        raise ServiceError("@dk.service decorates a class")
    if workers < 1 or timeout_s <= 0 or max_body_mb <= 0:
        raise ServiceError(f"service '{klass.__name__}': workers >= 1, timeout_s > 0 and max_body_mb > 0 are required")
    apis: list[ApiSpec] = []
    for _attr, value in _members_in_order(klass):
        options = getattr(value, API_ATTR, None)
        if options is not None:
            apis.append(build_api_spec(value, options, klass))
    if not apis:
        raise ServiceError(f"service '{klass.__name__}' has no @dk.api method; decorate at least one method")
    seen: dict[str, str] = {}
    for spec in apis:
        for key in (f"name {spec.name}", f"route {spec.route}"):
            if key in seen:
                raise ServiceError(f"service '{klass.__name__}': two apis share the {key}; rename one")
            seen[key] = spec.method_name
    if spec_reserved := [a.route for a in apis if a.route in RESERVED_ROUTES]:
        raise ServiceError(f"service '{klass.__name__}': route {spec_reserved[0]} is reserved; pick another route")
    default = default_api or apis[0].name
    if default not in {a.name for a in apis}:
        raise ServiceError(f"service '{klass.__name__}': default_api '{default}' is not one of its apis")
    return ServiceDefinition(
        name=name or _snake(klass.__name__),
        cls=klass,
        apis=tuple(apis),
        workers=int(workers),
        timeout_s=float(timeout_s),
        max_body_mb=float(max_body_mb),
        default_api=default,
        description=(klass.__doc__ or "").strip(),
    )


RESERVED_ROUTES = frozenset(
    {"/livez", "/readyz", "/metrics", "/ping", "/invocations", "/openapi.json", "/docs", "/"}
)


def _members_in_order(klass: type) -> list[tuple[str, Any]]:
    seen: dict[str, Any] = {}
    for base in reversed(klass.__mro__[:-1]):
        seen.update(vars(base))
    return [(k, v) for k, v in seen.items() if callable(v)]


def _snake(name: str) -> str:
    out = [name[0].lower()]
    for ch in name[1:]:
        out.append(f"_{ch.lower()}" if ch.isupper() else ch)
    return "".join(out)


def definition_of(cls: Any) -> ServiceDefinition:
    """The :class:`ServiceDefinition` of a ``@dk.service`` class."""
    definition = getattr(cls, SERVICE_ATTR, None)
    if not isinstance(definition, ServiceDefinition) or definition.cls is not cls:
        raise ServiceError(f"{getattr(cls, '__qualname__', cls)!r} is not a @dk.service class; decorate it")
    return definition


def load_service(spec: str, *, base_dir: Path | None = None) -> ServiceDefinition:
    """Import a service from ``"path/to/file.py:ClassName"`` or ``"package.module:ClassName"``.

    A file path is resolved against ``base_dir`` (default: the current directory). The
    file's directory is put on ``sys.path`` so it can import its sibling modules. The file
    is imported once per process under a name derived from its path.

    Args:
        spec: Where the class is, ``FILE.py:Class`` or ``module:Class``.
        base_dir: Directory relative file paths start from (a bundle's source directory).

    Returns:
        The class's :class:`ServiceDefinition`.

    Raises:
        ServiceError: The file, module or class does not exist or is not a service.
    """
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise ServiceError(f"service '{spec}' should look like path/to/file.py:ClassName")
    module = _import_target(target, base_dir)
    cls = getattr(module, attr, None)
    if cls is None:
        raise ServiceError(f"'{target}' has no attribute '{attr}'; check the class name in '{spec}'")
    return definition_of(cls)


def _import_target(target: str, base_dir: Path | None) -> Any:
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    path = Path(target) if Path(target).is_absolute() else base / target
    if target.endswith(".py") or path.is_file():
        if not path.is_file():
            raise ServiceError(f"service file {path} does not exist")
        return _import_file(path.resolve())
    try:
        return importlib.import_module(target)
    except ImportError as exc:
        raise ServiceError(f"cannot import module '{target}': {exc}") from exc


def _import_file(path: Path) -> Any:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    module_name = f"_dosirak_service_{path.stem}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    directory = str(path.parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ServiceError(f"cannot import {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except ServiceError:
        sys.modules.pop(module_name, None)
        raise
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise ServiceError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    return module


__all__ = ["RESERVED_ROUTES", "SERVICE_ATTR", "ServiceDefinition", "definition_of", "load_service", "service"]
