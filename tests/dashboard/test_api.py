"""The JSON API: every endpoint answers, lists paginate, bad input is 4xx, the token is checked."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from dosirak.dashboard import api
from dosirak.dashboard.app import create_app
from dosirak.dashboard.auth import COOKIE
from tests.dashboard.client import AppClient
from tests.dashboard.conftest import XSS
from tests.dashboard.seeding import seed_run


def _fill(path: str, seeded: dict[str, Any]) -> str:
    values = {"name": "training", "stack_name": "default", "run_id": seeded["ok"], "step_id": seeded["ok_steps"]["train"],
              "artifact_id": seeded["artifact"]}
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


CORE_PATHS = [e.path for e in api.ENDPOINTS]


@pytest.mark.parametrize("path", CORE_PATHS)
def test_every_core_endpoint_answers_json(path: str, client: AppClient, seeded: dict[str, Any]) -> None:
    r = client.get(api.PREFIX + _fill(path, seeded))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert isinstance(r.json(), dict)


def test_stack_endpoints_show_the_default_stack(client: AppClient, store: Any) -> None:
    stacks = client.get("/api/v1/stacks").json()
    names = [s["name"] for s in stacks["items"]]
    assert "default" in names
    detail = client.get("/api/v1/stacks/default").json()
    assert set(detail["components"]) >= {"orchestrator", "artifact-store"}
    comps = client.get("/api/v1/components?type=orchestrator").json()
    assert all(c["type"] == "orchestrator" for c in comps["items"]) and comps["total"] >= 1
    assert client.get("/api/v1/components?type=nonsense").status_code == 400
    assert client.get("/api/v1/stacks/nope").status_code == 404


def test_runs_list_is_paginated_newest_first_with_step_counts(client: AppClient, store: Any, dosirak_home: Any) -> None:
    ids = [seed_run(store, dosirak_home, pipeline="p", steps=["a", "b"])[0] for _ in range(7)]
    first = client.get("/api/v1/runs?limit=3").json()
    assert first["total"] == 7 and first["limit"] == 3 and first["offset"] == 0 and first["next_offset"] == 3
    assert [r["id"] for r in first["items"]] == ids[::-1][:3]
    assert first["items"][0]["step_counts"] == {"completed": 2}
    last = client.get("/api/v1/runs?limit=3&offset=6").json()
    assert [r["id"] for r in last["items"]] == [ids[0]] and last["next_offset"] is None


def test_runs_filter_by_pipeline_and_status(client: AppClient, seeded: dict[str, Any]) -> None:
    failed = client.get("/api/v1/runs?status=failed").json()
    assert [r["id"] for r in failed["items"]] == [seeded["bad"]]
    other = client.get("/api/v1/pipelines/other/runs").json()
    assert [r["id"] for r in other["items"]] == [seeded["live"]]
    assert other["items"][0]["step_counts"] == {"completed": 2, "running": 1, "pending": 1}


def test_run_detail_has_dag_and_steps_in_order(client: AppClient, seeded: dict[str, Any]) -> None:
    run = client.get(f"/api/v1/runs/{seeded['bad'][:8]}").json()  # id prefixes work
    assert run["id"] == seeded["bad"]
    assert [s["name"] for s in run["steps"]] == ["load", "split", "train", "evaluate"]
    assert [s["status"] for s in run["steps"]] == ["completed", "completed", "failed", "skipped"]
    assert run["steps"][2]["traceback"].endswith("ValueError: bad data")
    assert len(run["dag"]["steps"]) == 4


def test_step_logs_tail_and_follow_from_an_offset(client: AppClient, seeded: dict[str, Any]) -> None:
    url = f"/api/v1/steps/{seeded['ok_steps']['train']}/logs"
    whole = client.get(url).json()
    assert whole["text"] == "epoch 1 loss=0.5\nepoch 2 loss=0.25\n" and whole["offset"] == len(whole["text"])
    rest = client.get(url + "?offset=17").json()
    assert rest["text"] == "epoch 2 loss=0.25\n"
    assert client.get(url + "?offset=-1").status_code == 400
    assert client.get(url + "?offset=x").status_code == 400


def test_artifact_detail_names_producer_and_consumer(client: AppClient, seeded: dict[str, Any]) -> None:
    art = client.get(f"/api/v1/artifacts/{seeded['artifact']}").json()
    assert [p["step_name"] for p in art["producers"]] == ["load"]
    assert [c["step_name"] for c in art["consumers"]] == ["split"]
    preview = client.get(f"/api/v1/artifacts/{seeded['artifact']}/preview").json()
    assert preview == {"files": [{"name": "data.json", "size": 3}], "kind": "number", "value": 0.5}


@pytest.mark.parametrize("path", [
    "/api/v1/runs/does-not-exist", "/api/v1/runs/zzzz/steps", "/api/v1/steps/nope", "/api/v1/steps/nope/logs",
    "/api/v1/artifacts/nope", "/api/v1/artifacts/nope/preview", "/api/v1/pipelines/nope",
    "/api/v1/pipelines/nope/runs", "/api/v1/stacks/nope", "/api/v1/no-such-endpoint",
])
def test_unknown_ids_are_404_json(path: str, client: AppClient, seeded: dict[str, Any]) -> None:
    r = client.get(path)
    assert r.status_code == 404
    body = r.json()
    assert body["error"] == "not_found" and body["message"]
    assert "Traceback" not in r.text


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=ten", "offset=-3", "status=exploded"])
def test_bad_query_values_are_400(query: str, client: AppClient, seeded: dict[str, Any]) -> None:
    r = client.get(f"/api/v1/runs?{query}")
    assert r.status_code == 400
    assert r.json()["error"] == "dashboard_error"


def test_openapi_describes_exactly_the_routes(client: AppClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    described = set(spec["paths"])
    routed = {api.PREFIX + e.path for e in api.endpoints()}
    assert described == routed
    for path, ops in spec["paths"].items():
        for op in ops.values():
            ref = op["responses"]["200"]["content"]["application/json"]["schema"]
            name = (ref.get("$ref") or ref["properties"]["items"]["items"]["$ref"]).rsplit("/", 1)[1]
            assert name in spec["components"]["schemas"], (path, name)


def test_json_keeps_hostile_strings_as_data(client: AppClient, store: Any, dosirak_home: Any) -> None:
    seed_run(store, dosirak_home, pipeline=XSS, parameters={XSS: XSS})
    r = client.get("/api/v1/runs")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.json()["items"][0]["pipeline_name"] == XSS


# -- the token ------------------------------------------------------------------------------
@pytest.fixture
def guarded(store: Any) -> AppClient:
    return AppClient(create_app(token="s3cret-token", loopback_only=False), base_url="http://10.1.2.3:8237")


@pytest.mark.parametrize("path", ["/api/v1/runs", "/api/v1/health", "/api/v1/openapi.json", "/", "/runs",
                                  "/static/dashboard.css", "/runs/nope"])
def test_token_is_required_on_every_page_and_api_call(path: str, guarded: AppClient) -> None:
    r = guarded.get(path)
    assert r.status_code == 401
    assert guarded.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = guarded.get(path, headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code in (200, 404)
    assert ok.status_code == (404 if path == "/runs/nope" else 200)


def test_token_in_url_sets_a_cookie_and_redirects_to_the_clean_url(guarded: AppClient) -> None:
    r = guarded.get("/runs?status=failed&token=s3cret-token")
    assert r.status_code == 303
    assert r.headers["location"] == "/runs?status=failed"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "s3cret-token" not in cookie  # the cookie holds a digest, not the token
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    assert guarded.get("/runs", headers={"Cookie": f"{COOKIE}={value}"}).status_code == 200
    assert guarded.get("/runs", headers={"Cookie": f"{COOKIE}=forged"}).status_code == 401


def test_api_accepts_the_token_as_a_query_parameter(guarded: AppClient) -> None:
    assert guarded.get("/api/v1/health?token=s3cret-token").status_code == 200
    assert guarded.get("/api/v1/health?token=nope").status_code == 401


def test_without_a_token_only_loopback_host_names_are_served(client: AppClient) -> None:
    assert client.get("/api/v1/health").status_code == 200
    assert client.get("/api/v1/health", headers={"Host": "localhost:8237"}).status_code == 200
    rebound = client.get("/api/v1/health", headers={"Host": "evil.example:8237"})
    assert rebound.status_code == 403


def test_posts_must_be_json_from_the_dashboard_itself(client: AppClient) -> None:
    form = client.post("/api/v1/runs", data={"x": "1"})
    assert form.status_code == 403 and "JSON" in form.json()["message"]
    cross = client.post("/api/v1/runs", json={}, headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403
    same = client.post("/api/v1/runs", json={}, headers={"Origin": "http://127.0.0.1:8237"})
    assert same.status_code == 405  # passed the guard; the route is read-only


def test_a_post_from_an_opaque_origin_is_refused(client: AppClient) -> None:
    for origin in ("null", ""):
        r = client.post("/api/v1/runs", json={}, headers={"Origin": origin})
        assert r.status_code == 403 and r.json()["message"] == "actions must come from the dashboard's own pages"


def test_like_wildcards_in_the_artifact_type_filter_are_literal(client: AppClient, seeded: dict[str, Any]) -> None:
    for wildcard in ("%25", "_", "%25float", "floa_"):
        assert client.get(f"/api/v1/artifacts?type={wildcard}").json()["total"] == 0, wildcard
        assert seeded["artifact"] not in client.get(f"/artifacts?type={wildcard}").text
    assert client.get("/api/v1/artifacts?type=float").json()["total"] > 0


HUGE = "99999999999999999999999"


def _offset_urls(seeded: dict[str, Any]) -> list[str]:
    lists = [api.PREFIX + _fill(e.path, seeded) for e in api.endpoints() if e.paginated and "{" not in e.path
             or e.paginated and e.path.startswith(("/pipelines/", "/runs/"))]
    return [*lists, api.PREFIX + _fill("/steps/{step_id}/logs", seeded), "/runs", "/artifacts", "/pipelines/training"]


@pytest.mark.parametrize("value", [HUGE, str(2**63), "9" * 5000])
def test_an_offset_no_store_can_take_is_400_on_every_list(value: str, client: AppClient,
                                                          seeded: dict[str, Any]) -> None:
    urls = _offset_urls(seeded)
    assert len(urls) >= 10
    for url in urls:
        r = client.get(f"{url}?offset={value}")
        assert r.status_code == 400, (url, r.text)
        assert "offset must be between 0 and" in html.unescape(r.text), url
