"""Metric charts, the runs table, the compare page and alias moves, in Debian's Chromium.

Runs and their metric points are written through the store (``store.metrics.append``, as
the engine records them); a real dashboard server answers; the assertions read what uPlot
drew (its data arrays, and pixels on its canvas) and compare it with the JSON API.
"""

from __future__ import annotations

import json
import math
import urllib.request
from pathlib import Path
from typing import Any
from urllib.error import HTTPError

import pytest

from tests.integration.dashboard.conftest import ARTIFACTS, shot

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.slow]

#: What a uPlot chart on the page holds: its x values and each series' values (NaN -> null).
CHART_DATA = "id => { const u = window.dosirakCharts[id]; return u ? u.data.map(a => Array.from(a)) : null; }"
#: How many pixels of a chart's canvas are painted in a series' stroke colour.
PAINTED = """id => {
  const u = window.dosirakCharts[id];
  const c = u.ctx.canvas, d = u.ctx.getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && d[i + 2] > 150 && d[i] < 120) n++;  // the first series' blue
  return n;
}"""
OVERFLOW = "() => ({scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth})"


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 - the test's own server
        return json.loads(r.read())


def _values(points: list[list[Any]]) -> list[float | None]:
    return [p[1] if isinstance(p[1], int | float) else None for p in points]


@pytest.fixture
def experiments(dosirak_home: Path) -> dict[str, Any]:
    """Three finished runs of 'exp' (lr 0.1, 0.01, 0.001) with loss/accuracy series, and one still running."""
    from dosirak.metadata.store import get_store
    from tests.dashboard.seeding import seed_run

    store = get_store()
    runs: list[str] = []
    for i, lr in enumerate((0.1, 0.01, 0.001)):
        run_id, ids = seed_run(store, dosirak_home, pipeline="exp", steps=["load", "train", "evaluate"],
                               parameters={"lr": lr, "epochs": 40}, run_name=f"exp-{i}")
        loss = [(0.9 - i * 0.2) * math.exp(-s / 10) + 0.05 for s in range(40)]
        points = [("loss", s, v, 1.7e9 + s) for s, v in enumerate(loss)]
        points += [("accuracy", s, 0.5 + s / 100 + i / 10, 1.7e9 + s) for s in range(40)]
        if i == 0:
            points += [("grad_norm", s, v, 1.7e9 + s) for s, v in
                       enumerate([1.0, 2.0, math.nan, 3.0, math.inf, 2.5, -math.inf, 2.0])]
        store.metrics.append(ids["train"], points)
        store.metrics.append(ids["evaluate"], [("accuracy", 0, 0.7 + i / 10, 1.7e9)])
        if i == 2:  # the last run's trainer ran other code
            with store.sql.write() as cur:
                cur.execute("UPDATE step_runs SET source_code = :source_code, cache_parts = :cache_parts WHERE id = :id",
                            {"source_code": "def train(data):\n    return data * 2\n",
                             "cache_parts": {"source": "changed", "params": "def"}, "id": ids["train"]})
        runs.append(run_id)
    live, live_ids = seed_run(store, dosirak_home, pipeline="exp", steps=["load", "train", "evaluate"],
                              statuses={"train": "running", "evaluate": "pending"}, run_status=None,
                              parameters={"lr": 0.05, "epochs": 40}, run_name="exp-live")
    store.metrics.append(live_ids["train"], [("loss", s, 1.0 / (s + 1), 1.7e9 + s) for s in range(5)])
    return {"store": store, "runs": runs, "live": live, "live_train": live_ids["train"]}


def _wait_loaded(page: Any, selector: str) -> None:
    page.wait_for_function(f"() => {{ const e = document.querySelector({json.dumps(selector)}); "
                           "return e && e.dataset.loaded === '1'; }", timeout=15_000)


def test_a_run_page_draws_each_metric_series_the_api_serves(page: Any, dashboard: str,
                                                            experiments: dict[str, Any]) -> None:
    run = experiments["runs"][0]
    page.goto(f"{dashboard}/runs/{run}")
    _wait_loaded(page, "#metrics")
    listed = _get(f"{dashboard}/api/runs/{run}/metrics")["metrics"]
    assert sorted(m["key"] for m in listed) == ["evaluate.accuracy", "train.accuracy", "train.grad_norm", "train.loss"]
    for m in listed:
        series = _get(f"{dashboard}/api/runs/{run}/metrics/{m['step']}/{m['name']}")
        drawn = page.evaluate(CHART_DATA, f"metric:{m['key']}")
        assert drawn is not None, m["key"]
        assert drawn[0] == [p[0] for p in series["points"]]
        assert drawn[1] == pytest.approx(_values(series["points"]))
    assert page.evaluate(PAINTED, "metric:train.loss") > 200  # the line is on the canvas
    assert page.locator(".chart-box").count() == 4
    shot(page, "charts-run")
    assert page.problems == []


