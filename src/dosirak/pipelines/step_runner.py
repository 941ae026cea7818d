"""Runs ONE step, for every orchestrator: inputs → cache → call → materialize → publish.

Orchestrators decide where and when a step runs; this module is how. Outputs are
written to a staging directory, hashed, moved into place, and only then recorded in the
metadata store with the step's status, in one transaction: a failure leaves nothing
half-written visible.
"""

from __future__ import annotations

import logging
import time
import traceback
import uuid
from typing import Any

from dosirak.artifacts.hashing import hash_tree
from dosirak.artifacts.materializers import registry
from dosirak.errors import StepOutputError
from dosirak.metadata.records import ArtifactRecord
from dosirak.metadata.timeutil import utcnow
from dosirak.pipelines import cache, logs
from dosirak.pipelines import parameters as params
from dosirak.pipelines.context import StepContext, reset_step_context, set_step_context
from dosirak.pipelines.dag import StepNode
from dosirak.pipelines.run import CANCELLED_BY_USER, ActiveRun, StepOutcome
from dosirak.pipelines.step import OutputSpec
from dosirak.typehints import runtime_class

log = logging.getLogger(__name__)


def run_step(run: ActiveRun, node: StepNode) -> StepOutcome:
    """Run (or reuse from the cache) one node of ``run``; record and return its outcome."""
    step_run_id = run.step_run_ids[node.name]
    inputs = {arg: run.outcomes[edge.step].outputs[edge.output] for arg, edge in node.inputs.items()}
    input_ids = {arg: a.id for arg, a in inputs.items()}
    out_materializers = {o.name: _materializer_version(node, o) for o in node.step.outputs}
    parts = cache.cache_parts(
        source_hash=node.step.source_hash,
        parameters=node.parameters,
        input_hashes={arg: a.content_hash for arg, a in inputs.items()},
        materializer_versions={**{f"in:{k}": f"{a.materializer}@{a.materializer_version}" for k, a in inputs.items()},
                               **{f"out:{k}": v for k, v in out_materializers.items()}},
    )
    key = cache.cache_key(parts)
    store = run.store

    if node.enable_cache:
        expected = {o.name for o in node.step.outputs}
        gone: list[bool] = []

        def usable(outputs: dict[str, ArtifactRecord]) -> bool:
            if set(outputs) != expected:
                return False
            present = all(run.artifact_store.exists(a.uri) for a in outputs.values())
            gone.append(not present)
            return present

        hit = store.reuse_cached(step_run_id, cache_key=key, cache_parts=parts, source_code=node.step.source_code,
                                 inputs=input_ids, usable=usable)
        if hit is not None:
            source_id, outputs = hit
            log.info("step '%s' cached (reusing step run %s)", node.name, source_id[:8])
            run.step_ended(node.name, "cached")
            return StepOutcome("cached", outputs=outputs)
        if any(gone):
            log.info("step '%s': cached outputs are gone from the artifact store; running it again", node.name)

    log_uri = run.artifact_store.log_path(run.id, node.name)
    store.start_step(step_run_id, cache_key=key, cache_parts=parts,
                     source_code=node.step.source_code, inputs=input_ids, logs_uri=log_uri)
    run.step_started(node.name)
    attempts = 0
    options = node.step.options
    delay = options.retry_delay_s
    with logs.capture(run.artifact_store, log_uri) as sink:
        while True:
            attempts += 1
            ctx = StepContext(pipeline_name=run.pipeline_name, run_id=run.id, run_name=run.name,
                              step_name=node.name, step_run_id=step_run_id, attempt=attempts)
            try:
                kwargs = {k: params.from_json(v, node.step.hints.get(k)) for k, v in node.parameters.items()}
                for arg, artifact in inputs.items():
                    kwargs[arg] = _load(run, artifact, node.step.hints.get(arg))
                token = set_step_context(ctx)
                try:
                    value = node.step.func(**kwargs)
                    values = _split(node, value)
                    new, outputs = _save_outputs(run, node, step_run_id, values)
                    try:
                        _run_output_hooks(node, values, outputs)
                    except BaseException:
                        _discard(run, [a.uri for a in new])
                        raise
                finally:
                    reset_step_context(token)
            except BaseException as exc:  # noqa: BLE001 - every failure is recorded first
                # start at the frame below this one: the user's code (or the materializer) that raised
                tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None))
                fatal = not isinstance(exc, Exception)
                if not fatal and attempts <= options.retries:
                    log.warning("step '%s' failed (attempt %d of %d): %s; retrying in %.1fs",
                                node.name, attempts, options.retries + 1, exc, delay)
                    time.sleep(delay)
                    delay *= options.retry_backoff
                    continue
                if isinstance(exc, KeyboardInterrupt):  # Ctrl-C: the user stopped it, nothing failed
                    store.finish_step(step_run_id, status="cancelled", error=CANCELLED_BY_USER, traceback=tb,
                                      attempts=attempts, logs_uri=None if not sink.used else log_uri)
                    run.step_ended(node.name, "cancelled")
                    raise
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                store.finish_step(step_run_id, status="failed", error=error, traceback=tb, attempts=attempts,
                                  logs_uri=None if not sink.used else log_uri)
                log.info("step '%s' failed: %s", node.name, error)  # the run's error says it to the user
                run.step_ended(node.name, "failed", note=error)
                if fatal:
                    raise
                return StepOutcome("failed", error=error)
            break
    try:
        store.finish_step(step_run_id, status="completed", new_artifacts=new,
                          outputs={k: a.id for k, a in outputs.items()}, attempts=attempts,
                          logs_uri=log_uri if sink.used else None)
    except BaseException:
        _discard(run, [a.uri for a in new])  # e.g. the store's disk filled up: no published output without its row
        raise
    run.step_ended(node.name, "completed")
    return StepOutcome("completed", outputs=outputs)


