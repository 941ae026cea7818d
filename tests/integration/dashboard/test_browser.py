"""The dashboard in Debian's Chromium: what a user sees and clicks, over runs of real pipelines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dosirak.errors import RunFailedError
from tests.integration.dashboard import demo_pipelines
from tests.integration.dashboard.conftest import shot, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.slow]

XSS = "<script>alert(1)</script>"


@pytest.fixture
def runs(dosirak_home: Path) -> dict[str, Any]:
    demo_pipelines.training(epochs=3)
    with pytest.raises(RunFailedError):
        demo_pipelines.fragile(fail=True)
    from dosirak.metadata.store import get_store

    store = get_store()
    return {"training": store.runs.list_runs(pipeline_name="training")[0], "fragile": store.runs.list_runs(pipeline_name="fragile")[0]}


def test_runs_list_run_dag_step_logs_and_artifact_preview(page: Any, dashboard: str, runs: dict[str, Any]) -> None:
    page.goto(dashboard + "/runs")
    shot(page, "runs-list")
    page.get_by_role("link", name=runs["training"].name).first.click()
    page.wait_for_url(f"**/runs/{runs['training'].id}")
    nodes = page.locator("svg.dag g.node")
    assert nodes.count() == 8
    assert set(nodes.evaluate_all("els => els.map(e => e.dataset.status)")) == {"completed"}
    assert page.locator("svg.dag path.edge").count() == 9
    assert page.locator("svg.dag text.edge-label", has_text="normalized").count() == 1
    assert page.locator(".gantt-row svg rect").count() == 8
    shot(page, "run-dag")

    page.locator('svg.dag g.node[data-step="trainer"]').click()
    page.wait_for_url("**/steps/*")
    logs = page.locator("#logs")
    assert "epoch 3/3 loss=0.333" in logs.inner_text()
    assert "lr" in page.locator("table.kv").inner_text()
    shot(page, "step-logs")

    page.locator("table.grid a", has_text="model").first.click()
    page.wait_for_url("**/artifacts/*")
    preview = page.locator(".preview > pre.json").inner_text()
    assert '"epochs": 3' in preview and '"weights"' in preview
    assert page.locator("text=Produced by").count() == 1
    shot(page, "artifact-json")

    page.go_back()
    page.go_back()
    page.locator('svg.dag g.node[data-step="importer"]').click()
    page.locator("table.grid a", has_text="train").first.click()
    assert page.locator("dl.inline").inner_text().replace("\n", " ").count("(1600, 8)") == 1
    assert page.locator("svg.histogram rect").count() == 20
    shot(page, "artifact-array")
    assert page.problems == []


def test_image_and_metric_previews(page: Any, dashboard: str, runs: dict[str, Any]) -> None:
    page.goto(dashboard + f"/runs/{runs['training'].id}")
    page.locator("table.steps a.chip", has_text="chart").click()
    img = page.locator("img.thumb")
    img.wait_for()
    page.wait_for_load_state("load")  # images included
    assert img.evaluate("i => i.complete && i.naturalWidth") == 240
    shot(page, "artifact-image")
    page.go_back()
    page.locator("table.steps a.chip", has_text="accuracy").click()
    assert page.locator(".metric").inner_text() == "0.9132"
    assert page.problems == []


def test_failed_run_shows_failed_and_skipped_steps_and_the_traceback(page: Any, dashboard: str,
                                                                     runs: dict[str, Any]) -> None:
    page.goto(dashboard + f"/runs/{runs['fragile'].id}")
    statuses = page.locator("svg.dag g.node").evaluate_all("els => els.map(e => [e.dataset.step, e.dataset.status])")
    assert statuses == [["source", "completed"], ["breaker", "failed"], ["sink", "skipped"]]
    page.locator('svg.dag g.node[data-step="breaker"]').click()
    assert "ValueError: breaker was asked to fail" in page.locator("pre.traceback").inner_text()
    assert "about to add [1, 2, 3]" in page.locator("#logs").inner_text()
    shot(page, "failed-step")


def test_a_running_run_updates_live(page: Any, dashboard: str, dosirak_home: Path) -> None:
    from dosirak.metadata.store import get_store
    from tests.dashboard.seeding import json_artifact, seed_run

    store = get_store()
    run_id, ids = seed_run(store, dosirak_home, pipeline="live", steps=["first", "second"],
                           statuses={"second": "running"}, run_status=None)
    page.goto(dashboard + f"/runs/{run_id}")
    assert page.locator('g.node[data-step="second"]').get_attribute("data-status") == "running"
    shot(page, "live-running")
    art = json_artifact(dosirak_home, 1, producer=ids["second"])
    store.runs.finish_step(ids["second"], status="completed", new_artifacts=[art], outputs={"output": art.id})
    store.runs.finish_run(run_id, status="completed")
    page.locator('g.node[data-step="second"][data-status="completed"]').wait_for(timeout=10_000)
    assert page.locator("#run-status .badge").inner_text() == "completed"
    shot(page, "live-completed")
    assert page.problems == []


def test_hostile_pipeline_and_parameter_names_render_as_text(page: Any, dashboard: str, dosirak_home: Path) -> None:
    from dosirak.metadata.store import get_store
    from tests.dashboard.seeding import seed_run

    run_id, ids = seed_run(get_store(), dosirak_home, pipeline=XSS, parameters={XSS: XSS}, run_name=XSS,
                           log_lines={"train": XSS + "\n"})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(dashboard + "/runs")
    assert page.locator("table.grid td a", has_text=XSS).count() == 2  # run name and pipeline name, as text
    assert XSS in page.locator("code.params").first.inner_text()
    page.goto(dashboard + f"/runs/{run_id}")
    assert XSS in page.locator("h1").inner_text()
    page.goto(dashboard + f"/steps/{ids['train']}")
    assert XSS in page.locator("#logs").inner_text()
    page.goto(dashboard + "/pipelines")
    page.get_by_role("link", name=XSS).first.click()
    assert XSS in page.locator("h1").inner_text()
    shot(page, "xss-as-text")
    assert dialogs == []


def test_deployment_links_to_its_swagger_ui_and_stops_after_confirming(page: Any, dashboard: str,
                                                                       deployed_echo: Any) -> None:
    page.goto(dashboard + "/deployments")
    page.get_by_role("link", name="echo").first.click()
    page.wait_for_url(f"**/deployments/{deployed_echo.id}")
    assert "service 'echo' ready" in page.locator("pre.logs").inner_text()
    shot(page, "deployment")
    page.locator("#docs-link").click()
    page.wait_for_url(f"{deployed_echo.url}/docs")
    page.locator(".swagger-ui").first.wait_for(timeout=15_000)
    page.get_by_text("/double").first.wait_for(timeout=15_000)
    shot(page, "deployment-swagger")

    page.go_back()
    messages: list[str] = []

    def answer(dialog: Any) -> None:
        messages.append(dialog.message)
        if len(messages) == 1:
            dialog.dismiss()  # the first click is cancelled: nothing may happen
        else:
            dialog.accept()

    page.on("dialog", answer)
    page.get_by_role("button", name="Stop").click()
    from dosirak.metadata.store import get_store

    assert get_store().deployments.get_deployment(deployed_echo.id).status == "running"
    page.get_by_role("button", name="Stop").click()
    wait_for(lambda: get_store().deployments.get_deployment(deployed_echo.id).status == "stopped", 20, "the deployment to stop")
    assert messages[0].startswith("Stop deployment echo?")
    page.locator("h1 .badge", has_text="stopped").wait_for(timeout=10_000)
    assert page.get_by_role("button", name="Start").is_enabled()
    shot(page, "deployment-stopped")


def test_a_running_steps_log_is_tailed_live(page: Any, dashboard: str, dosirak_home: Path) -> None:
    import uuid

    from dosirak.metadata.store import get_store
    from tests.dashboard.seeding import chain_dag

    store = get_store()
    run_id, step_id = str(uuid.uuid4()), str(uuid.uuid4())
    store.runs.create_run(run_id=run_id, name="tailing", pipeline_name="live-logs", parameters={}, config={},
                     dag=chain_dag(["train"]), stack_name="default", orchestrator="local",
                     steps=[{"id": step_id, "name": "train", "step_type": "tests.train"}])
    log = dosirak_home / "train.log"
    log.write_text("epoch 1\n")
    store.runs.start_step(step_id, cache_key=None, cache_parts={}, source_code=None, inputs={}, logs_uri=str(log))
    page.goto(dashboard + f"/steps/{step_id}")
    assert page.locator("#logs").inner_text().strip() == "epoch 1"
    with log.open("a") as fh:
        fh.write(f"epoch 2 {XSS}\n")
    page.locator("#logs", has_text="epoch 2").wait_for(timeout=10_000)
    assert XSS in page.locator("#logs").inner_text()
    shot(page, "live-log")
    store.runs.finish_step(step_id, status="completed", logs_uri=str(log))
    page.locator("h1 .badge", has_text="completed").wait_for(timeout=10_000)  # the page reloads when it ends
    assert page.problems == []