def test_nan_and_infinite_values_are_gaps_marked_under_the_chart(page: Any, dashboard: str,
                                                                 experiments: dict[str, Any]) -> None:
    page.goto(f"{dashboard}/runs/{experiments['runs'][0]}")
    _wait_loaded(page, "#metrics")
    drawn = page.evaluate(CHART_DATA, "metric:train.grad_norm")
    assert drawn == [[0, 1, 2, 3, 4, 5, 6, 7], [1.0, 2.0, None, 3.0, None, 2.5, None, 2.0]]
    assert page.evaluate("() => window.dosirakCharts['metric:train.grad_norm'].nonFinite") == [2, 4, 6]
    note = page.locator('.chart-box[data-key="train.grad_norm"] .chart-note').inner_text()
    assert note.startswith("3 non-finite values") and "NaN at step 2" in note and "-Infinity at step 6" in note
    shot(page, "charts-nonfinite")
    assert page.problems == []


def test_a_running_runs_chart_shows_a_new_point_within_seconds(page: Any, dashboard: str,
                                                               experiments: dict[str, Any]) -> None:
    store = experiments["store"]
    page.goto(f"{dashboard}/runs/{experiments['live']}")
    _wait_loaded(page, "#metrics")
    assert page.evaluate(CHART_DATA, "metric:train.loss")[0] == [0, 1, 2, 3, 4]
    store.metrics.append(experiments["live_train"], [("loss", 5, 0.125, 1.7e9 + 5)])
    page.wait_for_function("() => window.dosirakCharts['metric:train.loss'].data[0].length === 6", timeout=6_000)
    assert page.evaluate(CHART_DATA, "metric:train.loss")[1][-1] == pytest.approx(0.125)
    # a metric the running step starts logging gets its chart too
    store.metrics.append(experiments["live_train"], [("lr", 5, 0.05, 1.7e9 + 5)])
    page.wait_for_function("() => !!window.dosirakCharts['metric:train.lr']", timeout=6_000)
    shot(page, "charts-live")
    assert page.problems == []


def _table_rows(page: Any) -> list[str]:
    return page.locator("#runs-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.run)")


def test_the_runs_table_sorts_filters_and_keeps_its_columns_in_the_url(page: Any, dashboard: str,
                                                                     experiments: dict[str, Any]) -> None:
    page.goto(f"{dashboard}/pipelines/exp")
    _wait_loaded(page, "#runs-table")
    assert len(_table_rows(page)) == 4
    headers = page.locator("#runs-table thead th[data-col]").evaluate_all("hs => hs.map(h => h.dataset.col)")
    assert "param:lr" in headers and "metric:train.loss" in headers
    page.locator('#runs-table th[data-sort="metric:train.loss"]').click()
    page.wait_for_function("() => new URL(location.href).searchParams.get('sort') === 'metric:train.loss'")
    _wait_loaded(page, "#runs-table")
    api = _get(f"{dashboard}/api/pipelines/exp/runs-table?sort=metric:train.loss&order=asc")
    assert _table_rows(page) == [r["id"] for r in api["runs"]]
    shown = page.locator('#runs-table td[data-col="metric:train.loss"]').all_inner_texts()
    assert [float(x) for x in shown] == sorted(float(x) for x in shown)

    page.locator("#runs-table input[name=filter]").fill("param:lr=0.01")
    page.locator("#runs-table input[name=filter]").press("Enter")
    page.wait_for_function("() => document.querySelectorAll('#runs-table tbody tr').length === 1")
    _wait_loaded(page, "#runs-table")
    assert _table_rows(page) == [experiments["runs"][1]]

    page.locator("#runs-table details.columns summary").click()
    page.locator('#runs-table .column-list input[value="param:epochs"]').uncheck()
    assert "param:epochs" not in page.locator("#runs-table thead").inner_text()
    url = page.url
    assert "filter=param%3Alr%3D0.01" in url and "col=param%3Alr" in url and "col=param%3Aepochs" not in url
    shot(page, "runs-table-filtered")

    page.goto(url)  # the choice survives a reload: it lives in the URL
    _wait_loaded(page, "#runs-table")
    assert _table_rows(page) == [experiments["runs"][1]]
    assert page.locator("#runs-table .filters-on .chip").inner_text().startswith("param:lr=0.01")
    cols = page.locator("#runs-table thead th[data-col]").evaluate_all("hs => hs.map(h => h.dataset.col)")
    assert "param:epochs" not in cols and "param:lr" in cols
    assert page.problems == []


