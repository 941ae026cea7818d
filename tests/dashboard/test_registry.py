"""Models, bundles and deployments in the dashboard: pages, API, and the guarded actions."""

from __future__ import annotations

import re
from typing import Any

import pytest

from dosirak.dashboard import api, registry_api
from tests.dashboard.client import AppClient
from tests.dashboard.conftest import XSS


def _fill(path: str, reg: dict[str, Any]) -> str:
    values = {"name": "clf", "version": "production", "bundle_id": reg["bundle"].id,
              "deployment_id": reg["deployment"].id}
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


@pytest.mark.parametrize("endpoint", [e for e in registry_api.ENDPOINTS if e.methods == ("GET",)],
                         ids=lambda e: e.path)
def test_every_registry_endpoint_answers_json(endpoint: Any, client: AppClient, registry: dict[str, Any]) -> None:
    r = client.get(api.PREFIX + _fill(endpoint.path, registry))
    assert r.status_code == 200, r.text
    assert isinstance(r.json(), dict)


def test_model_versions_side_by_side_with_stage_and_lineage(client: AppClient, registry: dict[str, Any],
                                                            seeded: dict[str, Any]) -> None:
    model = client.get("/api/v1/models/clf").json()
    assert model["metric_names"] == ["accuracy", "f1"]
    assert [(v["version"], v["aliases"]) for v in model["versions"]] == [(2, ["production"]), (1, [])]
    page = client.get("/models/clf").text
    assert "<th class=\"num\">accuracy</th>" in page and "production" in page
    v1 = client.get("/api/v1/models/clf/versions/1").json()
    assert v1["run"]["id"] == seeded["ok"]
    prod = client.get("/api/v1/models/clf/versions/production").json()
    assert [b["id"] for b in prod["bundles"]] == [registry["bundle"].id]
    assert f'href="/runs/{seeded["ok"]}"' in client.get("/models/clf/versions/1").text


def test_bundle_shows_apis_models_requirements_and_files(client: AppClient, registry: dict[str, Any]) -> None:
    view = client.get(f"/api/v1/bundles/{registry['bundle'].id}").json()
    assert view["requirements"] == "numpy==2.4.6\n"
    assert {f["name"] for f in view["files"]} == {"requirements.txt", "bundle.yaml"}
    assert [d["id"] for d in view["deployments"]] == [registry["deployment"].id]
    page = client.get(f"/bundles/{registry['bundle'].id}").text
    assert "POST /predict" in page and "up to 64" in page and "numpy==2.4.6" in page


def test_bundle_page_lists_its_container_images(client: AppClient, registry: dict[str, Any], store: Any) -> None:
    digest = "sha256:" + "d" * 64
    store.bundles.record_image(bundle_id=registry["bundle"].id, reference="localhost/clf:v1", location="local", digest=digest,
                       builder="buildah", size=5 * 1024**2, base_image="localhost/debian-python:bookworm")
    store.bundles.record_image(bundle_id=registry["bundle"].id, reference=f"127.0.0.1:5000/clf@{digest}",
                       location="registry", digest=digest, builder="buildah", size=5 * 1024**2,
                       base_image="localhost/debian-python:bookworm", extra={"tag": "127.0.0.1:5000/clf:v1"})
    view = client.get(f"/api/v1/bundles/{registry['bundle'].id}").json()
    assert [(i["reference"], i["location"]) for i in view["images"]] == [
        (f"127.0.0.1:5000/clf@{digest}", "registry"), ("localhost/clf:v1", "local")]
    page = client.get(f"/bundles/{registry['bundle'].id}").text
    assert "localhost/clf:v1" in page and f"127.0.0.1:5000/clf@{digest}" in page and "buildah" in page
    assert "localhost/debian-python:bookworm" in page and "5.0 MiB" in page


