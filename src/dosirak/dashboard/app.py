"""The dashboard as one ASGI app: server-rendered pages, the JSON API, static files.

Example::

    app = create_app()                       # the settings' store, loopback rules
    app = create_app(token="s3cret")         # every request must carry the token

Unknown ids answer 404 (a page or a JSON body, by path), bad query values 400, and an
unexpected error a 500 without a traceback (the traceback goes to the log).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from dosirak.dashboard import api, metrics_api, pages, registry_pages
from dosirak.dashboard.auth import Guard
from dosirak.dashboard.context import Dashboard
from dosirak.errors import DosirakError

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"


def create_app(
    *,
    store_url: str | None = None,
    token: str | None = None,
    loopback_only: bool = True,
) -> Starlette:
    """Build the dashboard app over the store at ``store_url`` (default: the settings' one).

    ``token``: required on every request when set. ``loopback_only``: the app is bound to
    the loopback, so requests must be addressed to it (ignored when a token is set).
    """
    routes = [
        *metrics_api.routes(),
        *api.routes(),
        Mount("/static", app=_StaticFiles(directory=STATIC_DIR), name="static"),
        *pages.routes(),
        *registry_pages.routes(),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={DosirakError: _on_dosirak_error, HTTPException: _on_http_error, Exception: _on_crash},
    )
    app.state.dashboard = Dashboard(store_url=store_url, behind_token=token is not None)
    app.add_middleware(Guard, token=token, loopback_only=loopback_only)
    return app


class _StaticFiles(StaticFiles):
    """The dashboard's files; vendored libraries (their version is in the URL) are cached for a year."""

    def file_response(self, full_path: Any, stat_result: Any, scope: Any, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if "/vendor/" in str(scope.get("path", "")):
            response.headers["cache-control"] = "public, max-age=31536000, immutable"
        return response


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error(request: Request, status: int, error: str, message: str) -> Response:
    if _is_api(request):
        return api.json_response({"error": error, "message": message}, status=status)
    return pages.error_page(request, status, message)


async def _on_dosirak_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    if status >= 500:
        log.error("dashboard request %s failed", request.url.path, exc_info=exc)
    return _error(request, status, getattr(exc, "error_type", "error"), str(exc))


async def _on_http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    if status == 404:
        message = (f"no API endpoint {request.url.path}; see /api/v1/openapi.json" if _is_api(request)
                   else "no such page")
    else:
        message = str(getattr(exc, "detail", "")) or "request failed"
    return _error(request, status, "not_found" if status == 404 else "http_error", message)


async def _on_crash(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after this answer, so the server logs the traceback once
    return _error(request, 500, "internal_error", "the dashboard hit an unexpected error; its log has the details")


def asgi_app(**kwargs: Any) -> Starlette:
    """Factory for ``uvicorn --factory dosirak.dashboard.app:asgi_app``."""
    return create_app(**kwargs)


__all__ = ["create_app"]
