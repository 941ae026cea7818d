"""The HTML pages: they render, unknown ids are 404 pages, hostile strings stay text, nothing is written."""

from __future__ import annotations

import html
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.client import AppClient
from tests.dashboard.conftest import XSS
from tests.dashboard.seeding import json_artifact, seed_run


def _pages(seeded: dict[str, Any]) -> list[str]:
    return ["/", "/pipelines", "/pipelines/training", "/runs", "/runs?status=failed", "/runs?pipeline=other",
            f"/runs/{seeded['ok']}", f"/runs/{seeded['bad']}", f"/runs/{seeded['live']}", f"/runs/{seeded['live']}/live",
            f"/steps/{seeded['ok_steps']['train']}", f"/steps/{seeded['bad_steps']['train']}",
            f"/steps/{seeded['live_steps']['train']}", f"/steps/{seeded['ok_steps']['train']}/log.txt",
            "/artifacts", f"/artifacts/{seeded['artifact']}", "/stacks", "/api"]


def test_every_page_renders(client: AppClient, seeded: dict[str, Any]) -> None:
    for path in _pages(seeded):
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:500])


def test_run_page_draws_every_step_with_its_status(client: AppClient, seeded: dict[str, Any]) -> None:
    page = client.get(f"/runs/{seeded['bad']}").text
    nodes = re.findall(r'<g class="node s-(\w+)[^"]*" data-step="(\w+)"', page)
    assert nodes == [("completed", "load"), ("completed", "split"), ("failed", "train"), ("skipped", "evaluate")]
    assert page.count('class="edge"') == 3
    assert 'data-status="failed"' in page


def test_running_run_page_asks_to_be_polled(client: AppClient, seeded: dict[str, Any]) -> None:
    page = client.get(f"/runs/{seeded['live']}").text
    assert f'data-url="/runs/{seeded["live"]}/live" data-status="running"' in page
    fragment = client.get(f"/runs/{seeded['live']}/live").text
    assert "<html" not in fragment and 'data-step="train" data-status="running"' in fragment


def test_step_page_shows_traceback_of_a_failed_step(client: AppClient, seeded: dict[str, Any]) -> None:
    page = client.get(f"/steps/{seeded['bad_steps']['train']}").text
    assert "ValueError: bad data" in page and 'class="traceback"' in page


@pytest.mark.parametrize("path", ["/runs/nope", "/steps/nope", "/artifacts/nope", "/pipelines/nope",
                                  "/artifacts/nope/thumbnail.png", "/no/such/page", "/runs/nope/live"])
def test_unknown_ids_are_404_pages_not_tracebacks(path: str, client: AppClient, seeded: dict[str, Any]) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "404" in r.text and "Traceback" not in r.text


@pytest.mark.parametrize("query", ["limit=abc", "offset=-1", "status=<b>x</b>"])
def test_bad_query_values_are_400_pages(query: str, client: AppClient, seeded: dict[str, Any]) -> None:
    r = client.get(f"/runs?{query}")
    assert r.status_code == 400
    assert "<b>x</b>" not in r.text


def test_hostile_names_parameters_logs_and_previews_render_as_text(client: AppClient, store: Any,
                                                                    dosirak_home: Path) -> None:
    run_id, steps = seed_run(store, dosirak_home, pipeline=XSS, steps=["load", "train"],
                             parameters={XSS: XSS, "note": "\"'><img src=x onerror=alert(1)>"},
                             log_lines={"train": f"{XSS}\n</pre><script>alert(2)</script>\n"},
                             run_name=XSS)
    art = json_artifact(dosirak_home, {XSS: [XSS]}, name=XSS, producer=steps["load"])
    store.runs.finish_step(steps["load"], status="completed", new_artifacts=[art], outputs={XSS: art.id})
    pages = ["/", "/pipelines", f"/pipelines/{XSS.replace('/', '%2F')}", "/runs", f"/runs/{run_id}",
             f"/runs/{run_id}/live", f"/steps/{steps['train']}", f"/steps/{steps['load']}", "/artifacts",
             f"/artifacts/{art.id}"]
    for path in pages:
        r = client.get(path)
        assert r.status_code == 200, path
        assert "<script>alert" not in r.text, path
        assert "<img src=x" not in r.text, path
        assert "alert(1)" in html.unescape(r.text) or path == "/artifacts" or "steps" in path, path
    run_page = client.get(f"/runs/{run_id}").text
    assert html.escape(XSS, quote=False) in run_page
    csp = client.get("/runs").headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_raw_log_is_plain_text_that_cannot_run(client: AppClient, store: Any, dosirak_home: Path) -> None:
    _, steps = seed_run(store, dosirak_home, log_lines={"train": XSS})
    r = client.get(f"/steps/{steps['train']}/log.txt")
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["x-content-type-options"] == "nosniff"


