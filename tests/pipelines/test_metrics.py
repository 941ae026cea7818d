"""Logging metrics and metadata from steps: the calls, their checks, and what the store keeps."""

from __future__ import annotations

import math
import threading
import time
from typing import Annotated, Any

import pytest

import dosirak as dk
from dosirak import pipeline, step
from dosirak.errors import MetricError, OutsideStepError, RunFailedError
from dosirak.metadata.store import get_store
from dosirak.pipelines.metrics import MetricLog, json_number
from tests.orchestrators.test_local import use_local

EVENTS: dict[str, threading.Event] = {}


def series(run: Any, step_name: str, name: str) -> list[tuple[int, float]]:
    sid = run.steps[step_name].id
    return [p[:2] for p in get_store().metrics.series(sid, name).points]


def summaries(run: Any) -> dict[str, Any]:
    return {s.key: s for s in get_store().metrics.summaries([run.id])}


@pytest.mark.parametrize("call", [
    lambda: dk.log_metric("loss", 0.5),
    lambda: dk.log_metrics({"loss": 0.5}),
    lambda: dk.log_metadata({"k": 1}),
])
def test_every_logging_call_outside_a_step_is_a_clear_error(call: Any) -> None:
    with pytest.raises(OutsideStepError, match="outside a running step"):
        call()


@step
def trainer(epochs: int = 3) -> Annotated[int, "model"]:
    for epoch in range(epochs):
        dk.log_metrics({"loss": 1.0 / (epoch + 1), "accuracy": epoch / 10}, step=epoch)
    dk.log_metric("lr", 0.1)  # steps default to the series' next index
    dk.log_metric("lr", 0.05)
    dk.log_metadata({"optimizer": "sgd", "layers": [64, 10]})
    dk.log_metadata({"rows": 60000}, artifact="model")
    return 7


@pipeline(enable_cache=False)
def training(epochs: int = 3) -> None:
    trainer(epochs=epochs)


def test_a_step_logs_series_summaries_and_metadata_about_itself_and_its_output() -> None:
    run = training(epochs=3)
    assert run.status == "completed"
    assert series(run, "trainer", "loss") == [(0, 1.0), (1, 0.5), (2, 1.0 / 3)]
    assert series(run, "trainer", "lr") == [(0, 0.1), (1, 0.05)]
    found = summaries(run)
    assert set(found) == {"trainer.loss", "trainer.accuracy", "trainer.lr"}
    assert (found["trainer.loss"].latest, found["trainer.loss"].lowest, found["trainer.loss"].points) == (
        1.0 / 3, 1.0 / 3, 3)
    store = get_store()
    assert store.metrics.logged_metadata("step", run.steps["trainer"].id) == {
        "optimizer": "sgd", "layers": [64, 10]}
    assert store.metrics.logged_metadata("artifact", run.steps["trainer"].outputs["model"].id) == {"rows": 60000}


@step
def odd_values() -> None:
    dk.log_metric("x", math.nan, step=0)
    dk.log_metric("x", math.inf, step=1)
    dk.log_metric("x", -math.inf, step=2)
    dk.log_metric("x", 2, step=3)


@pipeline(enable_cache=False)
def odd() -> None:
    odd_values()


def test_nan_and_infinities_are_stored_and_read_back_as_such() -> None:
    run = odd()
    values = [v for _, v in series(run, "odd_values", "x")]
    assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf, 2.0]
    assert [json_number(v) for v in values] == ["NaN", "Infinity", "-Infinity", 2.0]


@step
def logs_then_fails() -> None:
    dk.log_metric("loss", 0.9, step=0)
    dk.log_metric("loss", 0.8, step=1)
    dk.log_metric("loss", "0.7", step=2)


@pipeline(enable_cache=False)
def failing() -> None:
    logs_then_fails()


