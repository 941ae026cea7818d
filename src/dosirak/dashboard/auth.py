"""Who may talk to the dashboard: the token check, the Host check and the write guard.

- With a token (always when bound beyond loopback), every request must carry it: as
  ``Authorization: Bearer <token>``, as the ``dosirak_token`` cookie, or once as
  ``?token=<token>`` on a page, which sets the cookie and redirects to the clean URL.
- Without a token (loopback only), the ``Host`` header must name the loopback, so a web
  page cannot reach the dashboard through DNS rebinding.
- Requests that change something (POST) must be JSON and, when the browser says where
  they come from, come from the dashboard itself: a form on another site cannot post, nor
  can a page whose origin the browser hides (``Origin: null``).
- Actions that change the registry (an alias move) must also carry the per-session token of
  the page they come from (:class:`Sessions`): a random session id lives in an HttpOnly,
  ``SameSite=Strict`` cookie, and pages embed an HMAC of it that scripts send back as the
  ``X-Dosirak-Csrf`` header. Their ``Origin`` must be present and name the ``Host`` the
  request was sent to, and that ``Host`` must be the dashboard's own address (the loopback,
  or the socket it listens on; any host behind a token), which stops DNS rebinding too.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from html import escape
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, quote, urlencode

from dosirak.errors import DashboardForbiddenError
from dosirak.network import is_loopback
from dosirak.types import ASGIApp, Receive, Scope, Send

COOKIE = "dosirak_token"
SESSION_COOKIE = "dosirak_session"
CSRF_HEADER = "x-dosirak-csrf"
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{32,64}")


def _host_name(value: str) -> str:
    if value.startswith("["):
        return value[1: value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class Guard:
    """ASGI middleware enforcing the rules above before any route runs."""

    def __init__(self, app: ASGIApp, *, token: str | None, loopback_only: bool) -> None:
        self.app = app
        self.token = token
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if self.token is None and self.loopback_only and host and not is_loopback(_host_name(host)):
            await _deny(scope, send, 403, "forbidden", "this dashboard answers only requests addressed to the loopback")
            return
        if self.token is not None:
            outcome = _check_token(scope, headers, self.token)
            if outcome == "redirect":
                await _redirect_with_cookie(scope, send, self.token)
                return
            if outcome != "ok":
                await _deny(scope, send, 401, "unauthorized",
                            "this dashboard needs its token: send 'Authorization: Bearer TOKEN' "
                            "or open the URL that `dosirak up` printed")
                return
        if scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            problem = _write_problem(headers, host)
            if problem:
                await _deny(scope, send, 403, "forbidden", problem)
                return
        await self.app(scope, receive, send)


def _check_token(scope: Scope, headers: dict[str, str], token: str) -> str:
    """"ok", "redirect" (a page opened with ``?token=``: set the cookie) or "denied"."""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer ") and _same(auth[7:].strip(), token):
        return "ok"
    if "cookie" in headers:
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(headers["cookie"])
        except Exception:  # noqa: BLE001 - a malformed cookie header is just no cookie
            cookie = SimpleCookie()
        if COOKIE in cookie and _same(cookie[COOKIE].value, cookie_value(token)):
            return "ok"
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    if "token" in query and _same(query["token"], token):
        return "redirect" if scope["method"] == "GET" and not scope["path"].startswith("/api/") else "ok"
    return "denied"


def cookie_value(token: str) -> str:
    """The cookie holds a digest of the token, never the token itself."""
    return hashlib.sha256(b"dosirak-dashboard:" + token.encode("utf-8")).hexdigest()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


def _write_problem(headers: dict[str, str], host: str) -> str | None:
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return "actions must be sent as JSON (Content-Type: application/json)"
    origin = headers.get("origin")
    # a present Origin must be the dashboard's own; "null" (a sandboxed frame, a data: or file: page) never is
    if origin is not None and (origin == "null" or origin.split("://", 1)[-1] != host):
        return "actions must come from the dashboard's own pages"
    return None


async def _deny(scope: Scope, send: Send, status: int, error: str, message: str) -> None:
    import orjson

    if scope["path"].startswith("/api/"):
        body = orjson.dumps({"error": error, "message": message})
        ctype = b"application/json"
    else:
        body = (
            "<!doctype html><meta charset=utf-8><title>dosirak: access denied</title>"
            "<style>body{font:15px system-ui,sans-serif;margin:10vh auto;max-width:36rem;color:#1f2430}"
            "input{padding:.3rem}</style>"
            f"<main><h1>{status} {escape(error)}</h1><p>{escape(message)}</p>"
            "<form method=get action=''><label>Token <input name=token type=password autocomplete=off "
            "required></label> <button>Open</button></form></main>"
        ).encode()
        ctype = b"text/html; charset=utf-8"
    headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="dosirak"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _redirect_with_cookie(scope: Scope, send: Send, token: str) -> None:
    query = [(k, v) for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1")) if k != "token"]
    location = "/" + quote(scope["path"].lstrip("/")) + (f"?{urlencode(query)}" if query else "")
    cookie = f"{COOKIE}={cookie_value(token)}; Path=/; HttpOnly; SameSite=Strict"
    await send({"type": "http.response.start", "status": 303, "headers": [
        (b"location", location.encode("latin-1", "replace")), (b"set-cookie", cookie.encode("latin-1")),
        (b"content-length", b"0"), (b"cache-control", b"no-store"),
    ]})
    await send({"type": "http.response.body", "body": b""})


class Sessions:
    """Per-session tokens for the dashboard's actions, keyed by a secret of this process.

    A dashboard restart forgets the secret: open pages must be reloaded before they act again.
    """

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    @staticmethod
    def new_id() -> str:
        return secrets.token_urlsafe(32)

    @staticmethod
    def is_id(value: str | None) -> bool:
        """Whether ``value`` looks like a session id this class hands out (anything else is replaced)."""
        return value is not None and _SESSION_ID.fullmatch(value) is not None

    def token(self, session_id: str) -> str:
        """The token pages of ``session_id`` send back with their actions."""
        return hmac.new(self._secret, session_id.encode("ascii"), hashlib.sha256).hexdigest()

    def cookie(self, session_id: str) -> str:
        """The ``Set-Cookie`` value that keeps ``session_id`` in the browser."""
        return f"{SESSION_COOKIE}={session_id}; Path=/; HttpOnly; SameSite=Strict"

    def check_action(self, headers: dict[str, str], cookies: dict[str, str], server: tuple[str, int] | None, *,
                     behind_token: bool) -> None:
        """Refuse (403) an action that does not come from one of this dashboard's own pages.

        Args:
            headers: the request's headers, names in lower case.
            cookies: the request's cookies.
            server: the address of the socket the request arrived on.
            behind_token: the dashboard requires its access token (the Guard has checked it).

        Raises:
            DashboardForbiddenError: no or a foreign ``Origin``, a ``Host`` that is not the
                dashboard's, or a missing or wrong session token.
        """
        host = headers.get("host", "").lower()
        origin = headers.get("origin", "")
        scheme, _, origin_host = origin.partition("://")
        if not origin or origin == "null" or scheme not in ("http", "https") or origin_host.lower() != host:
            raise DashboardForbiddenError("actions must come from the dashboard's own pages (the Origin header must "
                                          "name the dashboard's address); open the dashboard and try there")
        own = is_loopback(_host_name(host)) or behind_token or (
            server is not None and host in (f"{server[0]}:{server[1]}", f"[{server[0]}]:{server[1]}"))
        if not own:
            raise DashboardForbiddenError(f"this dashboard does not answer actions addressed to '{host}'")
        session = cookies.get(SESSION_COOKIE)
        given = headers.get(CSRF_HEADER, "")
        if not self.is_id(session) or not given or not _same(given, self.token(str(session))):
            raise DashboardForbiddenError("this action needs the session token of a dashboard page: reload the page "
                                          "and try again")


__all__ = ["COOKIE", "CSRF_HEADER", "SESSION_COOKIE", "Guard", "Sessions", "cookie_value", "is_loopback"]
