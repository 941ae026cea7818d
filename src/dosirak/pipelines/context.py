"""What a running step can know about itself: ``get_step_context()``."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class StepContext:
    """The run and step a step function is executing in."""

    pipeline_name: str
    run_id: str
    run_name: str
    step_name: str
    step_run_id: str
    attempt: int


_current: ContextVar[StepContext | None] = ContextVar("dosirak_step_context", default=None)


def get_step_context() -> StepContext | None:
    """The context of the step running now, or None outside a pipeline run.

    Example::

        @step
        def trainer(...) -> Model:
            ctx = get_step_context()
            print(ctx.run_id if ctx else "called directly")
    """
    return _current.get()


def set_step_context(ctx: StepContext | None) -> object:
    return _current.set(ctx)


def reset_step_context(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


__all__ = ["StepContext", "get_step_context", "reset_step_context", "set_step_context"]
