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
Register the class in the ``dosirak.orchestrators`` entry-point group.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from dosirak.pipelines.run import ActiveRun
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


__all__ = ["BaseOrchestrator"]