def _dump(db: Path) -> list[str]:
    con = sqlite3.connect(db)
    try:
        return list(con.iterdump())
    finally:
        con.close()


def test_browsing_everything_never_writes_to_the_store(client: AppClient, seeded: dict[str, Any],
                                                      dosirak_home: Path) -> None:
    db = dosirak_home / "metadata.db"
    before = _dump(db)
    for path in _pages(seeded):
        client.get(path)
    for path in ["/api/v1/runs", f"/api/v1/runs/{seeded['live']}", f"/api/v1/artifacts/{seeded['artifact']}/preview",
                 f"/api/v1/steps/{seeded['live_steps']['train']}/logs", "/api/v1/pipelines", "/api/v1/stacks"]:
        client.get(path)
    assert _dump(db) == before


def test_runs_list_pages_through_many_runs(client: AppClient, store: Any, dosirak_home: Path) -> None:
    for _ in range(55):
        seed_run(store, dosirak_home, pipeline="many", steps=["a"])
    first = client.get("/runs?pipeline=many").text
    assert "1–50 of 55" in first and 'offset=50&amp;limit=50">older' in first
    second = client.get("/runs?pipeline=many&offset=50").text
    assert second.count('<td><a href="/runs/') == 5


def test_a_cancelled_run_wears_a_neutral_badge_and_can_be_filtered(
        client: AppClient, store: Any, dosirak_home: Path) -> None:
    run_id, steps = seed_run(store, dosirak_home, statuses={"train": "running", "evaluate": "pending"},
                             run_status=None)
    store.runs.cancel_run(run_id, error="cancelled by the user during step 'train'",
                     skipped_because="the run was cancelled by the user")
    page = client.get(f"/runs/{run_id}").text
    nodes = re.findall(r'<g class="node s-(\w+)[^"]*" data-step="(\w+)"', page)
    assert nodes == [("completed", "load"), ("completed", "split"), ("cancelled", "train"), ("skipped", "evaluate")]
    assert "cancelled by the user during step" in page
    listed = client.get("/runs?status=cancelled").text
    assert '<span class="badge s-cancelled">cancelled</span>' in listed and run_id[:8] in listed
    css = client.get("/static/dashboard.css").text
    neutral = re.search(r"([^}]*)\{[^}]*var\(--skip-bg\)", css)
    assert neutral is not None and ".s-cancelled.badge" in neutral.group(1)
    assert [r["id"] for r in client.get("/api/v1/runs?status=cancelled").json()["items"]] == [run_id]


def test_run_page_and_api_show_the_parameters_each_step_ran_with(client: AppClient, store: Any) -> None:
    from tests._pipelines.layered import CONFIG, train

    run = train.run(config=CONFIG, l2=0.2)
    page = client.get(f"/runs/{run.id}").text
    rows = dict(re.findall(r'<tr data-step="(\w+)">(.*?)</tr>', page, re.S))
    assert 'count=2000, l2=0.2, verbose=false' in page  # the pipeline's parameters
    assert "l2=0.2, shuffle=true" in rows["fit"] and "count=2000" in rows["load"]
    steps = client.get(f"/api/v1/runs/{run.id}/steps").json()["items"]
    assert {s["name"]: s["parameters"] for s in steps} == {"load": {"count": 2000},
                                                          "fit": {"l2": 0.2, "shuffle": True}}
    assert client.get(f"/api/v1/runs/{run.id}").json()["parameters"] == {"count": 2000, "l2": 0.2, "verbose": False}


def test_the_pipeline_page_holds_its_runs_table_and_metric_chart_instead_of_duration_bars(
        client: AppClient, seeded: dict[str, Any]) -> None:
    page = client.get("/pipelines/training").text
    assert 'id="runs-table" data-pipeline="training"' in page and 'id="trend" data-pipeline="training"' in page
    assert "svg" not in page.split('id="trend"')[1].split("</section>")[0]  # drawn by uPlot, not server-side bars
    assert '<script src="/static/vendor/uplot/uPlot.iife.min.js?v=1.6.32" defer></script>' in page
    assert "2 runs" in page


