"""Parameters are JSON values, validated against the signature before anything runs."""

from __future__ import annotations

import math
from typing import Literal, Optional

import pytest
from pydantic import BaseModel

from dosirak import Client, pipeline, step
from dosirak.errors import ConfigError, ParameterError
from dosirak.pipelines import parameters as params

calls: list[str] = []


@step
def emit(count: int = 2, scale: float = 1.0, label: str = "x") -> list[float]:
    calls.append("emit")
    return [i * scale for i in range(count)]


@pipeline
def numbers(count: int = 2, scale: float = 1.0) -> None:
    emit(count=count, scale=scale)


@pytest.mark.parametrize(("value", "annotation", "expected"), [
    (3, int, 3),
    (3, float, 3.0),
    (True, bool, True),
    ("a", str, "a"),
    (None, Optional[int], None),  # noqa: UP045 - the typing spelling is checked on purpose
    (2, int | None, 2),
    ([1, 2], list[int], [1, 2]),
    ((1, 2), list[int], [1, 2]),
    ([1, "a"], tuple[int, str], (1, "a")),
    ({"a": 1.5}, dict[str, float], {"a": 1.5}),
    ("fast", Literal["fast", "slow"], "fast"),
])
def test_valid_values_pass_and_are_converted(value: object, annotation: object, expected: object) -> None:
    assert params.validate("p", value, annotation) == expected


@pytest.mark.parametrize(("value", "annotation"), [
    ("3", int),
    (True, int),
    (1.5, int),
    (True, float),
    (math.inf, float),
    (1, str),
    ([1, "a"], list[int]),
    ([1], tuple[int, int]),
    ({"a": "b"}, dict[str, int]),
    ("medium", Literal["fast", "slow"]),
    ("x", int | None),
])
def test_wrong_types_are_parameter_errors_naming_expected_and_got(value: object, annotation: object) -> None:
    with pytest.raises(ParameterError, match=r"^p expects .* but got"):
        params.validate("p", value, annotation)


@pytest.mark.parametrize("value", [math.nan, object(), {1, 2}, b"bytes"])
def test_non_json_values_are_rejected(value: object) -> None:
    with pytest.raises(ParameterError, match="not JSON-serialisable.*pass data between steps as step outputs"):
        params.check_json("p", value)


class Optimiser(BaseModel):
    name: str
    lr: float = 0.1


def test_pydantic_model_parameters_validate_from_dicts_and_dump_to_json() -> None:
    value = params.validate("p", {"name": "sgd"}, Optimiser)
    assert value == Optimiser(name="sgd", lr=0.1)
    assert params.to_json(value) == {"name": "sgd", "lr": 0.1}
    with pytest.raises(ParameterError, match="invalid Optimiser"):
        params.validate("p", {"lr": "fast"}, Optimiser)


def test_unknown_pipeline_parameter_is_rejected_before_anything_runs() -> None:
    calls.clear()
    with pytest.raises(ParameterError, match=r"pipeline 'numbers': .*'counts'.*its parameters are: count, scale"):
        numbers(counts=3)
    assert calls == []
    assert Client().list_runs() == []


def test_wrong_pipeline_parameter_type_is_rejected_before_anything_runs() -> None:
    calls.clear()
    with pytest.raises(ParameterError, match=r"pipeline 'numbers' parameter 'count' expects int but got str '3'"):
        numbers(count="3")
    assert calls == []
    assert Client().list_runs() == []


def test_wrong_step_parameter_literal_is_rejected_at_compile_time() -> None:
    @pipeline
    def literal() -> None:
        emit(label=3)

    with pytest.raises(ParameterError, match=r"step 'emit' parameter 'label' expects str but got int 3"):
        literal.compile()


def test_config_parameters_feed_the_pipeline_and_explicit_arguments_win() -> None:
    run = numbers.run(config={"parameters": {"count": 3, "scale": 2.0}}, scale=10.0)
    assert run.parameters == {"count": 3, "scale": 10.0}
    assert run.steps["emit"].output.load() == [0.0, 10.0, 20.0]


def test_config_can_set_a_step_parameter_and_is_validated() -> None:
    run = numbers.run(config={"steps": {"emit": {"parameters": {"label": "y"}}}})
    assert run.steps["emit"].parameters["label"] == "y"
    with pytest.raises(ParameterError, match="config sets unknown parameter 'nope' of step 'emit'"):
        numbers.run(config={"steps": {"emit": {"parameters": {"nope": 1}}}})
    with pytest.raises(ParameterError, match="step 'emit' parameter 'label' expects str"):
        numbers.run(config={"steps": {"emit": {"parameters": {"label": 1}}}})


def test_config_naming_an_unknown_step_or_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="config names step 'other', which the pipeline does not have"):
        numbers.run(config={"steps": {"other": {}}})
    with pytest.raises(ConfigError, match="unknown config key"):
        numbers.run(config={"paramters": {}})


def test_missing_config_file_is_a_config_error(tmp_path: object) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        numbers.run(config=f"{tmp_path}/missing.yaml")


@step
def configure(opt: Optimiser, shape: tuple[int, int] = (2, 3)) -> str:
    assert isinstance(opt, Optimiser), type(opt)
    assert isinstance(shape, tuple), type(shape)
    return f"{opt.name}@{opt.lr} {shape}"


def test_a_step_receives_parameters_as_their_declared_types() -> None:
    @pipeline
    def typed() -> None:
        configure(opt={"name": "sgd"}, shape=[4, 5])

    run = typed()
    assert run.steps["configure"].output.load() == "sgd@0.1 (4, 5)"
    assert run.steps["configure"].parameters == {"opt": {"name": "sgd", "lr": 0.1}, "shape": [4, 5]}


def test_pydantic_parameters_may_be_given_as_instances_to_steps_and_pipelines() -> None:
    @pipeline
    def configured(opt: Optimiser = Optimiser(name="adam")) -> None:  # noqa: B008 - a JSON-able default
        configure(opt=opt)

    run = configured(opt=Optimiser(name="sgd", lr=0.5))
    assert run.parameters == {"opt": {"name": "sgd", "lr": 0.5}}
    assert run.steps["configure"].output.load() == "sgd@0.5 (2, 3)"
    assert configured(opt={"name": "rms"}).steps["configure"].output.load() == "rms@0.1 (2, 3)"
