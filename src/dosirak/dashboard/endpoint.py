"""An endpoint of the dashboard's JSON API: its path, handler, summary, parameters and response.

The vocabulary :mod:`dosirak.dashboard.api` and :mod:`dosirak.dashboard.registry_api`
list their routes in, and :mod:`dosirak.dashboard.openapi` describes them from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

PREFIX = "/api/v1"


def json_response(data: Any, status: int = 200) -> Response:
    body = orjson.dumps(data, default=str, option=orjson.OPT_NON_STR_KEYS)
    return Response(body, status_code=status, media_type="application/json",
                    headers={"x-content-type-options": "nosniff", "cache-control": "no-store"})


@dataclass(frozen=True)
class Param:
    name: str
    description: str
    kind: str = "string"  # "string" | "integer"


PAGING = (Param("limit", "items per page (1-500, default 50)", "integer"),
          Param("offset", "items to skip (default 0)", "integer"))


@dataclass(frozen=True)
class Endpoint:
    path: str  # relative to PREFIX
    handler: Callable[[Request], Any]  # sync, or async for actions
    summary: str
    tag: str
    schema: str  # name of the response schema in openapi.SCHEMAS
    params: tuple[Param, ...] = ()
    methods: tuple[str, ...] = ("GET",)
    paginated: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


__all__ = ["PAGING", "PREFIX", "Endpoint", "Param", "json_response"]
