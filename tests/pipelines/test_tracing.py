"""Tracing a pipeline function: step calls become DAG nodes joined by output handles."""

from __future__ import annotations

from typing import Annotated, Any

import pytest

from dosirak import pipeline, step
from dosirak.errors import StepCallError, StepInputTypeError
from dosirak.pipelines import _tracing
from dosirak.pipelines._tracing import OutputHandle


@step
def make(n: int = 3) -> list[int]:
    return list(range(n))


@step
def total(numbers: list[int]) -> int:
    return sum(numbers)


@step
def scale(value: float, factor: float = 2.0) -> float:
    return value * factor


@step
def text() -> str:
    return "hello"


@step
def halves(numbers: list[int]) -> tuple[Annotated[list[int], "low"], Annotated[list[int], "high"]]:
    mid = len(numbers) // 2
    return numbers[:mid], numbers[mid:]


def test_step_calls_become_nodes_in_call_order_with_edges() -> None:
    @pipeline
    def chain() -> None:
        total(make(n=4))

    dag = chain.compile()
    assert [n.name for n in dag.nodes] == ["make", "total"]
    assert dag.node("make").parameters == {"n": 4}
    edge = dag.node("total").inputs["numbers"]
    assert (edge.step, edge.output) == ("make", "output")
    assert dag.node("total").upstream == ["make"]
    assert dag.downstream("make") == {"total"}


def test_defaults_of_unset_parameters_are_recorded() -> None:
    @pipeline
    def chain() -> None:
        make()

    assert chain.compile().node("make").parameters == {"n": 3}


def test_the_same_step_used_twice_gets_names_x_and_x_2() -> None:
    @pipeline
    def twice() -> None:
        a = make(n=1)
        b = make(n=2)
        total(a)
        total(b)

    dag = twice.compile()
    assert [n.name for n in dag.nodes] == ["make", "make_2", "total", "total_2"]
    assert dag.node("total_2").inputs["numbers"].step == "make_2"


def test_a_generated_name_never_collides_with_a_step_named_like_it() -> None:
    @step(name="make_2")
    def other() -> list[int]:
        return [9]

    @pipeline
    def clash() -> None:
        make()
        make()
        other()

    names = [n.name for n in clash.compile().nodes]
    assert len(set(names)) == len(names), names


def test_tuple_annotated_multi_output_step_unpacks_into_handles() -> None:
    @pipeline
    def unpack() -> None:
        low, high = halves(make())
        total(low)
        total(high)

    dag = unpack.compile()
    assert dag.node("total").inputs["numbers"].output == "low"
    assert dag.node("total_2").inputs["numbers"].output == "high"


def test_a_single_output_cannot_be_unpacked() -> None:
    @pipeline
    def wrong() -> None:
        a, b = make()  # noqa: F841

    with pytest.raises(StepCallError, match="is a single output and cannot be unpacked"):
        wrong.compile()


def test_branching_on_a_handle_is_an_error_that_says_what_to_do() -> None:
    @pipeline
    def branchy() -> None:
        if total(make()):
            make()

    with pytest.raises(StepCallError, match="has no value while the pipeline is being traced"):
        branchy.compile()


def test_mismatched_producer_and_consumer_types_fail_at_compile_time() -> None:
    @pipeline
    def mismatch() -> None:
        total(text())

    with pytest.raises(StepInputTypeError, match=r"step 'total' input 'numbers' expects list\[int\] but "
                                                 r"<output 'output' of step 'text'> is str"):
        mismatch.compile()


def test_generic_arguments_must_match_too() -> None:
    @step
    def words() -> list[str]:
        return ["a"]

    @pipeline
    def mismatch() -> None:
        total(words())

    with pytest.raises(StepInputTypeError, match=r"expects list\[int\] but .* is list\[str\]"):
        mismatch.compile()


def test_an_int_output_may_feed_a_float_input() -> None:
    @pipeline
    def widen() -> None:
        scale(total(make()))

    assert widen.compile().node("scale").inputs["value"].step == "total"


class Matrix:
    """A type with no JSON form: values of it can only arrive as artifacts."""


def test_a_literal_passed_to_an_artifact_typed_input_is_an_error() -> None:
    @step
    def consume(m: Matrix) -> int:
        return 1

    @pipeline
    def literal() -> None:
        consume(Matrix())

    with pytest.raises(StepCallError, match=r"step 'consume' input 'm' is declared as Matrix, an artifact: "
                                            r"pass the output of another step"):
        literal.compile()


def test_handles_inside_a_parameter_container_are_an_error() -> None:
    @step
    def combine(parts: list[Any]) -> int:
        return len(parts)

    @pipeline
    def nested() -> None:
        combine([make(), make()])

    with pytest.raises(StepCallError, match="got a container holding step outputs; pass each output handle"):
        nested.compile()


def test_wrong_arguments_name_the_step_and_its_signature() -> None:
    @pipeline
    def wrong() -> None:
        make(m=3)

    with pytest.raises(StepCallError, match=r"step 'make': .*unexpected keyword argument 'm'.*its signature is make\(n"):
        wrong.compile()


def test_tracer_is_removed_after_compiling_even_on_error() -> None:
    @pipeline
    def broken() -> None:
        make()
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        broken.compile()
    assert _tracing.current() is None
    assert make(2) == [0, 1]


def test_handle_repr_names_step_and_output() -> None:
    assert repr(OutputHandle("trainer", "model", int)) == "<output 'model' of step 'trainer'>"


def test_an_any_typed_input_accepts_every_producer() -> None:
    @step
    def anything(value: Any) -> str:
        return repr(value)

    @pipeline
    def loose() -> None:
        anything(text())
        anything(make())

    assert [n.name for n in loose.compile().nodes] == ["text", "anything", "make", "anything_2"]


def test_defaults_are_recorded_in_the_form_explicit_values_take() -> None:
    @step
    def tuned(lr: float = 1, data: Matrix | None = None) -> float:
        return lr

    @pipeline
    def defaults() -> None:
        tuned()

    assert defaults.compile().node("tuned").parameters == {"lr": 1.0, "data": None}
    assert isinstance(defaults.compile().node("tuned").parameters["lr"], float)