def test_deployment_page_has_docs_link_log_tail_and_confirmed_buttons(client: AppClient,
                                                                     registry: dict[str, Any]) -> None:
    d = registry["deployment"]
    view = client.get(f"/api/v1/deployments/{d.id}").json()
    assert view["deployment"]["docs_url"] == "http://127.0.0.1:1/docs"
    assert len(view["log_lines"]) == 40 and view["log_lines"][-1] == XSS
    assert view["can_start"] and not view["can_stop"]
    page = client.get(f"/deployments/{d.id}").text
    assert 'id="docs-link" href="http://127.0.0.1:1/docs"' in page
    assert "<script>alert" not in page
    assert re.search(r'data-action="stop"[^>]*data-confirm="Stop deployment clf\?[^"]*" disabled', page)
    assert 'data-action="start"' in page


def test_a_stored_javascript_url_never_becomes_a_link(client: AppClient, store: Any, registry: dict[str, Any]) -> None:
    bad = store.deployments.create_deployment(name="bad", deployer="x", flavor="local", status="stopped",
                                  url="javascript:alert(1)")
    page = client.get(f"/deployments/{bad.id}").text
    assert 'href="javascript:' not in page


def test_actions_are_posts_with_json_and_unknown_ids_are_404(client: AppClient, registry: dict[str, Any]) -> None:
    assert client.get(f"/api/v1/deployments/{registry['deployment'].id}/stop").status_code == 405
    assert client.post(f"/api/v1/deployments/{registry['deployment'].id}/stop").status_code == 403  # not JSON
    assert client.post("/api/v1/deployments/nope/stop", json={}).status_code == 404


def test_stopping_an_already_stopped_deployment_goes_through_the_deployer(client: AppClient,
                                                                         registry: dict[str, Any]) -> None:
    r = client.post(f"/api/v1/deployments/{registry['deployment'].id}/stop", json={})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "stopped"


@pytest.mark.parametrize("path", ["/models/nope", "/models/clf/versions/99", "/bundles/nope", "/deployments/nope",
                                  "/api/v1/models/nope", "/api/v1/bundles/nope", "/api/v1/deployments/nope"])
def test_unknown_registry_ids_are_404(path: str, client: AppClient, registry: dict[str, Any]) -> None:
    r = client.get(path)
    assert r.status_code == 404 and "Traceback" not in r.text


def test_registry_pages_render(client: AppClient, registry: dict[str, Any]) -> None:
    for path in ["/models", "/models/clf", "/models/clf/versions/2", "/bundles", f"/bundles/{registry['bundle'].id}",
                 "/deployments", f"/deployments/{registry['deployment'].id}"]:
        r = client.get(path)
        assert r.status_code == 200, path
        assert "<script>alert" not in r.text


@pytest.mark.parametrize("path", ["/models/clf/versions/99999999999999999999999",
                                  "/api/v1/models/clf/versions/99999999999999999999999",
                                  "/models/clf/versions/%C2%B2", "/api/v1/models/clf/versions/%C2%B2"])
def test_a_version_number_no_store_can_hold_is_404_with_a_message(path: str, client: AppClient,
                                                                   registry: dict[str, Any]) -> None:
    import html

    r = client.get(path)
    assert r.status_code == 404, r.text
    shown = r.json()["message"] if path.startswith("/api/") else html.unescape(r.text)
    assert "model 'clf' has no version or alias" in shown


def test_a_sagemaker_deployment_is_listed_beside_local_ones_without_a_docs_link(
        client: AppClient, store: Any, registry: dict[str, Any]) -> None:
    url = "https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/clf-endpoint/invocations"
    arn = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/clf-endpoint"
    cloud = store.deployments.create_deployment(name="clf-endpoint", deployer="dosirak-deploy", flavor="sagemaker",
                                    status="running", url=url, bundle_id=registry["bundle"].id,
                                    extra={"endpoint_arn": arn, "image_digest": "sha256:" + "e" * 64})
    listed = client.get("/api/v1/deployments").json()
    rows = listed["items"] if isinstance(listed, dict) else listed
    assert {(d["name"], d["flavor"]) for d in rows} >= {("clf", "local"), ("clf-endpoint", "sagemaker")}
    view = client.get(f"/api/v1/deployments/{cloud.id}").json()
    assert view["deployment"]["docs_url"] is None  # SageMaker reaches only /invocations
    page = client.get(f"/deployments/{cloud.id}").text
    assert 'id="docs-link"' not in page and f"<code>{arn}</code>" in page
    listing = client.get("/deployments").text
    assert url in listing and f"{url}/docs" not in listing