def test_a_non_numeric_value_fails_the_step_naming_the_metric_and_the_step_keeps_its_points() -> None:
    with pytest.raises(RunFailedError) as caught:
        failing()
    run = caught.value.run
    error = run.steps["logs_then_fails"].error
    assert "MetricError" in error and "metric 'loss' must be a number" in error and "'0.7'" in error
    assert series(run, "logs_then_fails", "loss") == [(0, 0.9), (1, 0.8)]


@step
def backwards() -> None:
    for s in (30, 10, 20, 0):
        dk.log_metric("m", float(s), step=s)
    dk.log_metric("m", 99.0)  # next index: one past the highest step so far


@pipeline(enable_cache=False)
def reversed_steps() -> None:
    backwards()


def test_decreasing_steps_are_kept_ordered_by_step() -> None:
    run = reversed_steps()
    assert series(run, "backwards", "m") == [(0, 0.0), (10, 10.0), (20, 20.0), (30, 30.0), (31, 99.0)]
    (summary,) = summaries(run).values()
    assert (summary.latest, summary.latest_step) == (99.0, 31)


def _log(name: Any = "m", value: Any = 1.0, step: Any = None) -> MetricLog:
    metric_log = MetricLog("sid", "s", ("model",))
    metric_log.add(name, value, step)
    return metric_log


@pytest.mark.parametrize(("name", "value", "step", "message"), [
    ("x" * 256, 1.0, None, "1-255 characters"),
    ("", 1.0, None, "1-255 characters"),
    ("bad\nname", 1.0, None, "control characters"),
    (12, 1.0, None, "must be a string"),
    ("m", None, None, "metric 'm' must be a number"),
    ("m", [1.0], None, "metric 'm' must be a number"),
    ("m", True, None, "metric 'm' must be a number"),
    ("m", 10**400, None, "too large"),
    ("m", 1.0, -1, "between 0 and"),
    ("m", 1.0, 1.5, "step must be a whole number"),
    ("m", 1.0, True, "step must be a whole number"),
])
def test_bad_names_values_and_steps_are_refused_naming_what_is_wrong(name: Any, value: Any, step: Any,
                                                                     message: str) -> None:
    with pytest.raises(MetricError, match=message):
        _log(name, value, step)


def test_numpy_scalars_are_numbers_and_numpy_bools_are_not() -> None:
    np = pytest.importorskip("numpy")
    metric_log = _log("m", np.float32(0.5), np.int64(3))
    metric_log.add("m", np.array(2.0), None)
    assert [p[1:3] for p in metric_log.take(everything=True).points] == [(3, 0.5), (4, 2.0)]
    with pytest.raises(MetricError, match="must be a number"):
        metric_log.add("m", np.bool_(True), None)


def test_metadata_must_be_json_and_name_an_output_of_the_step() -> None:
    metric_log = _log()
    with pytest.raises(MetricError, match="must be JSON"):
        metric_log.add_metadata({"k": object()}, "step", "")
    with pytest.raises(MetricError, match="must be JSON"):
        metric_log.add_metadata({"k": math.nan}, "step", "")
    from dosirak.pipelines.metrics import activate, deactivate

    token = activate(metric_log)
    try:
        with pytest.raises(MetricError, match="has no output of that name"):
            dk.log_metadata({"k": 1}, artifact="nope")
        with pytest.raises(MetricError, match="not both"):
            dk.log_metadata({"k": 1}, artifact="model", model="m")
        with pytest.raises(MetricError, match="give a model as"):
            dk.log_metadata({"k": 1}, model="../x")
    finally:
        deactivate(token)


@step
def logging_branch(k: int = 1) -> int:
    EVENTS["barrier"].wait(30)  # type: ignore[attr-defined]
    for i in range(500):
        dk.log_metric("value", float(k), step=i)
        if i % 100 == 0:
            time.sleep(0.001)  # let the other branches in
    return k


@pipeline(enable_cache=False)
def branches() -> None:
    logging_branch(k=1)
    logging_branch(k=2)
    logging_branch(k=3)


