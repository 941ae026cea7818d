"""A step's invocation as a value that can travel, and computing it: the worker's half of a step.

The process driving a run decides that a step runs (its cache missed) and hands a
:class:`StepInvocation` to wherever the step runs: the same thread, another thread, another
process or machine. :func:`compute` loads the inputs, calls the function (retrying with
backoff), materializes each output into the artifact store, hashes it and publishes it, and
returns a :class:`StepResult`. It needs the artifact store, never the metadata store: the
driving process records the result (:func:`dosirak.pipelines.step_runner.record`), in one
transaction. Both values pickle (a step defined at module level travels by reference).
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dosirak.artifacts.hashing import hash_tree
from dosirak.artifacts.materializers import registry
from dosirak.errors import StepOutputError
from dosirak.metadata.records import ArtifactRecord
from dosirak.metadata.timeutil import utcnow
from dosirak.pipelines import logs, metrics
from dosirak.pipelines import parameters as params
from dosirak.pipelines.context import StepContext, reset_step_context, set_step_context
from dosirak.pipelines.dag import StepNode
from dosirak.pipelines.run import CANCELLED_BY_USER
from dosirak.pipelines.step import OutputSpec
from dosirak.statuses import StepStatus
from dosirak.typehints import runtime_class

if TYPE_CHECKING:
    from dosirak.artifacts.store import BaseArtifactStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArtifactStoreRef:
    """How a worker opens the run's artifact store: its class, name and config (with its root)."""

    cls: str  # "module:QualifiedName"
    name: str
    config: dict[str, Any]

    @classmethod
    def of(cls, store: BaseArtifactStore) -> ArtifactStoreRef:
        """The reference to ``store``; its root is written into the config, so a worker with
        another home opens the same place."""
        kind = type(store)
        return cls(f"{kind.__module__}:{kind.__qualname__}", store.name, {**store.config, "path": store.root})

    def open(self) -> BaseArtifactStore:
        """The store this names, built through its class as the stack builds it."""
        module_name, _, qualname = self.cls.partition(":")
        kind: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            kind = getattr(kind, part)
        store: BaseArtifactStore = kind.from_config(self.name, dict(self.config))
        return store


@dataclass(frozen=True)
class StepInvocation:
    """One step of one run, ready to compute anywhere the artifact store is reachable."""

    pipeline_name: str
    run_id: str
    run_name: str
    step_run_id: str
    node: StepNode
    #: the input artifacts, by argument name
    inputs: dict[str, ArtifactRecord]
    artifact_store: ArtifactStoreRef
    #: where the step's log goes (kept only if the step wrote something)
    log_uri: str

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def parameters(self) -> dict[str, Any]:
        """The step's parameters as JSON values."""
        return self.node.parameters

    def context(self, attempt: int) -> StepContext:
        return StepContext(pipeline_name=self.pipeline_name, run_id=self.run_id, run_name=self.run_name,
                           step_name=self.node.name, step_run_id=self.step_run_id, attempt=attempt)


@dataclass(frozen=True)
class Placement:
    """Where a step computed: the machine, the worker on it, and the resources it asked for.

    ``host`` is the machine's name (and, on a cluster, its address); ``worker`` names the
    worker so that steps that ran on the same one can be matched (``pid 4242 thread
    worker-2``, or a Ray worker and node id); ``resources`` is the request (``cpus``,
    ``gpus``, ``memory`` in bytes, custom ones), empty when the step asked for nothing.
    Computed by the worker itself and returned with the result; the driving process records it.
    """

    host: str | None = None
    worker: str | None = None
    resources: dict[str, float] = field(default_factory=dict)

    @classmethod
    def here(cls, resources: dict[str, float]) -> Placement:
        """This thread of this process on this machine, holding ``resources``."""
        return cls(host=socket.gethostname(), worker=f"pid {os.getpid()} thread {threading.current_thread().name}",
                   resources=dict(resources))


