"""Screenshots of every dashboard page over real runs, and the layout facts they must show.

A store is filled once for the module by real pipelines: the eight-step demo pipeline,
a failing one, and the Fashion-MNIST example (on its embedded digits) trained twice, so
that there are two model versions, two bundles, and a deployment that replaced another.
Each page is shot at 1280 and 800 px wide into ``test-artifacts/dashboard/layout-*.png``,
and what a user would see wrong is measured in the DOM: a page wider than the window,
DAG labels on top of each other or of steps, a running service in warning colours, a
models page that does not say which version is deployed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dosirak.errors import RunFailedError
from tests.integration.dashboard import demo_pipelines
from tests.integration.dashboard.conftest import ARTIFACTS, start_server, stop_server
from tests.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "fashion_mnist"
WIDTHS = (1280, 800)

#: Every label and step box of the DAG on the page, as drawn (client coordinates).
DAG_BOXES = """() => {
  const box = (el) => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  return {
    labels: [...document.querySelectorAll('svg.dag text.edge-label')].map((t) => [t.textContent, box(t)]),
    nodes: [...document.querySelectorAll('svg.dag g.node rect')].map((r) => [r.parentNode.dataset.step, box(r)]),
  };
}"""
#: Points along every edge (client coordinates) with the steps it joins, and every step's box.
EDGE_POINTS = """() => {
  const edges = [...document.querySelectorAll('svg.dag path.edge')].map((path) => {
    const matrix = path.getScreenCTM(), length = path.getTotalLength(), points = [];
    for (let i = 0; i <= 60; i++) {
      const p = path.getPointAtLength(length * i / 60).matrixTransform(matrix);
      points.push([p.x, p.y]);
    }
    return [path.dataset.source, path.dataset.target, points];
  });
  const nodes = [...document.querySelectorAll('svg.dag g.node rect')].map((r) => {
    const b = r.getBoundingClientRect();
    return [r.parentNode.dataset.step, [b.left, b.top, b.right, b.bottom]];
  });
  return {edges, nodes};
}"""
#: How far the page reaches past the window, and what sticks out furthest.
OVERFLOW = """() => {
  const width = window.innerWidth;
  let widest = null;
  for (const el of document.querySelectorAll('body *')) {
    const right = el.getBoundingClientRect().right;
    if (right > width + 0.5 && (widest === null || right > widest[1])) widest = [el.tagName + '.' + el.className, right];
  }
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: width, widest: widest};
}"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A home filled by real runs and deployments, and a dashboard serving it; ids to visit."""
    from dosirak.metadata.store import close_stores, get_store
    from dosirak.settings import reset_settings
    from tests.deployers.conftest import kill_deployments

    home = tmp_path_factory.mktemp("layout_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DOSIRAK_HOME", str(home))
        mp.delenv("DOSIRAK_METADATA_URL", raising=False)
        mp.delenv("DOSIRAK_STACK", raising=False)
        reset_settings()
        sys.path.insert(0, str(EXAMPLE))
        proc = None
        try:
            demo_pipelines.training(epochs=3)
            with pytest.raises(RunFailedError):
                demo_pipelines.fragile(fail=True)
            import run as example_run

            from pipelines import training_fashion_mnist

            example_run.ensure_stack()
            port = free_port()
            config = {"parameters": {"dataset": "digits", "port": port, "min_accuracy": 0.5},
                      "steps": {"trainer": {"parameters": {"epochs": 1}}}}
            training_fashion_mnist.run(config=config)
            trained = training_fashion_mnist.run(config=config)  # the second version replaces the first
            store = get_store()
            demo = store.runs.list_runs(pipeline_name="training")[0]
            running = [d for d in store.deployments.list_deployments() if d.status == "running"]
            assert [d.run_id for d in running] == [trained.id], store.deployments.list_deployments()
            proc, state = start_server(home)
            yield {"url": state["url"].rstrip("/"), "demo_run": demo.id, "fashion_run": trained.id,
                   "bundle": running[0].bundle_id, "deployment": running[0].id,
                   "deployed_version": store.models.get_model_version_by_id(running[0].model_version_id).version}
        finally:
            if proc is not None:
                stop_server(proc)
            kill_deployments()
            sys.path[:] = [p for p in sys.path if p != str(EXAMPLE)]
            for module in ("run", "pipelines", "service"):
                loaded = sys.modules.get(module)
                if loaded is not None and str(EXAMPLE) in str(getattr(loaded, "__file__", "")):
                    del sys.modules[module]
            close_stores()
            reset_settings()


def _page(chromium: Any, width: int) -> Any:
    context = chromium.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.problems = problems
    return page


def _visit(chromium: Any, url: str, name: str, width: int) -> Any:
    """The page at ``url`` in a window ``width`` px wide, shot into the artifacts."""
    page = _page(chromium, width)
    answer = page.goto(url)
    assert answer is not None and answer.status == 200, url
    page.wait_for_load_state("load")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"layout-{name}-{width}.png"), full_page=True)
    return page