def test_parallel_branches_logging_at_once_each_keep_their_own_points() -> None:
    use_local(3)
    EVENTS["barrier"] = threading.Barrier(3, timeout=30)  # type: ignore[assignment]
    run = branches()
    assert run.status == "completed"
    for name, k in (("logging_branch", 1), ("logging_branch_2", 2), ("logging_branch_3", 3)):
        points = series(run, name, "value")
        assert len(points) == 500 and {v for _, v in points} == {float(k)}, name


@step
def slow_logger() -> None:
    dk.log_metric("progress", 1.0, step=0)
    if not EVENTS["seen"].wait(30):
        raise TimeoutError("the point was not written while the step ran")
    dk.log_metric("progress", 2.0, step=1)


@pipeline(enable_cache=False)
def live() -> None:
    slow_logger()


def test_points_are_written_while_the_step_still_runs() -> None:
    EVENTS["seen"] = threading.Event()
    store = get_store()

    def watch() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with store.sql.read() as cur:
                if cur.execute("SELECT 1 FROM metrics WHERE name = 'progress'"):
                    EVENTS["seen"].set()
                    return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    run = live()
    watcher.join(30)
    assert run.status == "completed"
    assert series(run, "slow_logger", "progress") == [(0, 1.0), (1, 2.0)]


@step
def makes_a_model() -> Annotated[Any, dk.ModelOutput("logged_model")]:
    from sklearn.linear_model import LinearRegression

    dk.log_metric("fit_loss", 0.1)
    dk.log_metadata({"trained_on": "three rows"}, model="logged_model")  # the version this step makes
    dk.log_metadata({"note": "for version 1 by number"}, model="logged_model:1")
    dk.log_metadata({"lost": True}, model="no_such_model")
    return LinearRegression().fit([[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0])


@pipeline(enable_cache=False)
def model_training() -> None:
    makes_a_model()


def test_metadata_logged_for_a_model_goes_to_the_version_the_step_made(caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("sklearn")
    run = model_training()
    assert run.status == "completed"
    version = dk.models.get("logged_model:latest")
    assert version.version == 1
    assert get_store().metrics.logged_metadata("model", version.id) == {
        "trained_on": "three rows", "note": "for version 1 by number"}
    assert "metadata logged for model 'no_such_model' is dropped" in caplog.text


def test_a_thread_the_step_starts_logs_through_a_copy_of_its_context_and_not_without_one() -> None:
    import contextvars

    from dosirak.pipelines.metrics import activate, deactivate

    metric_log = MetricLog("sid", "s")
    errors: list[BaseException] = []

    def log_one() -> None:
        try:
            dk.log_metric("from_thread", 1.0)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    token = activate(metric_log)
    try:
        with_context = threading.Thread(target=contextvars.copy_context().run, args=(log_one,))
        without = threading.Thread(target=log_one)
        for t in (with_context, without):
            t.start()
            t.join(30)
    finally:
        deactivate(token)
    assert [p[0] for p in metric_log.take(everything=True).points] == ["from_thread"]
    assert len(errors) == 1 and isinstance(errors[0], OutsideStepError)


@step
def quiet_step() -> int:
    return sum(t.name == "dosirak-metrics" for t in threading.enumerate())


@step
def loud_step(x: int) -> int:
    dk.log_metric("loss", 0.5)
    return sum(t.name == "dosirak-metrics" for t in threading.enumerate())


@pipeline(enable_cache=False)
def quiet_then_loud() -> None:
    loud_step(quiet_step())


def test_the_background_flush_starts_only_once_a_step_logs_something() -> None:
    run = quiet_then_loud()
    assert run.steps["quiet_step"].output.load() == 0  # a run that logs nothing starts no thread
    assert run.steps["loud_step"].output.load() == 1
    assert get_store().metrics.series(run.steps["loud_step"].id, "loss").total == 1
