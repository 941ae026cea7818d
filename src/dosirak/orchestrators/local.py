"""The local orchestrator: every step in this process, one after another, in DAG order."""

from __future__ import annotations

from typing import ClassVar

from dosirak.orchestrators.base import BaseOrchestrator
from dosirak.pipelines.run import ActiveRun
from dosirak.pipelines.step_runner import run_step


class LocalOrchestrator(BaseOrchestrator):
    """Runs steps sequentially in the calling process; a failed step skips its dependants."""

    flavor: ClassVar[str] = "local"
    config_model: ClassVar[str | None] = "dosirak.stack.configs:LocalOrchestratorConfig"

    def run_dag(self, run: ActiveRun) -> None:
        for node in run.dag.nodes:
            blocker = run.blocked_by(node.name)
            if blocker is not None:
                run.skip(node.name, blocker)
                continue
            run.outcomes[node.name] = run_step(run, node)


__all__ = ["LocalOrchestrator"]
