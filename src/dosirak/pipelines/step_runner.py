"""Runs ONE step, for every orchestrator, in three named stages: prepare → compute → record.

- :func:`prepare` (the driving process): the cache key from the inputs' content hashes; a
  hit re-links the earlier outputs and the step is done; a miss marks the step running and
  returns the :class:`~dosirak.pipelines.invocation.StepInvocation` to compute.
- :func:`~dosirak.pipelines.invocation.compute` (anywhere the artifact store is reachable:
  this thread, another thread, a Ray worker): load inputs, call, materialize, hash, publish.
- :func:`record` (the driving process): run the outputs' hooks, then record the result
  with the step's status and where it computed (host, worker, resources) in one
  transaction. A failure leaves nothing half-written visible. A cache hit computed nowhere:
  its host and worker stay empty (the step run it reuses says where that one ran).

Orchestrators decide where and when a step computes; :func:`run_step` does all three here.
Every metadata-store call of a step is in this module.
"""

from __future__ import annotations

import logging
from typing import Any

from dosirak.artifacts.materializers import registry
from dosirak.errors import DosirakError
from dosirak.metadata.records import ArtifactRecord
from dosirak.pipelines import cache
from dosirak.pipelines.context import reset_step_context, set_step_context
from dosirak.pipelines.dag import StepNode
from dosirak.pipelines.invocation import (
    ArtifactStoreRef,
    Placement,
    StepInvocation,
    StepResult,
    compute,
    discard,
    failure,
    load,
)
from dosirak.pipelines.metrics import Logged, MetricLog
from dosirak.pipelines.run import CANCELLED_BY_USER, ActiveRun, StepOutcome
from dosirak.pipelines.step import OutputSpec
from dosirak.typehints import runtime_class

log = logging.getLogger(__name__)


def run_step(run: ActiveRun, node: StepNode) -> StepOutcome:
    """Run (or reuse from the cache) one node of ``run`` in this thread; record and return its outcome.

    Raises ``KeyboardInterrupt`` (after recording the step ``cancelled``) when the step was
    interrupted, and any other fatal exception it raised after recording it failed.
    """
    prepared = prepare(run, node)
    if isinstance(prepared, StepOutcome):
        return prepared
    return record(run, prepared, compute(prepared, run.artifact_store, live_log(run, prepared)))


def live_log(run: ActiveRun, invocation: StepInvocation) -> MetricLog:
    """Where a step computed in this process logs its metrics: written while it runs."""
    return run.metrics.open(invocation.step_run_id, invocation.name,
                            tuple(o.name for o in invocation.node.step.outputs))


def prepare(run: ActiveRun, node: StepNode) -> StepInvocation | StepOutcome:
    """The cache hit's outcome (recorded), or the invocation to compute (its step marked running)."""
    step_run_id = run.step_run_ids[node.name]
    inputs = {arg: run.outcomes[edge.step].outputs[edge.output] for arg, edge in node.inputs.items()}
    input_ids = {arg: a.id for arg, a in inputs.items()}
    parts = _cache_parts(node, inputs)
    key = cache.cache_key(parts)
    if node.enable_cache:
        hit = _reuse_cached(run, node, step_run_id, key, parts, input_ids)
        if hit is not None:
            return hit
    log_uri = run.artifact_store.log_path(run.id, node.name)
    run.store.runs.start_step(step_run_id, cache_key=key, cache_parts=parts,
                         source_code=node.step.source_code, inputs=input_ids, logs_uri=log_uri)
    run.step_started(node.name)
    return StepInvocation(pipeline_name=run.pipeline_name, run_id=run.id, run_name=run.name,
                          step_run_id=step_run_id, node=node, inputs=inputs,
                          artifact_store=ArtifactStoreRef.of(run.artifact_store), log_uri=log_uri)


def ready(run: ActiveRun, waiting: list[StepNode], room: int) -> list[StepNode]:
    """At most ``room`` of the waiting nodes whose upstream steps have all ended, in order."""
    found: list[StepNode] = []
    for node in waiting:
        if len(found) >= room:
            break
        if all(up in run.outcomes for up in node.upstream):
            found.append(node)
    return found


def begin(run: ActiveRun, node: StepNode) -> StepInvocation | None:
    """Skip ``node`` (an upstream step failed), take it from the cache, or return its invocation to compute.

    Every orchestrator starts a step through this; the outcome of a skip or a cache hit is
    in ``run.outcomes`` when it returns None.
    """
    blocker = run.blocked_by(node.name)
    if blocker is not None:
        run.skip(node.name, blocker)
        return None
    prepared = prepare(run, node)
    if isinstance(prepared, StepOutcome):
        run.outcomes[node.name] = prepared
        return None
    return prepared


def record(run: ActiveRun, invocation: StepInvocation, result: StepResult) -> StepOutcome:
    """Record what computing ``invocation`` gave, in one transaction; returns the step's outcome.

    The outputs' hooks run first (a raising hook fails the step, and its outputs are
    removed). A ``cancelled`` result is recorded, then ``KeyboardInterrupt`` is raised; a
    fatal one is recorded failed, then its exception is raised again.
    """
    name = invocation.name
    if result.status == "completed":
        result = _run_output_hooks(run, invocation, result)
    _record_logged(run, invocation.step_run_id, result.logged,
                   {k: a.id for k, a in result.outputs.items()} if result.status == "completed" else {})
    store = run.store
    where = _placement(invocation, result.placement)
    if result.status == "completed":
        try:
            store.runs.finish_step(invocation.step_run_id, status="completed", new_artifacts=result.new,
                                   outputs={k: a.id for k, a in result.outputs.items()}, attempts=result.attempts,
                                   logs_uri=result.logs_uri, **where)
        except BaseException:
            discard(run.artifact_store, [a.uri for a in result.new])  # no published output without its row
            raise
        run.step_ended(name, "completed")
        return StepOutcome("completed", outputs=result.outputs)
    store.runs.finish_step(invocation.step_run_id, status=result.status, error=result.error,
                           traceback=result.traceback, attempts=result.attempts, logs_uri=result.logs_uri, **where)
    if result.status == "cancelled":
        run.step_ended(name, "cancelled")
        raise result.fatal if isinstance(result.fatal, KeyboardInterrupt) else KeyboardInterrupt
    log.info("step '%s' failed: %s", name, result.error)  # the run's error says it to the user
    run.step_ended(name, "failed", note=result.error or "")
    if result.fatal is not None:
        raise result.fatal
    return StepOutcome("failed", error=result.error)