def test_the_compare_page_names_the_runs_it_compares(client: AppClient, seeded: dict[str, Any]) -> None:
    page = client.get(f"/compare?runs={seeded['ok']},{seeded['bad'][:8]}")
    assert page.status_code == 200
    assert f'data-runs="{seeded["ok"]},{seeded["bad"]}"' in page.text  # prefixes resolved to ids
    assert page.text.count('<tr data-run="') == 2


@pytest.mark.parametrize(("query", "status"), [("", 400), ("?runs=", 400), ("?runs=abc", 400), ("?runs=nope,nada", 404),
                                               ("?runs=" + ",".join(["x"] * 21), 400)])
def test_the_compare_page_needs_two_to_twenty_known_runs(query: str, status: int, client: AppClient,
                                                         seeded: dict[str, Any]) -> None:
    r = client.get("/compare" + query)
    assert r.status_code == status and "Traceback" not in r.text


def test_the_chart_library_ships_with_the_package_and_is_cached_long(client: AppClient) -> None:
    from dosirak.dashboard.app import STATIC_DIR

    r = client.get("/static/vendor/uplot/uPlot.iife.min.js?v=1.6.32")
    assert r.status_code == 200 and r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.content.startswith(b"/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
    assert "MIT License" in (STATIC_DIR / "vendor" / "uplot" / "LICENSE").read_text()
    assert "cache-control" not in client.get("/static/dashboard.css").headers or \
        "immutable" not in client.get("/static/dashboard.css").headers["cache-control"]


_BAR = re.compile(r'<div class="gantt-row" data-step="(\w+)">.*?<rect class="gantt-bar f-(\w+)" x="([0-9.]+)%" y="2" '
                  r'width="([0-9.]+)%"', re.S)


def test_run_page_draws_parallel_branches_as_overlapping_bars_and_says_where_each_ran(client: AppClient) -> None:
    import os
    import socket

    from tests._pipelines.parallel import BRANCH_S, parallel, use_two_workers

    use_two_workers()
    run = parallel()
    page = client.get(f"/runs/{run.id}").text
    bars = {name: (status, float(x), float(x) + float(w)) for name, status, x, w in _BAR.findall(page)}
    assert set(bars) == {"source", "left_branch", "right_branch", "join"}
    assert {status for status, _, _ in bars.values()} == {"completed"}
    (_, l0, l1), (_, r0, r1), (_, j0, _) = bars["left_branch"], bars["right_branch"], bars["join"]
    span = run.duration_s or 1.0
    assert min(l1, r1) - max(l0, r0) >= 100 * 0.6 * BRANCH_S / span  # side by side on the axis, in % of the run
    assert j0 >= max(l1, r1) - 0.5  # the join after both
    axis = re.search(r'<svg class="gantt-axis".*?</svg>', page, re.S)
    assert axis is not None
    labels = re.findall(r">([^<]+)</text>", axis.group(0))
    assert labels[0] == "0" and len(labels) >= 3 and all(re.fullmatch(r"[0-9.]+ (ms|s)", t) for t in labels[1:])
    rows = dict(re.findall(r'<tr data-step="(\w+)">(.*?)</tr>', page, re.S))
    assert socket.gethostname() in rows["left_branch"] and "cpus=1, memory=256.0 MiB" in rows["left_branch"]
    assert f"pid {os.getpid()} thread dosirak-worker-" in rows["right_branch"]
    steps = {s["name"]: s for s in client.get(f"/api/v1/runs/{run.id}").json()["steps"]}
    assert steps["left_branch"]["resources"] == {"cpus": 1.0, "memory": 256 * 1024.0**2}
    assert steps["join"]["host"] == socket.gethostname() and steps["join"]["worker"].startswith(f"pid {os.getpid()}")


def test_hostile_hosts_and_workers_render_as_text(client: AppClient, store: Any, dosirak_home: Path) -> None:
    run_id, steps = seed_run(store, dosirak_home, steps=["load", "train"], statuses={"train": "running"},
                             run_status=None)
    store.runs.finish_step(steps["train"], status="completed", host=XSS, worker="\"'><img src=x onerror=alert(1)>",
                           resources={XSS: 1.0})
    for path in (f"/runs/{run_id}", f"/runs/{run_id}/live", f"/steps/{steps['train']}"):
        page = client.get(path).text
        assert "<script>alert" not in page and "<img src=x" not in page, path
        assert html.escape(XSS, quote=False) in page or html.escape(XSS) in page, path
    assert client.get(f"/api/v1/steps/{steps['train']}").json()["host"] == XSS
