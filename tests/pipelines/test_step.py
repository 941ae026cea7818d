"""``@step``: signatures become inputs, parameters and outputs; outside a pipeline it is the plain function."""

from __future__ import annotations

from typing import Annotated

import pytest

from dosirak import pipeline, step
from dosirak.errors import StepCallError, StepSignatureError
from dosirak.pipelines.step import Step


@step
def add(x: int, y: int = 1) -> int:
    return x + y


@step
def split(n: int) -> tuple[Annotated[int, "half"], Annotated[int, "rest"]]:
    return n // 2, n - n // 2


def test_step_called_outside_a_pipeline_runs_as_the_plain_function() -> None:
    assert isinstance(add, Step)
    assert add(2) == 3
    assert add(2, y=5) == 7
    assert split(5) == (2, 3)


def test_step_keeps_the_function_name_and_docstring() -> None:
    @step
    def documented(x: int) -> int:
        """Doubles."""
        return 2 * x

    assert documented.__name__ == "documented"
    assert documented.__doc__ == "Doubles."
    assert documented.name == "documented"


def test_decorator_name_option_renames_the_step() -> None:
    @step(name="renamed")
    def original(x: int) -> int:
        return x

    assert original.name == "renamed"


def test_single_return_is_one_output_named_output() -> None:
    assert [o.name for o in add.outputs] == ["output"]
    assert add.outputs[0].annotation is int


def test_annotated_tuple_return_declares_named_outputs() -> None:
    assert [(o.name, o.annotation) for o in split.outputs] == [("half", int), ("rest", int)]


def test_unnamed_tuple_members_are_output_0_output_1() -> None:
    @step
    def pair() -> tuple[int, str]:
        return 1, "a"

    assert [o.name for o in pair.outputs] == ["output_0", "output_1"]


def test_variadic_tuple_is_a_single_output() -> None:
    @step
    def many() -> tuple[int, ...]:
        return (1, 2, 3)

    assert [o.name for o in many.outputs] == ["output"]


def test_none_return_declares_no_outputs() -> None:
    @step
    def sink(x: int) -> None:
        return None

    assert sink.outputs == ()


def test_missing_parameter_hint_is_an_error_suggesting_one() -> None:
    with pytest.raises(StepSignatureError, match=r"parameter 'lr' has no type hint; add one, e\.g\. `lr: float = 0\.1`"):

        @step
        def trainer(lr=0.1) -> int:  # type: ignore[no-untyped-def]
            return 1


def test_missing_return_hint_is_an_error() -> None:
    with pytest.raises(StepSignatureError, match="add a return type hint"):

        @step
        def no_return(x: int):  # type: ignore[no-untyped-def]
            return x


def test_var_args_are_rejected() -> None:
    with pytest.raises(StepSignatureError, match=r"\*args/\*\*args are not supported"):

        @step
        def variadic(*args: int) -> int:
            return 0


def test_duplicate_output_names_are_rejected() -> None:
    with pytest.raises(StepSignatureError, match="not unique"):

        @step
        def dup() -> tuple[Annotated[int, "a"], Annotated[int, "a"]]:
            return 1, 2


def test_output_name_must_be_an_identifier() -> None:
    with pytest.raises(StepSignatureError, match="must be a Python identifier"):

        @step
        def bad() -> Annotated[int, "not a name"]:
            return 1


def test_negative_retries_are_rejected() -> None:
    with pytest.raises(StepSignatureError, match="retries must be >= 0"):

        @step(retries=-1)
        def flaky() -> int:
            return 1


def test_classes_cannot_be_steps() -> None:
    with pytest.raises(StepSignatureError, match="decorates functions"):
        step(int)


def test_step_called_outside_a_pipeline_with_a_handle_is_an_error() -> None:
    stolen: list[object] = []

    @pipeline
    def leaky() -> None:
        stolen.append(add(1))

    leaky.compile()
    with pytest.raises(StepCallError, match=r"step 'add' was given the output handle <output 'output' of step 'add'> "
                                            r"outside a pipeline"):
        add(stolen[0])


def test_source_code_excludes_decorators() -> None:
    assert add.source_code.startswith("def add(x: int, y: int = 1) -> int:")
    assert "@step" not in add.source_code



def test_a_single_annotated_return_names_the_output() -> None:
    @step
    def summed(xs: list[int]) -> Annotated[int, "total"]:
        return sum(xs)

    assert [(o.name, o.annotation) for o in summed.outputs] == [("total", int)]


def sized() -> int:
    return 1


def test_resources_are_checked_and_read_when_the_step_is_declared() -> None:
    from dosirak.errors import StepSignatureError

    with pytest.raises(StepSignatureError, match="step 'sized' resource 'memory': cannot read the size 'lots'"):
        step(resources={"memory": "lots"})(sized)
    with pytest.raises(StepSignatureError, match="'cpus': -1 is not an amount"):
        step(resources={"cpus": -1})(sized)
    with pytest.raises(StepSignatureError, match="plain identifier"):
        step(resources={"a b": 1})(sized)
    made = step(resources={"memory": "2GiB", "gpus": 1, "big_disk": 0.5})(sized)
    assert made.options.resources == {"memory": 2 * 1024**3, "gpus": 1.0, "big_disk": 0.5}
    assert step(resources={"memory": "512MB"})(sized).options.resources == {"memory": 512e6}