def _meet(a: list[float], b: list[float]) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def _pages(world: dict[str, Any]) -> dict[str, str]:
    return {
        "overview": "/",
        "runs": "/runs",
        "run-demo": f"/runs/{world['demo_run']}",
        "run-fashion": f"/runs/{world['fashion_run']}",
        "pipelines": "/pipelines",
        "pipeline": "/pipelines/training_fashion_mnist",
        "models": "/models",
        "model": "/models/fashion_mnist",
        "bundles": "/bundles",
        "bundle": f"/bundles/{world['bundle']}",
        "deployments": "/deployments",
        "deployment": f"/deployments/{world['deployment']}",
        "stacks": "/stacks",
    }


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_is_wider_than_the_window(world: dict[str, Any], chromium: Any, width: int) -> None:
    too_wide = {}
    for name, path in _pages(world).items():
        page = _visit(chromium, world["url"] + path, name, width)
        try:
            fit = page.evaluate(OVERFLOW)
            if fit["scrollWidth"] > fit["innerWidth"]:
                too_wide[name] = fit
            assert page.problems == [], (name, page.problems)
        finally:
            page.context.close()
    assert too_wide == {}


@pytest.mark.parametrize("run", ["demo_run", "fashion_run"])
def test_dag_edge_labels_meet_neither_each_other_nor_steps(world: dict[str, Any], chromium: Any, run: str) -> None:
    page = _visit(chromium, world["url"] + f"/runs/{world[run]}", f"dag-{run}", 1280)
    try:
        drawn = page.evaluate(DAG_BOXES)
    finally:
        page.context.close()
    labels, nodes = drawn["labels"], drawn["nodes"]
    assert len(labels) >= 7 and len(nodes) >= 6
    for i, (label, box) in enumerate(labels):
        for step, node in nodes:
            assert not _meet(box, node), f"label {label!r} {box} sits on step {step!r} {node}"
        for other, other_box in labels[i + 1:]:
            assert not _meet(box, other_box), f"labels {label!r} {box} and {other!r} {other_box} overlap"


@pytest.mark.parametrize("run", ["demo_run", "fashion_run"])
def test_dag_edges_pass_beside_the_steps_they_do_not_join(world: dict[str, Any], chromium: Any, run: str) -> None:
    page = _visit(chromium, world["url"] + f"/runs/{world[run]}", f"dag-edges-{run}", 1280)
    try:
        drawn = page.evaluate(EDGE_POINTS)
    finally:
        page.context.close()
    assert len(drawn["edges"]) >= 7
    for source, target, points in drawn["edges"]:
        for step, (x0, y0, x1, y1) in drawn["nodes"]:
            if step in (source, target):
                continue
            inside = [(x, y) for x, y in points if x0 + 1 < x < x1 - 1 and y0 + 1 < y < y1 - 1]
            assert not inside, f"edge {source} -> {target} crosses step {step} at {inside[0]}"


def test_the_models_pages_say_which_version_is_deployed(world: dict[str, Any], chromium: Any) -> None:
    version = world["deployed_version"]
    assert version == 2
    page = _visit(chromium, world["url"] + "/models", "models-deployed", 1280)
    try:
        row = page.locator("table.grid tbody tr", has=page.locator("a", has_text="fashion_mnist"))
        marker = row.locator("a.badge.deployed")
        assert marker.count() == 1 and marker.inner_text().strip() == f"● v{version} deployed"
        marker.click()
        page.wait_for_url(f"**/deployments/{world['deployment']}")
        page.goto(world["url"] + "/models/fashion_mnist")
        deployed_rows = page.locator("table.metrics-table tbody tr", has=page.locator("a.badge.deployed"))
        assert deployed_rows.count() == 1
        assert deployed_rows.locator("td").first.inner_text().startswith(f"v{version}")
    finally:
        page.context.close()


def test_a_running_deployment_wears_the_healthy_colour(world: dict[str, Any], chromium: Any) -> None:
    page = _visit(chromium, world["url"] + "/deployments", "deployments-badges", 1280)
    try:
        colour = "el => getComputedStyle(el).backgroundColor"
        running = page.locator("span.badge", has_text="running")
        stopped = page.locator("span.badge", has_text="stopped")
        assert running.count() == 1 and stopped.count() >= 1
        assert "tone-ok" in running.get_attribute("class")
        assert running.evaluate(colour) == "rgb(220, 252, 231)"  # --ok-bg, as a completed run
        assert stopped.first.evaluate(colour) == "rgb(243, 244, 246)"  # neutral grey
        page.goto(world["url"] + f"/deployments/{world['deployment']}")
        assert page.locator("h1 .badge").first.evaluate(colour) == "rgb(220, 252, 231)"
    finally:
        page.context.close()