def record_cancelled(run: ActiveRun, invocation: StepInvocation) -> None:
    """Record ``invocation`` cancelled by the user while it computes elsewhere (its result will not be recorded)."""
    log_uri = invocation.log_uri if run.artifact_store.size(invocation.log_uri) is not None else None
    _record_logged(run, invocation.step_run_id, None, {})
    run.store.runs.finish_step(invocation.step_run_id, status="cancelled", error=CANCELLED_BY_USER, logs_uri=log_uri,
                               **_placement(invocation, Placement()))
    run.step_ended(invocation.name, "cancelled")


def _placement(invocation: StepInvocation, placement: Placement) -> dict[str, Any]:
    """Where the step computed, as the store records it; a worker that could not say (it died)
    leaves host and worker empty, and the request is then the step's own unless told."""
    resources = placement.resources or invocation.node.step.options.resources
    return {"host": placement.host, "worker": placement.worker, "resources": resources}


def _record_logged(run: ActiveRun, step_run_id: str, logged: Logged | None, outputs: dict[str, str]) -> None:
    """Write what the step logged and was not written yet (a failed step keeps its points too)."""
    try:
        run.metrics.finish(step_run_id, logged, outputs)
    except DosirakError as exc:  # the step's outcome is recorded all the same
        log.warning("could not record the metrics of step run %s: %s", step_run_id[:8], exc)


def _cache_parts(node: StepNode, inputs: dict[str, ArtifactRecord]) -> dict[str, Any]:
    out_materializers = {o.name: _materializer_version(node, o) for o in node.step.outputs}
    return cache.cache_parts(
        source_hash=node.step.source_hash,
        parameters=node.parameters,
        input_hashes={arg: a.content_hash for arg, a in inputs.items()},
        materializer_versions={**{f"in:{k}": f"{a.materializer}@{a.materializer_version}" for k, a in inputs.items()},
                               **{f"out:{k}": v for k, v in out_materializers.items()}},
    )


def _reuse_cached(run: ActiveRun, node: StepNode, step_run_id: str, key: str, parts: dict[str, Any],
                  input_ids: dict[str, str]) -> StepOutcome | None:
    """The outcome of a cache hit whose outputs are all still stored (recorded), else None."""
    expected = {o.name for o in node.step.outputs}
    gone: list[bool] = []

    def usable(outputs: dict[str, ArtifactRecord]) -> bool:
        if set(outputs) != expected:
            return False
        present = all(run.artifact_store.exists(a.uri) for a in outputs.values())
        gone.append(not present)
        return present

    hit = run.store.runs.reuse_cached(step_run_id, cache_key=key, cache_parts=parts, source_code=node.step.source_code,
                                 inputs=input_ids, usable=usable)
    if hit is not None:
        source_id, outputs = hit
        log.info("step '%s' cached (reusing step run %s)", node.name, source_id[:8])
        run.step_ended(node.name, "cached")
        return StepOutcome("cached", outputs=outputs)
    if any(gone):
        log.info("step '%s': cached outputs are gone from the artifact store; running it again", node.name)
    return None


def _materializer_version(node: StepNode, spec: OutputSpec) -> str:
    override = node.step.options.output_materializers.get(spec.name)
    cls = override or registry.materializer_class_for(runtime_class(spec.annotation))
    if cls is None:
        return "dynamic"
    return f"{cls.qualified_name()}@{cls.version}"


def _run_output_hooks(run: ActiveRun, invocation: StepInvocation, result: StepResult) -> StepResult:
    """Call each output's hooks (``Annotated`` metadata with ``on_output_published``), in the step's context.

    This is how ``Annotated[nn.Module, dk.ModelOutput("fashion_mnist")]`` turns an output
    into a model version without the engine knowing about models. A hook gets the value the
    step returned (loaded back from the artifact store when the step computed elsewhere). A
    hook that raises fails the step: the result becomes that failure, its outputs removed.
    """
    hooked = [(spec, hook) for spec in invocation.node.step.outputs for meta in spec.metadata
              if callable(hook := getattr(meta, "on_output_published", None))]
    if not hooked:
        return result
    outputs = result.outputs
    values = result.values or {}
    token = set_step_context(invocation.context(result.attempts))
    try:
        for spec, hook in hooked:
            value = values[spec.name] if spec.name in values else load(
                run.artifact_store, outputs[spec.name], spec.annotation)
            hook(value, artifact_id=outputs[spec.name].id, output_name=spec.name)
    except BaseException as exc:  # noqa: BLE001 - the hook's failure is the step's
        discard(run.artifact_store, [a.uri for a in result.new])
        failed = failure(exc, result.attempts)
        failed.logs_uri = result.logs_uri
        return failed
    finally:
        reset_step_context(token)
    return result


__all__ = ["begin", "live_log", "prepare", "ready", "record", "record_cancelled", "run_step"]