def _discard(run: ActiveRun, uris: list[str]) -> None:
    """Remove published outputs that will not be recorded (nothing visible without its row).

    Every one is tried, through the artifact store (on any backend), whatever the others do.
    """
    for uri in uris:
        try:
            run.artifact_store.delete(uri)
        except Exception:  # noqa: BLE001 - `dosirak gc` removes what is left
            log.warning("could not remove unrecorded output %s; `dosirak gc` will", uri, exc_info=True)


def _materializer_version(node: StepNode, spec: OutputSpec) -> str:
    override = node.step.options.output_materializers.get(spec.name)
    cls = override or registry.materializer_class_for(runtime_class(spec.annotation))
    if cls is None:
        return "dynamic"
    return f"{cls.qualified_name()}@{cls.version}"


def _load(run: ActiveRun, artifact: ArtifactRecord, annotation: Any) -> Any:
    materializer = registry.by_name(artifact.materializer)
    with run.artifact_store.local_copy(artifact.uri) as path:
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


def _save_outputs(
    run: ActiveRun, node: StepNode, step_run_id: str, values: dict[str, Any]
) -> tuple[list[ArtifactRecord], dict[str, ArtifactRecord]]:
    new: list[ArtifactRecord] = []
    published: list[str] = []  # and the one being published: a store may fail part-way through it
    try:
        for spec in node.step.outputs:
            obj = values[spec.name]
            _check_type(node, spec, obj)
            override = node.step.options.output_materializers.get(spec.name)
            materializer = registry.instance(override) if override else registry.for_type(type(obj))
            uri = run.artifact_store.location(run.id, node.name, spec.name)
            with run.artifact_store.staging(uri) as staged:
                materializer.save(obj, staged)
                content_hash, size = hash_tree(staged)
                summary = _summary(materializer, obj)
                published.append(uri)
                run.artifact_store.publish(staged, uri)
            new.append(ArtifactRecord(
                id=str(uuid.uuid4()), uri=uri, type=registry.qualified_name(type(obj)),
                materializer=type(materializer).qualified_name(), materializer_version=materializer.version,
                content_hash=content_hash, size=size, producer_step_run_id=step_run_id, name=spec.name,
                created_at=utcnow(), summary=summary,
            ))
    except BaseException:
        _discard(run, published)  # nothing half-written stays behind
        raise
    return new, {a.name: a for a in new}


def _run_output_hooks(node: StepNode, values: dict[str, Any], outputs: dict[str, ArtifactRecord]) -> None:
    """Call each output's hooks (``Annotated`` metadata with ``on_output_published``).

    This is how ``Annotated[nn.Module, dk.ModelOutput("fashion_mnist")]`` turns an output
    into a model version without the engine knowing about models. A hook that raises
    fails the step.
    """
    for spec in node.step.outputs:
        for meta in spec.metadata:
            hook = getattr(meta, "on_output_published", None)
            if callable(hook):
                hook(values[spec.name], artifact_id=outputs[spec.name].id, output_name=spec.name)


def _summary(materializer: Any, obj: Any) -> dict[str, Any]:
    try:
        return dict(materializer.summary(obj))
    except Exception:  # noqa: BLE001 - a summary is a nicety, never a failure
        log.debug("summary failed for %s", type(obj), exc_info=True)
        return {}


__all__ = ["run_step"]