def test_a_bad_filter_says_what_a_filter_looks_like(page: Any, dashboard: str, experiments: dict[str, Any]) -> None:
    page.goto(f"{dashboard}/pipelines/exp")
    _wait_loaded(page, "#runs-table")
    page.locator("#runs-table input[name=filter]").fill("loss is low")
    page.locator("#runs-table input[name=filter]").press("Enter")
    assert "param:NAME=VALUE" in page.locator("#runs-table .table-error").inner_text()
    assert len(_table_rows(page)) == 4
    assert page.problems == []


def test_the_trend_chart_draws_a_metric_across_runs(page: Any, dashboard: str, experiments: dict[str, Any]) -> None:
    page.goto(f"{dashboard}/pipelines/exp?metric=train.loss")
    _wait_loaded(page, "#trend")
    api = _get(f"{dashboard}/api/pipelines/exp/metric-trend?metric=train.loss")
    drawn = page.evaluate(CHART_DATA, "trend")
    assert len(drawn[0]) == len(api["points"]) == 4
    assert sorted(v for v in drawn[1] if v is not None) == pytest.approx(sorted(p["y"] for p in api["points"]))
    assert page.evaluate(PAINTED, "trend") > 20
    page.locator("#trend select[name=x]").select_option("param:lr")
    page.wait_for_function("() => new URL(location.href).searchParams.get('x') === 'param:lr'")
    _wait_loaded(page, "#trend")
    by_lr = page.evaluate(CHART_DATA, "trend")
    assert by_lr[0] == sorted(by_lr[0]) and set(by_lr[0]) == {0.001, 0.01, 0.05, 0.1}
    assert page.locator("svg.history").count() == 0  # the duration bars are gone
    shot(page, "trend-by-lr")
    assert page.problems == []


def test_two_runs_picked_in_the_table_open_the_compare_page(page: Any, dashboard: str,
                                                            experiments: dict[str, Any]) -> None:
    a, b = experiments["runs"][0], experiments["runs"][2]
    page.goto(f"{dashboard}/pipelines/exp")
    _wait_loaded(page, "#runs-table")
    assert page.locator("#runs-table button.compare").is_disabled()
    page.locator(f'#runs-table tr[data-run="{a}"] input[type=checkbox]').check()
    page.locator(f'#runs-table tr[data-run="{b}"] input[type=checkbox]').check()
    page.locator("#runs-table button.compare").click()
    page.wait_for_url("**/compare?runs=*")
    assert set(page.url.split("runs=")[1].split(",")) == {a, b}
    _wait_loaded(page, "#compare")
    params = page.locator("#compare .params-table").inner_text()
    assert "lr" in params and "0.1" in params and "0.001" in params
    assert page.locator("#compare .params-table tr.differs").first.inner_text().startswith("lr")
    # the loss series of both runs, overlaid on one chart, as the API serves them
    drawn = page.evaluate(CHART_DATA, "compare:train.loss")
    assert drawn is not None and len(drawn) == 3
    for series, run in zip(drawn[1:], (a, b), strict=True):
        api = _get(f"{dashboard}/api/runs/{run}/metrics/train/loss")
        assert [v for v in series if v is not None] == pytest.approx(_values(api["points"]))
    assert page.evaluate(PAINTED, "compare:train.loss") > 100
    diff = page.locator('#compare pre.diff[data-step="train"]').inner_text()
    assert "-    return data\n" in diff and "+    return data * 2" in diff
    assert page.locator("#compare pre.diff").count() == 1  # only the step whose code changed
    shot(page, "compare-two-runs")
    assert page.problems == []


