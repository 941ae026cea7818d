"""The orchestrator seam: WHERE and WHEN steps run, never HOW.

How to implement an orchestrator: subclass :class:`BaseOrchestrator`, set ``flavor``,
and implement :meth:`run_dag`. For each step once its upstream steps finished (or
``run.skip`` when one of them failed), in the thread that called ``run_dag``: call
:func:`dosirak.pipelines.step_runner.prepare` (a cache hit is its outcome), compute the
returned :class:`~dosirak.pipelines.invocation.StepInvocation` wherever you like with
:func:`dosirak.pipelines.invocation.compute` (it pickles; the worker needs the artifact
store, never the metadata store; its result's ``placement`` says where it ran: this host,
process and thread, which a worker that knows better replaces, as ``ray`` does with its
worker and node ids), and hand its result to
:func:`dosirak.pipelines.step_runner.record`, storing the outcome in ``run.outcomes``.
:class:`RunDriver` does all of this but the where: subclass it, say how a step starts
computing and how a finished one is collected, and call :meth:`RunDriver.drive` from
``run_dag``. Register the class in the ``dosirak.orchestrators`` entry-point group.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from dosirak.pipelines import logs
from dosirak.pipelines.invocation import StepInvocation
from dosirak.pipelines.run import ActiveRun
from dosirak.pipelines.step_runner import begin, ready
from dosirak.stack.component import StackComponent


class BaseOrchestrator(StackComponent, ABC):
    """Runs the steps of an :class:`ActiveRun`."""

    component_type: ClassVar[str] = "orchestrator"

    @classmethod
    def from_config(cls, name: str, config: dict[str, Any]) -> BaseOrchestrator:
        """The orchestrator ``name`` of a stack, from its validated ``config``."""
        return cls(name, config)

    @abstractmethod
    def run_dag(self, run: ActiveRun) -> None:
        """Run every step of ``run.dag``, filling ``run.outcomes``."""


class RunDriver(ABC):
    """Drives one run from the thread that calls :meth:`drive`: every step once its upstream ended.

    The driving thread skips a step whose upstream failed, takes a step from the cache, and
    records each result; only where a step computes and how its result comes back are the
    subclass's (:meth:`start`, :meth:`collect`). ``running`` holds the steps computing now.
    """

    def __init__(self, run: ActiveRun) -> None:
        self.active = run
        #: the steps not begun yet, in the pipeline's order (a topological one)
        self.waiting = list(run.dag.nodes)
        #: the steps computing now, by whatever the subclass tells them apart with
        self.running: dict[Any, StepInvocation] = {}

    def drive(self) -> None:
        """Run every step of the run; on Ctrl-C record the running ones cancelled and raise it again."""
        with logs.driving():
            try:
                while self.waiting or self.running:
                    self.start_ready()
                    if self.running:
                        self.collect()
            except KeyboardInterrupt:
                self.cancel_running()
                raise

    def start_ready(self) -> None:
        """Begin every step that can start now: skipped and cached ones end here, the others :meth:`start`."""
        run = self.active
        while True:  # a skipped, cached or finished step may make more ready
            nodes = ready(run, self.waiting, self.room())
            if not nodes:
                return
            to_start: list[StepInvocation] = []
            for node in nodes:
                self.waiting.remove(node)
                invocation = begin(run, node)
                if invocation is not None:
                    to_start.append(invocation)
            if to_start:
                self.start(to_start)

    def room(self) -> int:
        """How many more steps may start now (default: all of them)."""
        return len(self.waiting)

    @abstractmethod
    def start(self, invocations: list[StepInvocation]) -> None:
        """Have these steps computed (each added to ``running``, or recorded before this returns)."""

    @abstractmethod
    def collect(self) -> None:
        """Record the next step to finish computing (or return after a short wait)."""

    @abstractmethod
    def cancel_running(self) -> None:
        """Ctrl-C: record every step in ``running`` cancelled (setting ``active.interrupted``)."""


__all__ = ["BaseOrchestrator", "RunDriver"]
