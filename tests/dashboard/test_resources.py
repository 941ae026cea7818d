"""What the dashboard shows of the store: no page and no API answer shows a stored credential."""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import Route

from dosirak.dashboard.app import create_app
from dosirak.settings import get_settings
from tests.dashboard.client import AppClient
from tests.stack.planting import MARKER, NUMBER, plant_clear_text_credentials


def _every_get_url(app: Any, seeded: dict[str, Any], registry: dict[str, Any]) -> list[str]:
    """Every GET route of the app, its path parameters filled with things that exist."""
    values = {"run_id": seeded["ok"], "step_id": seeded["ok_steps"]["train"], "artifact_id": seeded["artifact"],
              "stack_name": "legacy", "version": "production", "bundle_id": registry["bundle"].id,
              "deployment_id": registry["deployment"].id, "step": "train", "metric": "loss"}
    # routes that need a query to answer: runs to compare, a metric to chart
    queries = {"/compare": f"?runs={seeded['ok']},{seeded['bad']}", "/api/compare": f"?runs={seeded['ok']},{seeded['bad']}",
               "/api/pipelines/{name}/metric-trend": "?metric=train.loss"}
    urls = []
    for route in app.routes:
        if not isinstance(route, Route) or "GET" not in (route.methods or ()):
            continue
        names = {"name": "clf" if route.path.startswith(("/models", "/api/v1/models")) else
                 "loss" if route.path.startswith("/api/runs/") else "training"}
        urls.append(re.sub(r"\{(\w+)(?::\w+)?\}", lambda m, names=names: {**values, **names}[m.group(1)],
                           route.path) + queries.get(route.path, ""))
    return urls


def test_no_page_or_api_answer_shows_a_credential_stored_in_clear_text(
        store: Any, seeded: dict[str, Any], registry: dict[str, Any]) -> None:
    plant_clear_text_credentials(store, get_settings().metadata_url)
    store.metrics.append(seeded["ok_steps"]["train"], [("loss", 0, 0.5, 0.0)])
    app = create_app()
    client = AppClient(app)
    urls = _every_get_url(app, seeded, registry)
    assert {"/stacks", "/api/v1/stacks", "/api/v1/stacks/legacy", "/api/v1/components"} <= set(urls)
    urls += ["/api/v1/components?type=artifact-store", "/api/v1/components?type=model-deployer"]
    for url in urls:
        r = client.get(url)
        assert r.status_code < 400 or (r.status_code == 404 and url.endswith("/thumbnail.png")), (url, r.text)
        assert MARKER not in r.text and str(NUMBER) not in r.text, url
    shown = client.get("/api/v1/stacks/legacy").json()["components"]["artifact-store"]["config"]
    assert shown["storage_options"]["secret"] == "********"
    assert shown["storage_options"]["client_kwargs"]["region_name"] == "eu-west-1"
    assert "s3://alice:********@bucket/dosirak" in client.get("/stacks").text
