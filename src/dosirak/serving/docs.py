"""``GET /docs``: Swagger UI 5, served from the files the ``swagger-ui-py`` package installs.

Nothing is fetched from the internet: the page references only ``/docs/static/...``, and
the validator badge (which would call validator.swagger.io) is switched off.
"""

from __future__ import annotations

import html
import importlib.util
from functools import lru_cache
from pathlib import Path

STATIC_PREFIX = "/docs/static/"

_ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "application/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} - dosirak</title>
  <link rel="stylesheet" href="{prefix}swagger-ui.css">
  <link rel="icon" type="image/png" href="{prefix}favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{prefix}swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      validatorUrl: null,
      presets: [SwaggerUIBundle.presets.apis],
      layout: "BaseLayout"
    }});
  </script>
</body>
</html>
"""


@lru_cache(maxsize=1)
def static_dir() -> Path | None:
    """Where swagger-ui-py keeps Swagger UI's files, or None if it is not installed."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or spec.origin is None:
        return None
    directory = Path(spec.origin).parent / "static"
    return directory if (directory / "swagger-ui-bundle.js").is_file() else None


def page(title: str) -> str:
    """The HTML of the docs page for a service called ``title``."""
    return _PAGE.format(title=html.escape(title), prefix=STATIC_PREFIX)


@lru_cache(maxsize=len(_ASSETS))
def asset(name: str) -> tuple[bytes, str] | None:
    """``(bytes, media type)`` of one Swagger UI file, or None for any other name."""
    media_type = _ASSETS.get(name)
    directory = static_dir()
    if media_type is None or directory is None:
        return None
    return (directory / name).read_bytes(), media_type


__all__ = ["STATIC_PREFIX", "asset", "page", "static_dir"]
