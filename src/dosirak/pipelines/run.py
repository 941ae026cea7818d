"""One execution of a pipeline: recorded up front, kept alive by a heartbeat, closed once."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dosirak.artifacts.gc import sweep_abandoned
from dosirak.artifacts.remote_gc import sweep_reaped
from dosirak.metadata.records import ArtifactRecord
from dosirak.pipelines.metrics import MetricsRecorder
from dosirak.pipelines.progress import RunProgress
from dosirak.statuses import RunStatus, StepStatus

if TYPE_CHECKING:
    from dosirak.artifacts.store import BaseArtifactStore
    from dosirak.metadata.store import MetadataStore
    from dosirak.pipelines.dag import DAG
    from dosirak.pipelines.progress import RunProgress

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_S = 15.0
#: The error of a run, and of its running step, that the user stopped (Ctrl-C, SIGINT).
CANCELLED_BY_USER = "cancelled by the user"


@dataclass
class StepOutcome:
    """What became of one step in this run."""

    status: StepStatus  # completed | cached | failed | skipped | cancelled
    outputs: dict[str, ArtifactRecord] = field(default_factory=dict)
    error: str | None = None


class ActiveRun:
    """A run in progress: the DAG, where it is recorded, and each step's outcome so far.

    Building one does no I/O; :meth:`start` records it. Its state is changed only by the
    thread driving the run (the orchestrator's), never by the threads computing steps.
    """

    def __init__(
        self,
        dag: DAG,
        *,
        store: MetadataStore,
        artifact_store: BaseArtifactStore,
        parameters: dict[str, Any],
        config: dict[str, Any],
        stack_name: str | None,
        orchestrator: str | None,
        progress: RunProgress | None = None,
    ) -> None:
        self.dag = dag
        self.progress = progress if progress is not None else RunProgress()
        self.started = time.monotonic()
        #: the steps running now, and since when (``time.monotonic()``)
        self.running: dict[str, float] = {}
        #: the step that was running when the user cancelled the run
        self.interrupted: str | None = None
        self.store = store
        self.artifact_store = artifact_store
        self.id = str(uuid.uuid4())
        self.name = f"{dag.pipeline_name}-{datetime.now().strftime('%Y_%m_%d-%H_%M_%S_%f')}"
        self.pipeline_name = dag.pipeline_name
        self.step_run_ids = {node.name: str(uuid.uuid4()) for node in dag.nodes}
        self.outcomes: dict[str, StepOutcome] = {}
        #: writes what the steps log (``dk.log_metric``) to the store
        self.metrics = MetricsRecorder(store)
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._parameters = parameters
        self._config = config
        self._stack_name = stack_name
        self._orchestrator = orchestrator

    def start(self) -> None:
        """Record the run and its steps (pending), start its heartbeat, and show it starting.

        Runs killed earlier are marked failed and what they left in the artifact store is
        removed first. Nothing is written before this is called.
        """
        dag = self.dag
        self.started = time.monotonic()
        reaped = self.store.runs.reap_abandoned_runs()
        self._sweep_abandoned(reaped)
        self.store.runs.create_run(
            run_id=self.id, name=self.name, pipeline_name=dag.pipeline_name, parameters=self._parameters,
            config=self._config, dag=dag.to_json(), stack_name=self._stack_name, orchestrator=self._orchestrator,
            steps=[{"id": self.step_run_ids[n.name], "name": n.name, "step_type": n.step.step_type,
                    "parameters": n.parameters, "cache_enabled": n.enable_cache} for n in dag.nodes],
        )
        self._beat = threading.Thread(target=self._heartbeat, name=f"dosirak-heartbeat-{self.id[:8]}", daemon=True)
        self._beat.start()
        log.info("run %s of pipeline '%s' started (%d steps)", self.name, self.pipeline_name, len(dag.nodes))
        self.progress.run_started(self.name, [n.name for n in dag.nodes])

    def _sweep_abandoned(self, reaped: list[str]) -> None:
        """Remove what runs killed mid-write left in the artifact store (never a live run's files).

        Runs just marked failed by ``reap_abandoned_runs`` (and, in a local store, any other
        ended run) lose their staging area and the outputs they published without recording
        them; see :func:`dosirak.artifacts.gc.sweep_abandoned` for how a live run is told
        apart. In a remote store (S3) only the prefixes of the runs in ``reaped`` are listed
        (:func:`dosirak.artifacts.remote_gc.sweep_reaped`).
        """
        try:
            sweep_abandoned(self.store, self.artifact_store)
            sweep_reaped(self.store, self.artifact_store, reaped)
        except Exception:  # noqa: BLE001 - cleaning up must not stop a run; `dosirak gc` does it too
            log.warning("could not clean up after killed runs; `dosirak gc` will", exc_info=True)

    def _release(self) -> None:
        try:
            self.artifact_store.release_run(self.id)
        except Exception:  # noqa: BLE001 - the next run or `dosirak gc` removes it
            log.debug("could not remove the staging area of run %s", self.id, exc_info=True)

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_INTERVAL_S):
            try:
                self.store.runs.heartbeat(self.id)
            except Exception:  # noqa: BLE001 - a missed beat is not fatal
                log.debug("heartbeat failed", exc_info=True)

    def step_started(self, step_name: str) -> None:
        """Step ``step_name`` starts running (not for a cache hit): the display shows it."""
        self.running[step_name] = time.monotonic()
        self.progress.step_started(step_name)

    def step_ended(self, step_name: str, status: StepStatus, note: str = "") -> None:
        """Step ``step_name`` ended as ``status``: the display shows it, with its time if it ran."""
        started = self.running.pop(step_name, None)
        if status == "cancelled":
            self.interrupted = step_name
        self.progress.step_finished(step_name, status, None if started is None else time.monotonic() - started, note)

    def blocked_by(self, step_name: str) -> str | None:
        """The upstream step that failed or was skipped, if any."""
        for upstream in self.dag.node(step_name).upstream:
            outcome = self.outcomes.get(upstream)
            if outcome is None or outcome.status in ("failed", "skipped"):
                return upstream
        return None

    def skip(self, step_name: str, because: str) -> None:
        reason = f"skipped because step '{because}' did not finish"
        self.outcomes[step_name] = StepOutcome("skipped", error=reason)
        self.store.runs.skip_steps(self.id, [step_name], reason)
        self.step_ended(step_name, "skipped", note=f"step '{because}' did not finish")

    def finish(self) -> RunStatus:
        """Close the run: ``failed`` if any step failed, else ``completed``. Returns the status."""
        self._stop.set()
        self.metrics.stop()
        self._release()
        failed = [name for name, o in self.outcomes.items() if o.status == "failed"]
        missing = [n.name for n in self.dag.nodes if n.name not in self.outcomes]
        if missing:
            self.store.runs.skip_steps(self.id, missing, "the run stopped before this step ran")
        if failed:
            first = self.outcomes[failed[0]]
            error = f"step '{failed[0]}' failed: {first.error}"
            self.store.runs.finish_run(self.id, status="failed", error=error)
            log.info("run %s failed: %s", self.name, error)
            self.progress.run_finished(self.name, "failed", time.monotonic() - self.started,
                                       steps=len(self.dag.nodes), cached=self._cached(), error=error)
            return "failed"
        self.store.runs.finish_run(self.id, status="completed")
        cached = self._cached()
        log.info("run %s completed (%d steps, %d cached)", self.name, len(self.outcomes), cached)
        self.progress.run_finished(self.name, "completed", time.monotonic() - self.started,
                                   steps=len(self.dag.nodes), cached=cached)
        return "completed"

    def _cached(self) -> int:
        return sum(1 for o in self.outcomes.values() if o.status == "cached")

    def abort(self, error: str) -> None:
        """Close the run as failed after an error outside any step."""
        self._stop.set()
        self.metrics.stop()
        self._release()
        missing = [n.name for n in self.dag.nodes if n.name not in self.outcomes]
        self.store.runs.skip_steps(self.id, missing, error)
        self.store.runs.finish_run(self.id, status="failed", error=error)
        log.info("run %s failed: %s", self.name, error)

    def cancel(self) -> str:
        """Close the run as ``cancelled`` after Ctrl-C; returns the one line that says so.

        The step that was running becomes ``cancelled``, the steps after it ``skipped``;
        what finished stays, so a rerun takes the finished steps from the cache.
        """
        self._stop.set()
        self.metrics.stop()
        self._release()
        step = self.interrupted or next(iter(self.running), None)
        during = f" during step '{step}'" if step else ""
        self.store.runs.cancel_run(self.id, error=f"{CANCELLED_BY_USER}{during}",
                              skipped_because=f"the run was {CANCELLED_BY_USER}")
        line = f"run {self.name} {CANCELLED_BY_USER}{during}; {self._resume_hint()}"
        log.info("%s", line)
        self.progress.run_cancelled(line)
        return line

    def _resume_hint(self) -> str:
        """What a rerun with the same parameters does with the steps that finished."""
        kept = [n.name for n in self.dag.nodes
                if n.name in self.outcomes and self.outcomes[n.name].status in ("completed", "cached")
                and n.enable_cache]
        lost = [n.name for n in self.dag.nodes
                if n.name in self.outcomes and self.outcomes[n.name].status == "completed" and not n.enable_cache]
        if kept:
            return (f"a rerun resumes from the cache ({len(kept)} finished step{'s' if len(kept) > 1 else ''} "
                    "reused)")
        if lost:
            return "a rerun starts over (the steps that finished have caching off)"
        return "no step had finished, a rerun starts from the first one"


__all__ = ["CANCELLED_BY_USER", "ActiveRun", "StepOutcome"]