def _post(url: str, body: dict[str, Any], headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310 - the test's own server
            return int(r.status)
    except HTTPError as exc:
        return exc.code


def test_an_alias_moves_from_the_model_page_after_confirmation(page: Any, dashboard: str,
                                                               dosirak_home: Path) -> None:
    from dosirak.metadata.store import get_store
    from dosirak.models import api as models

    models.save("clf", {"w": [1]}, metrics={"accuracy": 0.8})
    models.save("clf", {"w": [2]}, metrics={"accuracy": 0.9})
    models.alias("clf:2", "production")
    store = get_store()
    store.deployments.create_deployment(name="clf-cloud", deployer="dosirak-deploy", flavor="sagemaker", status="running",
                            model_name="clf", model_version_id=store.models.get_model_version("clf", "2").id,
                            url="https://runtime.sagemaker.example/endpoints/clf/invocations")
    page.goto(f"{dashboard}/models/clf")
    assert page.locator('td.where').first.inner_text() == "cloud · sagemaker"
    page.locator("#alias-mover input[name=alias]").fill("production")
    page.locator("#alias-mover select[name=version]").select_option("1")
    page.locator("#alias-mover button[type=submit]").click()
    confirm = page.locator("#alias-mover .confirm")
    assert confirm.is_visible()
    assert confirm.locator(".confirm-text").inner_text() == "Move alias 'production' from v2 to v1?"
    assert store.models.get_model_version("clf", "production").version == 2  # nothing moved before confirming
    shot(page, "alias-confirm")
    page.locator("#alias-mover .confirm-yes").click()
    page.wait_for_function("() => document.querySelector('h1').textContent.includes('production → v1')",
                           timeout=10_000)
    assert store.models.get_model_version("clf", "production").version == 1
    history = page.locator("table.history-table tbody tr").first.inner_text()
    assert "production" in history and "v2" in history and "v1" in history and "dashboard" in history
    shot(page, "alias-moved")

    # the same POST from the page without its token, and from elsewhere, is refused
    status = page.evaluate("""() => fetch('/api/v1/models/clf/aliases/production', {method: 'POST',
        headers: {'Content-Type': 'application/json'}, body: JSON.stringify({version: 2})}).then(r => r.status)""")
    assert status == 403
    token = page.locator('meta[name="dosirak-csrf"]').get_attribute("content")
    cookie = next(c for c in page.context.cookies() if c["name"] == "dosirak_session")
    url = f"{dashboard}/api/v1/models/clf/aliases/production"
    session = {"cookie": f"dosirak_session={cookie['value']}", "x-dosirak-csrf": token}
    assert _post(url, {"version": 2}, {**session, "origin": "http://evil.example"}) == 403
    assert _post(url, {"version": 2}, session) == 403  # no Origin at all
    assert store.models.get_model_version("clf", "production").version == 1
    assert _post(url, {"version": 2}, {**session, "origin": dashboard}) == 200  # the page's own origin and token
    assert store.models.get_model_version("clf", "production").version == 2
    assert [p for p in page.problems if "status of 403" not in p] == []  # the refused fetch above logs its 403


@pytest.mark.parametrize("width", [1280, 800])
def test_chart_pages_are_no_wider_than_the_window(chromium: Any, dashboard: str, experiments: dict[str, Any],
                                                  width: int) -> None:
    from dosirak.models import api as models

    models.save("clf", {"w": [1]}, metrics={"accuracy": 0.8, "a_rather_long_metric_name_for_the_table": 1.5})
    runs = experiments["runs"]
    pages = {"run": f"/runs/{runs[0]}", "pipeline": "/pipelines/exp", "compare": f"/compare?runs={runs[0]},{runs[1]}",
             "model": "/models/clf"}
    context = chromium.new_context(viewport={"width": width, "height": 800})
    try:
        pg = context.new_page()
        for name, path in pages.items():
            pg.goto(dashboard + path)
            pg.wait_for_load_state("networkidle")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            pg.screenshot(path=str(ARTIFACTS / f"charts-layout-{name}-{width}.png"), full_page=True)
            fit = pg.evaluate(OVERFLOW)
            assert fit["scrollWidth"] <= fit["innerWidth"], (name, fit)
    finally:
        context.close()


def test_the_chart_library_is_served_from_the_package(dashboard: str) -> None:
    with urllib.request.urlopen(f"{dashboard}/static/vendor/uplot/uPlot.iife.min.js?v=1.6.32", timeout=10) as r:  # noqa: S310
        body = r.read()
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert body.startswith(b"/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
