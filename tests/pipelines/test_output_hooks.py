"""Output hooks: Annotated metadata with ``on_output_published`` runs after a step's outputs land."""

from __future__ import annotations

from typing import Annotated, Any

import pytest

import dosirak as dk
from dosirak import pipeline, step
from dosirak.errors import RunFailedError
from dosirak.pipelines.context import get_step_context


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, str, str, str | None]] = []

    def on_output_published(self, value: Any, *, artifact_id: str, output_name: str) -> None:
        ctx = get_step_context()
        self.calls.append((value, artifact_id, output_name, ctx.step_name if ctx else None))


RECORDER = Recorder()


class Exploding:
    def on_output_published(self, value: Any, *, artifact_id: str, output_name: str) -> None:
        raise RuntimeError("registry unavailable")


@step
def make() -> tuple[Annotated[int, "a", RECORDER], Annotated[str, "b"]]:
    return 41, "x"


@step
def make_exploding() -> Annotated[int, Exploding()]:
    return 1


@pipeline(enable_cache=False)
def hooked() -> None:
    make()


@pipeline(enable_cache=False)
def exploding() -> None:
    make_exploding()


def test_hook_receives_value_artifact_and_step_context() -> None:
    RECORDER.calls.clear()
    run = hooked()
    assert len(RECORDER.calls) == 1
    value, artifact_id, name, step_name = RECORDER.calls[0]
    assert (value, name, step_name) == (41, "a", "make")
    assert run.steps["make"].outputs["a"].id == artifact_id


def test_raising_hook_fails_the_step() -> None:
    with pytest.raises(RunFailedError, match="registry unavailable"):
        exploding()


def test_a_raising_hook_leaves_no_published_output_without_a_row() -> None:
    from dosirak.settings import get_settings

    with pytest.raises(RunFailedError) as info:
        exploding()
    step_dir = get_settings().artifact_root / info.value.run.id / "make_exploding"
    assert info.value.run.steps["make_exploding"].outputs == {}
    assert sorted(p.name for p in step_dir.iterdir() if p.name != ".logs") == []


def test_model_output_annotation_saves_a_model_version_with_lineage() -> None:
    sklearn_linear = pytest.importorskip("sklearn.linear_model")
    import numpy as np

    @step
    def fit() -> Annotated[Any, dk.ModelOutput("tiny_regressor", alias="staging")]:
        return sklearn_linear.LinearRegression().fit(np.arange(6.0).reshape(3, 2), np.arange(3.0))

    @pipeline(enable_cache=False)
    def training() -> None:
        fit()

    run = training()
    version = dk.models.get("tiny_regressor:staging")
    assert version.tag == "tiny_regressor:1"
    assert version.run_id == run.id
    prediction = version.load().predict(np.array([[2.0, 3.0]]))
    assert prediction.shape == (1,)