@dataclass
class StepResult:
    """What computing a step produced: published outputs, or the failure; and its log.

    ``status`` is ``completed``, ``failed`` or ``cancelled`` (the step raised
    ``KeyboardInterrupt``). ``fatal`` holds an exception that must stop the run after it is
    recorded (``SystemExit`` and the like). ``values`` are the outputs' Python values, kept
    only in the process that computed them (they do not pickle with the result).
    """

    status: StepStatus
    new: list[ArtifactRecord] = field(default_factory=list)
    error: str | None = None
    traceback: str | None = None
    attempts: int = 1
    logs_uri: str | None = None
    fatal: BaseException | None = None
    values: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    #: what the step logged (``dk.log_metric``...) and was not written while it ran
    logged: metrics.Logged | None = field(default=None, repr=False)
    #: where it computed (empty when that is not known: the worker died before saying)
    placement: Placement = field(default_factory=Placement)

    @property
    def outputs(self) -> dict[str, ArtifactRecord]:
        return {a.name: a for a in self.new}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "values": None}


def compute(invocation: StepInvocation, artifact_store: BaseArtifactStore | None = None,
            metric_log: metrics.MetricLog | None = None) -> StepResult:
    """Run the step of ``invocation``: load inputs, call it (retrying with backoff), publish its outputs.

    Its stdout, stderr and logging go to the console and to its log in the artifact store.
    Never raises for the step's own failure: that is the result. Nothing half-written stays
    visible: outputs published before a failure are removed. The result says where the step
    computed (:meth:`Placement.here`: this machine, process and thread).

    Args:
        invocation: The step to compute.
        artifact_store: The run's artifact store when this process has it open; by default
            it is opened from ``invocation.artifact_store``.
        metric_log: Where the step's ``dk.log_metric`` calls go when the driving process
            writes them while the step runs; by default they are kept and returned in the
            result (``result.logged``), whatever its status.
    """
    node = invocation.node
    if metric_log is None:
        metric_log = metrics.MetricLog(invocation.step_run_id, node.name, tuple(o.name for o in node.step.outputs))
    token = metrics.activate(metric_log)
    try:
        result = _compute(invocation, artifact_store)
    finally:
        metrics.deactivate(token)
    result.logged = metric_log.take(everything=True)
    return result


def _compute(invocation: StepInvocation, artifact_store: BaseArtifactStore | None) -> StepResult:
    node = invocation.node
    options = node.step.options
    placement = Placement.here(options.resources)
    store = artifact_store if artifact_store is not None else invocation.artifact_store.open()
    delay = options.retry_delay_s
    attempts = 0
    with logs.capture(store, invocation.log_uri) as sink:
        while True:
            attempts += 1
            try:
                new, values = _attempt(invocation, store, attempts)
            except BaseException as exc:  # noqa: BLE001 - every failure becomes the result
                fatal = not isinstance(exc, Exception)
                if not fatal and attempts <= options.retries:
                    log.warning("step '%s' failed (attempt %d of %d): %s; retrying in %.1fs",
                                node.name, attempts, options.retries + 1, exc, delay)
                    time.sleep(delay)
                    delay *= options.retry_backoff
                    continue
                result = failure(exc, attempts)
                break
            result = StepResult("completed", new=new, attempts=attempts, values=values)
            break
    result.logs_uri = invocation.log_uri if sink.used else None
    result.placement = placement
    return result


def failure(exc: BaseException, attempts: int) -> StepResult:
    """The result of a step that raised ``exc`` (at its last attempt)."""
    # start at the frame below the one that caught it: the user's code (or the materializer) that raised
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None))
    if isinstance(exc, KeyboardInterrupt):  # Ctrl-C: the user stopped it, nothing failed
        return StepResult("cancelled", error=CANCELLED_BY_USER, traceback=tb, attempts=attempts, fatal=exc)
    error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return StepResult("failed", error=error, traceback=tb, attempts=attempts,
                      fatal=None if isinstance(exc, Exception) else exc)


