"""Who may talk to the dashboard: the token check, the Host check and the write guard.

- With a token (always when bound beyond loopback), every request must carry it: as
  ``Authorization: Bearer <token>``, as the ``dosirak_token`` cookie, or once as
  ``?token=<token>`` on a page, which sets the cookie and redirects to the clean URL.
- Without a token (loopback only), the ``Host`` header must name the loopback, so a web
  page cannot reach the dashboard through DNS rebinding.
- Requests that change something (POST) must be JSON and, when the browser says where
  they come from, come from the dashboard itself: a form on another site cannot post, nor
  can a page whose origin the browser hides (``Origin: null``).
"""

from __future__ import annotations

import hashlib
import hmac
from html import escape
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, quote, urlencode

from dosirak.network import is_loopback
from dosirak.types import ASGIApp, Receive, Scope, Send

COOKIE = "dosirak_token"


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


__all__ = ["COOKIE", "Guard", "cookie_value", "is_loopback"]
