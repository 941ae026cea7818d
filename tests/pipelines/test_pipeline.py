"""``@pipeline``: compile checks before anything runs, then a recorded run with readable views."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest

from dosirak import Client, pipeline, step
from dosirak.errors import ConfigError, NotFoundError, PipelineError, StepInputTypeError
from dosirak.metadata.store import get_store
from dosirak.pipelines.pipeline import load_config
from tests.hostile_yaml import billion_laughs

ran: list[str] = []


@step
def words() -> list[str]:
    ran.append("words")
    return ["a", "bb", "ccc"]


@step
def lengths(items: list[str]) -> tuple[Annotated[list[int], "sizes"], Annotated[int, "longest"]]:
    ran.append("lengths")
    sizes = [len(i) for i in items]
    return sizes, max(sizes)


@step
def count(numbers: list[int]) -> int:
    ran.append("count")
    return len(numbers)


@pipeline
def measure() -> None:
    sizes, longest = lengths(words())
    count(sizes)


def test_run_returns_a_completed_view_with_every_output_loadable() -> None:
    run = measure()
    assert run.status == "completed"
    assert run.pipeline_name == "measure"
    assert run.stack_name == "default"
    assert list(run.steps) == ["words", "lengths", "count"]
    lengths_step = run.steps["lengths"]
    assert lengths_step.outputs["sizes"].load() == [1, 2, 3]
    assert lengths_step.outputs["longest"].load() == 3
    assert run.steps["count"].output.load() == 3
    assert run.steps["count"].inputs["numbers"].id == lengths_step.outputs["sizes"].id
    with pytest.raises(KeyError, match="use .outputs"):
        _ = lengths_step.output
    assert run.duration_s is not None and run.duration_s >= 0


def test_mismatched_types_fail_before_any_run_row_is_created() -> None:
    @step
    def as_text(x: list[int]) -> str:
        return str(x)

    @pipeline
    def mismatch() -> None:
        sizes, _ = lengths(words())
        count(as_text(sizes))

    ran.clear()
    with pytest.raises(StepInputTypeError, match="step 'count' input 'numbers' expects list"):
        mismatch()
    assert ran == []
    assert get_store().runs.count_runs() == 0


def test_a_pipeline_calling_no_steps_is_a_config_error() -> None:
    @pipeline
    def empty() -> None:
        pass

    with pytest.raises(ConfigError, match="calls no steps"):
        empty()


def test_running_on_an_unknown_stack_names_it() -> None:
    with pytest.raises(NotFoundError, match="no stack named 'elsewhere'"):
        measure.run(stack="elsewhere")


def test_client_lists_pipelines_and_their_runs() -> None:
    first = measure()
    second = measure()
    client = Client()
    assert [p.name for p in client.list_pipelines()] == ["measure"]
    pipe = client.get_pipeline("measure")
    assert [r.id for r in pipe.runs()] == [second.id, first.id]
    assert pipe.last_run is not None and pipe.last_run.id == second.id
    assert pipe.last_successful_run is not None
    assert client.get_run(first.id[:8]).id == first.id
    artifact = client.get_artifact(first.steps["count"].output.id)
    assert artifact.load() == 3
    with pytest.raises(NotFoundError, match="no pipeline named 'nope'"):
        client.get_pipeline("nope")


def test_config_file_in_yaml_sets_parameters_and_step_options(tmp_path: object) -> None:
    @step
    def repeat(word: str, times: int = 1) -> str:
        return word * times

    @pipeline
    def repeating(word: str = "a") -> None:
        repeat(word)

    config = tmp_path / "run.yaml"  # type: ignore[operator]
    config.write_text("parameters:\n  word: xy\nsteps:\n  repeat:\n    parameters:\n      times: 3\n")
    run = repeating.run(config=config)
    assert run.steps["repeat"].output.load() == "xyxyxy"



def test_calling_a_pipeline_inside_a_pipeline_is_an_error_before_anything_runs() -> None:
    @pipeline
    def outer() -> None:
        measure()

    ran.clear()
    with pytest.raises(PipelineError, match="pipeline 'measure' was called while pipeline 'outer' is being traced"):
        outer()
    assert ran == []
    assert get_store().runs.count_runs() == 0


def test_an_argument_wins_over_the_config_files_step_parameter_it_is_passed_to() -> None:
    from tests._pipelines.layered import CONFIG, train

    run = train.run(config=CONFIG, l2=0.2)
    assert run.parameters == {"count": 2000, "l2": 0.2, "verbose": False}
    assert run.steps["fit"].parameters == {"l2": 0.2, "shuffle": True}
    assert run.steps["fit"].output.load() == -400.0


def test_the_config_files_step_parameter_wins_over_defaults_and_what_the_pipeline_passes() -> None:
    from tests._pipelines.layered import CONFIG, train

    run = train.run(config=CONFIG)
    assert run.parameters == {"count": 2000, "l2": 0.1, "verbose": False}
    assert run.steps["fit"].parameters == {"l2": 0.5, "shuffle": True}
    assert run.steps["fit"].output.load() == -1000.0


def test_an_argument_equal_to_a_literal_a_step_gets_does_not_pin_that_literal() -> None:
    from tests._pipelines.layered import CONFIG, train

    # verbose=False is the very object of fit's literal shuffle=False; only same names pin such values
    run = train.run(config=CONFIG, verbose=False, l2=0.2)
    assert run.steps["fit"].parameters == {"l2": 0.2, "shuffle": True}


def test_a_config_file_whose_aliases_expand_past_the_bound_is_a_config_error_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("parameters:\n" + "".join(f"  {line}\n" for line in billion_laughs().splitlines()))
    with pytest.raises(ConfigError, match=f"config file at {config} expands to more than 1,000,000 values"):
        load_config(config)