def _attempt(invocation: StepInvocation, store: BaseArtifactStore,
             attempt: int) -> tuple[list[ArtifactRecord], dict[str, Any]]:
    node = invocation.node
    kwargs = {k: params.from_json(v, node.step.hints.get(k)) for k, v in node.parameters.items()}
    for arg, artifact in invocation.inputs.items():
        kwargs[arg] = load(store, artifact, node.step.hints.get(arg))
    token = set_step_context(invocation.context(attempt))
    try:
        values = _split(node, node.step.func(**kwargs))
        return _save_outputs(invocation, store, values), values
    finally:
        reset_step_context(token)


def discard(store: BaseArtifactStore, uris: list[str]) -> None:
    """Remove published outputs that will not be recorded (nothing visible without its row).

    Every one is tried, through the artifact store (on any backend), whatever the others do.
    """
    for uri in uris:
        try:
            store.delete(uri)
        except Exception:  # noqa: BLE001 - `dosirak gc` removes what is left
            log.warning("could not remove unrecorded output %s; `dosirak gc` will", uri, exc_info=True)


def load(store: BaseArtifactStore, artifact: ArtifactRecord, annotation: Any) -> Any:
    """The Python value of ``artifact``, loaded by its materializer as ``annotation``."""
    materializer = registry.by_name(artifact.materializer)
    with store.local_copy(artifact.uri) as path:
        return materializer.load(path, runtime_class(annotation))


def _split(node: StepNode, value: Any) -> dict[str, Any]:
    specs = node.step.outputs
    if not specs:
        return {}
    if len(specs) == 1:
        return {specs[0].name: value}
    if not isinstance(value, (tuple, list)) or len(value) != len(specs):
        raise StepOutputError(
            f"step '{node.name}' declares {len(specs)} outputs ({', '.join(s.name for s in specs)}) "
            f"but returned {type(value).__name__}; return a tuple of {len(specs)} values"
        )
    return {spec.name: v for spec, v in zip(specs, value, strict=True)}


def _check_type(node: StepNode, spec: OutputSpec, value: Any) -> None:
    declared = runtime_class(spec.annotation)
    if declared is None or declared is type(None) and value is None:
        return
    if declared is float and isinstance(value, int) and not isinstance(value, bool):
        return
    if not isinstance(value, declared):
        raise StepOutputError(
            f"step '{node.name}' output '{spec.name}' is declared as {declared.__qualname__} "
            f"but the step returned {type(value).__qualname__}; fix the return value or the type hint"
        )


def _save_outputs(invocation: StepInvocation, store: BaseArtifactStore, values: dict[str, Any]) -> list[ArtifactRecord]:
    node = invocation.node
    new: list[ArtifactRecord] = []
    published: list[str] = []  # and the one being published: a store may fail part-way through it
    try:
        for spec in node.step.outputs:
            obj = values[spec.name]
            _check_type(node, spec, obj)
            override = node.step.options.output_materializers.get(spec.name)
            materializer = registry.instance(override) if override else registry.for_type(type(obj))
            uri = store.location(invocation.run_id, node.name, spec.name)
            with store.staging(uri) as staged:
                materializer.save(obj, staged)
                content_hash, size = hash_tree(staged)
                summary = _summary(materializer, obj)
                published.append(uri)
                store.publish(staged, uri)
            new.append(ArtifactRecord(
                id=str(uuid.uuid4()), uri=uri, type=registry.qualified_name(type(obj)),
                materializer=type(materializer).qualified_name(), materializer_version=materializer.version,
                content_hash=content_hash, size=size, producer_step_run_id=invocation.step_run_id, name=spec.name,
                created_at=utcnow(), summary=summary,
            ))
    except BaseException:
        discard(store, published)  # nothing half-written stays behind
        raise
    return new


def _summary(materializer: Any, obj: Any) -> dict[str, Any]:
    try:
        return dict(materializer.summary(obj))
    except Exception:  # noqa: BLE001 - a summary is a nicety, never a failure
        log.debug("summary failed for %s", type(obj), exc_info=True)
        return {}


__all__ = ["ArtifactStoreRef", "Placement", "StepInvocation", "StepResult", "compute", "discard", "failure", "load"]