def test_the_models_pages_mark_the_version_a_running_deployment_serves(client: AppClient, store: Any,
                                                                      registry: dict[str, Any]) -> None:
    assert 'class="badge deployed' not in client.get("/models").text  # the only deployment is stopped
    live = store.deployments.create_deployment(name="clf-live", deployer="local_deployer", flavor="local", status="running",
                                   model_name="clf", model_version_id=registry["v1"].id, url="http://127.0.0.1:2")
    listing = client.get("/models").text
    marker = re.search(r'<a class="badge deployed tone-ok" href="/deployments/([^"]+)"[^>]*>[^<]*v1 deployed</a>', listing)
    assert marker and marker.group(1) == live.id, listing
    page = client.get("/models/clf").text
    row = re.search(r"<tr>\s*<td><a href=\"/models/clf/versions/1\">v1</a>(.*?)</td>", page, re.S)
    assert row and "v1 deployed" in row.group(1)
    assert "deployed" not in re.search(r"<td><a href=\"/models/clf/versions/2\">v2</a>(.*?)</td>", page, re.S).group(1)
    assert [d["version"] for d in client.get("/api/v1/models/clf").json()["deployed"]] == [1]


def test_a_deployment_without_a_recorded_version_is_marked_by_its_bundles_model(client: AppClient, store: Any,
                                                                                registry: dict[str, Any]) -> None:
    from dosirak.metadata.timeutil import utcnow

    bundle = store.bundles.create_bundle(
        bundle_id="b-with-ids", name="clf", version="v2", path=str(registry["bundle"].path), service="service.py:Clf",
        created_at=utcnow(), size=42, manifest_hash="1" * 64, labels={}, apis=[],
        models=[{"name": "clf", "version": 2, "id": registry["v2"].id}], model_version_ids=[registry["v2"].id])
    store.deployments.create_deployment(name="from-bundle", deployer="local_deployer", flavor="local", status="running",
                            bundle_id=bundle.id, model_name="clf")
    assert "v2 deployed" in client.get("/models").text


@pytest.mark.parametrize(("status", "tone"), [("running", "ok"), ("starting", "busy"), ("failed", "bad"),
                                              ("stopped", "neutral")])
def test_a_deployments_badge_says_how_it_is_doing(status: str, tone: str, client: AppClient, store: Any) -> None:
    d = store.deployments.create_deployment(name=f"svc-{status}", deployer="local_deployer", flavor="local", status=status)
    badge = f'<span class="badge d-{status} tone-{tone}">{status}</span>'
    assert badge in client.get("/deployments").text
    assert badge in client.get(f"/deployments/{d.id}").text


def test_deployments_say_which_model_version_they_serve(client: AppClient, store: Any, registry: dict[str, Any]) -> None:
    live = store.deployments.create_deployment(name="clf-v2", deployer="local_deployer", flavor="local", status="running",
                                   model_name="clf", model_version_id=registry["v2"].id)
    link = '<a href="/models/clf/versions/2">v2</a>'
    assert link in client.get("/deployments").text
    assert link in client.get(f"/deployments/{live.id}").text
    assert client.get(f"/api/v1/deployments/{live.id}").json()["deployment"]["model_version"] == 2


def _session(client: AppClient, path: str = "/models/clf") -> tuple[dict[str, str], str]:
    """The session cookie a page sets, and the token it embeds for its actions."""
    page = client.get(path)
    cookie = page.headers["set-cookie"].split(";")[0]
    name, _, value = cookie.partition("=")
    token = re.search(r'<meta name="dosirak-csrf" content="([0-9a-f]{64})">', page.text)
    assert name == "dosirak_session" and token, page.headers
    return {name: value}, token.group(1)


