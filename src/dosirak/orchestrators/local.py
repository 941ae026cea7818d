"""The local orchestrator: every step in this process; independent branches at once, on threads.

A step starts as soon as every step it depends on has finished, up to ``max_parallel``
steps at a time (default: the number of CPU cores). A step that is the only one able to run
until it ends (a chain; always with ``max_parallel=1``) runs in the calling thread, with no
thread hand-off; with ``max_parallel=1`` the steps run one after another in the pipeline's order. Steps run on threads of
this process: a step that holds Python's GIL (pure-Python number crunching) keeps the others
waiting; steps that wait (I/O, sleeping) or compute in native code that releases the GIL
(numpy, torch) run side by side. Each step run records where it computed: this machine's
name, and ``pid PID thread dosirak-worker-N``, N the lowest number free when it started
(or the calling thread's name, e.g. ``MainThread``, for a step run there). A failing step
skips what depends on it; the other branches go on. Only this thread (the one driving the run) writes to the metadata store.
Ctrl-C records the steps running on other threads as cancelled; Python cannot stop a
thread, so they finish (or end with the process) unrecorded.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, ClassVar

from dosirak.orchestrators.base import BaseOrchestrator, RunDriver
from dosirak.pipelines.invocation import StepInvocation, StepResult, compute, failure
from dosirak.pipelines.metrics import MetricLog
from dosirak.pipelines.run import ActiveRun
from dosirak.pipelines.step_runner import live_log, record, record_cancelled

if TYPE_CHECKING:
    import queue

    from dosirak.artifacts.store import BaseArtifactStore

#: how often the driving thread wakes while waiting for steps (Ctrl-C is seen at once anyway)
_WAKE_S = 0.5


class LocalOrchestrator(BaseOrchestrator):
    """Runs steps in the calling process, independent ones in parallel up to ``max_parallel``."""

    flavor: ClassVar[str] = "local"
    config_model: ClassVar[str | None] = "dosirak.stack.configs:LocalOrchestratorConfig"

    @property
    def max_parallel(self) -> int:
        """How many steps may run at once (the config's ``max_parallel``, else the CPU cores)."""
        configured = self.config.get("max_parallel")
        return int(configured) if configured else max(os.cpu_count() or 1, 1)

    def run_dag(self, run: ActiveRun) -> None:
        _Branches(run, self.max_parallel).drive()


class _Branches(RunDriver):
    """Computes a step in this thread when it is the only one able to run, else on threads."""

    def __init__(self, run: ActiveRun, limit: int) -> None:
        super().__init__(run)
        self.limit = limit
        self.lanes: dict[str, int] = {}  # a running step's worker thread: dosirak-worker-1, -2, ...
        #: where the steps' threads hand their results back (made with the first thread: a chain needs none)
        self.done: queue.SimpleQueue[tuple[StepInvocation, StepResult]] | None = None

    def room(self) -> int:
        return self.limit - len(self.running)

    def start(self, invocations: list[StepInvocation]) -> None:
        run = self.active
        if len(invocations) == 1 and not self.running:
            # the only step that can run until it ends (a chain, or limit 1): in this thread, as
            # plain sequential code: no thread hand-off, and Ctrl-C reaches the step
            invocation = invocations[0]
            run.outcomes[invocation.name] = record(
                run, invocation, compute(invocation, run.artifact_store, live_log(run, invocation)))
            return
        if self.done is None:
            import queue  # lazy: startup: a chain of steps runs on the driving thread, no queue

            self.done = queue.SimpleQueue()
        for invocation in invocations:
            self.running[invocation.name] = invocation
            lane = self.lanes[invocation.name] = self.free_lane()
            threading.Thread(target=_compute, args=(invocation, run.artifact_store, live_log(run, invocation),
                                                    self.done),
                             daemon=True, name=f"dosirak-worker-{lane}").start()

    def free_lane(self) -> int:
        """The lowest worker number no running step holds: steps that ran one after another on
        the same number show so in their placement (``pid 4242 thread dosirak-worker-1``)."""
        held = set(self.lanes.values())
        return next(n for n in range(1, len(held) + 2) if n not in held)

    def collect(self) -> None:
        """Record the next step to finish (waking now and then: Ctrl-C is seen at once anyway)."""
        if self.done is None:  # no step was started on a thread
            return
        import queue  # lazy: startup: imported by start(), which made self.done

        try:
            invocation, result = self.done.get(timeout=_WAKE_S)
        except queue.Empty:
            return
        del self.running[invocation.name]
        del self.lanes[invocation.name]
        self.active.outcomes[invocation.name] = record(self.active, invocation, result)

    def cancel_running(self) -> None:
        """Ctrl-C while steps run on other threads: each one is recorded cancelled.

        Python cannot stop a thread: those steps are left to finish or to end with the
        process; what they write afterwards is never recorded, and the next run (or
        ``dosirak gc``) removes it from the artifact store.
        """
        names = [n.name for n in self.active.dag.nodes if n.name in self.running]
        for name in names:
            record_cancelled(self.active, self.running.pop(name))
        if names:
            self.active.interrupted = names[0]


def _compute(invocation: StepInvocation, artifact_store: BaseArtifactStore, metric_log: MetricLog,
             done: queue.SimpleQueue[tuple[StepInvocation, StepResult]]) -> None:
    """A step's thread: compute it and hand the result to the driving thread, whatever happens."""
    result: StepResult
    try:
        result = compute(invocation, artifact_store, metric_log)
    except BaseException as exc:  # noqa: BLE001 - e.g. its log could not be opened: the driver records it
        result = failure(exc, 1)
    done.put((invocation, result))


__all__ = ["LocalOrchestrator"]
