"""Who may call a served service: API keys for ``dosirak serve --api-key-env VAR``.

The keys live in the environment variable ``VAR`` (comma-separated, so several clients
can hold different keys and keys can be rotated), never on the command line, where
``ps`` shows them to every user of the machine. Clients send ``Authorization: Bearer KEY``.

:class:`ApiKeyGuard` wraps the serving app in each worker. When keys are set, it lets
through without a key only

* ``/livez``, ``/readyz`` and ``/ping``: health checks of orchestrators and load
  balancers, which cannot hold a key; they reveal nothing but "up" and "ready";
* ``/docs``, ``/docs/static/*`` and ``/openapi.json`` with ``public_docs``;
* ``/metrics`` with ``public_metrics``. By default it needs the key, because request
  counts and latencies per api describe the traffic; Prometheus sends one with
  ``authorization: {credentials_file: ...}`` in its scrape config.

Every other request, unknown routes included (so the routes are not probed), without a
valid key is answered ``401`` with the usual ``{"error": {...}}`` body and
``WWW-Authenticate: Bearer``, before its body is read. A key is checked against every
configured key, through SHA-256 digests compared with :func:`hmac.compare_digest`, with
no early exit: the time taken reveals neither which key matched nor how much of one did.
Only the digests are kept in memory, and nothing here logs a key.

The supervisor validates the variable before it binds the port (:func:`read_keys`) and
names it to its workers through :data:`KEY_ENV_VAR`; the workers read the keys from the
environment they inherit (:func:`policy_from_environment`).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import logging
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from dosirak.errors import ConfigError, UnauthorizedError
from dosirak.network import is_loopback
from dosirak.serving.docs import STATIC_PREFIX
from dosirak.settings import env_value
from dosirak.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from dosirak.serving.service import ServiceDefinition

logger = logging.getLogger(__name__)

#: Set by ``dosirak serve`` for its workers: the name of the variable holding the keys ("" for none).
KEY_ENV_VAR = "DOSIRAK_SERVE_API_KEY_ENV"
#: Set by ``dosirak serve`` for its workers: the route groups open without a key ("docs,metrics").
PUBLIC_ENV_VAR = "DOSIRAK_SERVE_PUBLIC_ROUTES"
#: Routes that never need a key: health checks.
OPEN_ROUTES = frozenset({"/livez", "/readyz", "/ping"})
DOCS_ROUTES = frozenset({"/docs", "/openapi.json"})
METRICS_ROUTE = "/metrics"
#: Shortest key accepted: 16 characters of a random token are ~96 bits.
MIN_KEY_LENGTH = 16
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_KEY = re.compile(r"[\x21-\x7e]+")  # visible ASCII: what a header carries unchanged
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:/+=-]{1,128}")
_GENERATE = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


def read_keys(env_name: str) -> tuple[str, ...]:
    """The API keys held by the environment variable ``env_name`` (comma-separated, spaces trimmed).

    Raises:
        ConfigError: ``env_name`` is not a variable name (perhaps a key was given instead: it
            is not echoed), the variable is unset or holds no key, or a key is shorter than
            :data:`MIN_KEY_LENGTH` or holds characters a header cannot carry.
    """
    if not _ENV_NAME.fullmatch(env_name):
        raise ConfigError("--api-key-env takes the name of an environment variable holding the keys "
                          "(letters, digits, '_'), not a key: export KEYS=..., then --api-key-env KEYS")
    raw = env_value(env_name)
    if raw is None:
        raise ConfigError(f"the environment variable {env_name} named by --api-key-env is not set; set it to one "
                          f"or more comma-separated keys, e.g. export {env_name}=$({_GENERATE})")
    keys = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if not keys:
        raise ConfigError(f"the environment variable {env_name} named by --api-key-env holds no key; set it to "
                          f"one or more comma-separated keys, e.g. export {env_name}=$({_GENERATE})")
    for number, key in enumerate(keys, 1):
        if not _KEY.fullmatch(key):
            raise ConfigError(f"key {number} in {env_name} holds spaces, control or non-ASCII characters, which an "
                              "Authorization header cannot carry; use letters, digits and punctuation")
        if len(key) < MIN_KEY_LENGTH:
            raise ConfigError(f"key {number} in {env_name} has {len(key)} characters; use at least "
                              f"{MIN_KEY_LENGTH}, e.g. $({_GENERATE})")
    return keys


def _digest(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()


@dataclass(frozen=True, repr=False)
class AccessPolicy:
    """What a server requires: the keys' digests (never the keys) and the routes open without one.

    Attributes:
        key_env: Name of the environment variable the keys were read from.
        digests: SHA-256 of each key.
        public_docs: ``/docs`` and ``/openapi.json`` answer without a key.
        public_metrics: ``/metrics`` answers without a key.
    """

    key_env: str
    digests: tuple[bytes, ...]
    public_docs: bool = False
    public_metrics: bool = False

    @classmethod
    def from_env(cls, env_name: str, *, public_docs: bool = False, public_metrics: bool = False) -> AccessPolicy:
        """The policy for the keys in ``env_name``; ConfigError as :func:`read_keys` says."""
        digests = tuple(_digest(key.encode("ascii")) for key in read_keys(env_name))
        return cls(env_name, digests, public_docs=public_docs, public_metrics=public_metrics)

    def __repr__(self) -> str:
        return (f"AccessPolicy(key_env={self.key_env!r}, keys={len(self.digests)}, "
                f"public_docs={self.public_docs}, public_metrics={self.public_metrics})")

    def accepts(self, key: bytes) -> bool:
        """Whether ``key`` is one of the keys; compares against every key, in constant time."""
        digest = _digest(key)
        accepted = False
        for expected in self.digests:
            accepted |= hmac.compare_digest(digest, expected)
        return accepted

    def is_open(self, path: str) -> bool:
        """Whether ``path`` answers without a key."""
        if path in OPEN_ROUTES:
            return True
        if self.public_docs and (path in DOCS_ROUTES or path.startswith(STATIC_PREFIX)):
            return True
        return self.public_metrics and path == METRICS_ROUTE


def worker_env(policy: AccessPolicy | None) -> dict[str, str]:
    """The variables telling the workers which policy to enforce (always set, so none is inherited)."""
    if policy is None:
        return {KEY_ENV_VAR: "", PUBLIC_ENV_VAR: ""}
    public = [name for name, on in (("docs", policy.public_docs), ("metrics", policy.public_metrics)) if on]
    return {KEY_ENV_VAR: policy.key_env, PUBLIC_ENV_VAR: ",".join(public)}


def policy_from_environment() -> AccessPolicy | None:
    """In a worker: the policy its supervisor set through :func:`worker_env`; None for no keys."""
    env_name = env_value(KEY_ENV_VAR) or ""
    if not env_name:
        return None
    public = set((env_value(PUBLIC_ENV_VAR) or "").split(","))
    return AccessPolicy.from_env(env_name, public_docs="docs" in public, public_metrics="metrics" in public)


def log_exposure(host: str, policy: AccessPolicy | None) -> None:
    """Say at start-up who may call the server: a WARNING when anyone beyond this machine may."""
    if policy is not None:
        logger.info("API key required (from $%s, %d key(s)) except on /livez, /readyz, /ping%s%s", policy.key_env,
                    len(policy.digests), ", /docs, /openapi.json" if policy.public_docs else "",
                    ", /metrics" if policy.public_metrics else "")
    elif not is_loopback(host):
        logger.warning("listening on %s without an API key: anyone who can reach this address can call the apis; "
                       "pass --api-key-env VAR, or serve behind a proxy that authenticates", host)


_NO_KEY, _NO_KEY_MESSAGE = "no key", "this service needs an API key: send 'Authorization: Bearer KEY'"
_WRONG_KEY, _WRONG_KEY_MESSAGE = "wrong key", ("the API key is not valid for this service: send 'Authorization: Bearer KEY' "
                                               "with one of the keys the server was started with")


def declare_in_openapi(definition: ServiceDefinition, policy: AccessPolicy) -> None:
    """Add the bearer scheme to the service's OpenAPI document (in place), so /docs can send a key.

    Call it before the app is built: :class:`~dosirak.serving.app.ServingApp` serializes
    ``definition.openapi()`` once.
    """
    document = definition.openapi()
    document.setdefault("components", {})["securitySchemes"] = {"apiKey": {"type": "http", "scheme": "bearer"}}
    document["security"] = [{"apiKey": []}]
    unauthorized = {"description": "Missing or wrong API key (send `Authorization: Bearer KEY`).",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}, "examples": {
                        name: {"summary": name, "value": {"error": {"type": UnauthorizedError.error_type,
                                                                    "message": message, "request_id": "5f3a-1c"}}}
                        for name, message in ((_NO_KEY, _NO_KEY_MESSAGE), (_WRONG_KEY, _WRONG_KEY_MESSAGE))}}}}
    for path, item in document.get("paths", {}).items():
        for operation in item.values():
            if policy.is_open(path):
                operation["security"] = []
            else:
                operation.setdefault("responses", {})["401"] = unauthorized


class ApiKeyGuard:
    """ASGI middleware: answers 401 to a request without a valid key (see the module docstring).

    Args:
        app: The ASGI app to protect.
        policy: The keys and the open routes.
    """

    def __init__(self, app: ASGIApp, policy: AccessPolicy) -> None:
        self.app = app
        self.policy = policy
        self._ids = itertools.count(1)
        self._prefix = f"{os.getpid():x}-a"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.policy.is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        credentials: bytes | None = None
        request_id: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"authorization" and credentials is None:
                credentials = value
            elif name == b"x-request-id" and _REQUEST_ID.fullmatch(value):
                request_id = value
        scheme, _, key = (credentials or b"").strip().partition(b" ")
        if scheme.lower() == b"bearer" and self.policy.accepts(key.strip()):
            await self.app(scope, receive, send)
            return
        if credentials is None:
            error = UnauthorizedError(_NO_KEY_MESSAGE)
            challenge = b'Bearer realm="dosirak"'
        else:
            error = UnauthorizedError(_WRONG_KEY_MESSAGE)
            challenge = b'Bearer realm="dosirak", error="invalid_token"'
        await self._deny(send, error, challenge, request_id or f"{self._prefix}{next(self._ids):x}".encode())

    async def _deny(self, send: Send, error: UnauthorizedError, challenge: bytes, request_id: bytes) -> None:
        body = orjson.dumps({"error": {"type": error.error_type, "message": str(error),
                                       "request_id": request_id.decode("ascii")}})
        await send({"type": "http.response.start", "status": error.status_code, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", challenge), (b"x-request-id", request_id), (b"cache-control", b"no-store"),
            # the body, if any, is never read: closing spares reading it, and holds no idle
            # connection open for a caller who has no key
            (b"connection", b"close"),
        ]})
        await send({"type": "http.response.body", "body": body})


def protect(app: Any, policy: AccessPolicy | None) -> Any:
    """``app`` behind an :class:`ApiKeyGuard`, or ``app`` itself when ``policy`` is None."""
    return app if policy is None else ApiKeyGuard(app, policy)


__all__ = [
    "DOCS_ROUTES",
    "KEY_ENV_VAR",
    "MIN_KEY_LENGTH",
    "OPEN_ROUTES",
    "PUBLIC_ENV_VAR",
    "AccessPolicy",
    "ApiKeyGuard",
    "declare_in_openapi",
    "is_loopback",
    "log_exposure",
    "policy_from_environment",
    "protect",
    "read_keys",
    "worker_env",
]