def _move(client: AppClient, cookies: dict[str, str], headers: dict[str, str], body: Any = None) -> Any:
    jar = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return client.post("/api/v1/models/clf/aliases/production", json={"version": 1} if body is None else body,
                       headers={**({"cookie": jar} if jar else {}), **headers})


ORIGIN = {"origin": "http://127.0.0.1:8237"}


def test_an_alias_moves_from_the_dashboard_and_the_move_is_kept_in_the_history(client: AppClient, store: Any,
                                                                              registry: dict[str, Any]) -> None:
    cookies, token = _session(client)
    r = _move(client, cookies, {**ORIGIN, "x-dosirak-csrf": token})
    assert r.status_code == 200, r.text
    assert (r.json()["alias"], r.json()["from_version"], r.json()["to_version"]) == ("production", 2, 1)
    assert store.models.get_model_version("clf", "production").version == 1
    last = store.models.model_alias_history("clf")[-1]
    assert (last.alias, last.from_version, last.to_version, last.actor) == ("production", 2, 1, "dashboard")
    page = client.get("/models/clf", headers={"cookie": f"dosirak_session={cookies['dosirak_session']}"})
    assert "set-cookie" not in page.headers  # the session is kept, not renewed
    assert f'content="{token}"' in page.text and "dashboard" in page.text


@pytest.mark.parametrize(("case", "headers"), [
    ("no token", ORIGIN),
    ("wrong token", {**ORIGIN, "x-dosirak-csrf": "0" * 64}),
    ("no origin", {}),
    ("another origin", {"origin": "http://evil.example:8237"}),
    ("origin null", {"origin": "null"}),
    ("rebinding", {"origin": "http://evil.example:8237", "host": "evil.example:8237"}),
])
def test_an_alias_move_from_anywhere_but_a_dashboard_page_is_refused(case: str, headers: dict[str, str],
                                                                   client: AppClient, store: Any,
                                                                   registry: dict[str, Any]) -> None:
    cookies, token = _session(client)
    if case not in ("no token", "wrong token"):
        headers = {**headers, "x-dosirak-csrf": token}
    r = _move(client, cookies, headers)
    assert r.status_code == 403, (case, r.text)
    assert r.json()["error"] == "forbidden"
    assert store.models.get_model_version("clf", "production").version == 2


def test_an_alias_move_with_another_sessions_token_is_refused(client: AppClient, store: Any,
                                                             registry: dict[str, Any]) -> None:
    cookies, _ = _session(client)
    _, other_token = _session(client)
    assert _move(client, cookies, {**ORIGIN, "x-dosirak-csrf": other_token}).status_code == 403
    assert store.models.get_model_version("clf", "production").version == 2


@pytest.mark.parametrize("body", [{}, {"version": "1"}, {"version": True}, {"version": 0}, [1], "x" * 5000])
def test_an_alias_move_names_a_version_number(body: Any, client: AppClient, registry: dict[str, Any]) -> None:
    cookies, token = _session(client)
    r = _move(client, cookies, {**ORIGIN, "x-dosirak-csrf": token}, body=body)
    assert r.status_code == 400, r.text
    assert "version" in r.json()["message"] or "at most" in r.json()["message"]


def test_an_alias_move_to_an_unknown_version_or_with_a_bad_alias_name_says_so(client: AppClient,
                                                                              registry: dict[str, Any]) -> None:
    cookies, token = _session(client)
    headers = {**ORIGIN, "x-dosirak-csrf": token}
    assert _move(client, cookies, headers, body={"version": 9}).status_code == 404
    jar = {"cookie": f"dosirak_session={cookies['dosirak_session']}"}
    bad = client.post("/api/v1/models/clf/aliases/latest", json={"version": 1}, headers={**headers, **jar})
    assert bad.status_code == 400 and "reserved" in bad.json()["message"]
