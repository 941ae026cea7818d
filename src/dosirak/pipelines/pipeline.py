"""``@pipeline``: a function whose step calls are traced into a DAG and run on a stack."""

from __future__ import annotations

import functools
import inspect
import logging
import typing
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from dosirak import typehints
from dosirak.errors import ConfigError, ParameterError, PipelineError, RunFailedError, is_bad_input
from dosirak.names import check_name
from dosirak.pipelines import _tracing
from dosirak.pipelines import parameters as params
from dosirak.pipelines._tracing import Tracer
from dosirak.pipelines.dag import DAG

if TYPE_CHECKING:
    from dosirak.pipelines.views import RunView

log = logging.getLogger(__name__)

_CONFIG_KEYS = {"parameters", "steps", "enable_cache", "stack", "run_name"}
_STEP_CONFIG_KEYS = {"parameters", "enable_cache"}


class Pipeline:
    """A pipeline: call it with its parameters to run it on the active stack."""

    def __init__(self, func: Callable[..., Any], *, name: str | None = None, enable_cache: bool = True) -> None:
        self.func = func
        self.name = check_name(name or func.__name__, "pipeline name", error=PipelineError,
                               hint="choose one with @pipeline(name=...)")
        self.enable_cache = enable_cache
        self.signature = inspect.signature(func)
        try:
            self.hints = typehints.resolve(func)
        except (NameError, TypeError):
            self.hints = {}
        functools.update_wrapper(self, func)

    def __call__(self, *args: Any, **kwargs: Any) -> RunView:
        return self.run(*args, **kwargs)

    def run(self, *args: Any, config: str | Path | dict[str, Any] | None = None, stack: str | None = None,
            **kwargs: Any) -> RunView:
        """Run the pipeline; returns the run view, or raises RunFailedError after recording a failure.

        Each step is shown starting and finishing on stderr (the ``progress`` setting,
        ``DOSIRAK_PROGRESS``). Ctrl-C records the run as ``cancelled`` and says so in one
        line, then the ``KeyboardInterrupt`` goes on to the caller.

        Args:
            config: A YAML file or dict with ``parameters``, ``enable_cache`` and per-step
                ``steps: {name: {parameters: {...}, enable_cache: ...}}``.
            stack: Run on this stack instead of the active one.
        """
        tracer = _tracing.current()
        if tracer is not None:
            raise PipelineError(
                f"pipeline '{self.name}' was called while pipeline '{tracer.dag.pipeline_name}' is being traced; "
                "pipelines do not nest: call its steps instead, or run it on its own"
            )
        cfg = load_config(config)
        values = self._bind(args, kwargs, cfg.get("parameters", {}))
        given = self.signature.bind_partial(*args, **kwargs).arguments  # _bind checked they bind
        dag = self.compile(values, cfg, explicit=list(given))
        # defining a pipeline loads no metadata store and no run machinery (40 ms): running one does
        from dosirak.metadata.store import get_store  # lazy: startup
        from dosirak.pipelines import progress  # lazy: startup
        from dosirak.pipelines.run import ActiveRun  # lazy: startup
        from dosirak.pipelines.views import RunView  # lazy: startup
        from dosirak.stack.stack import load_stack  # lazy: startup

        store = get_store()
        active = load_stack(store, stack or cfg.get("stack"))
        display = progress.for_run()
        try:
            run = ActiveRun(dag, store=store, artifact_store=active.artifact_store,
                            parameters=params.to_json(values), config=cfg, stack_name=active.name,
                            orchestrator=active.orchestrator.flavor, progress=display)
            run.start()
            try:
                active.orchestrator.run_dag(run)
            except KeyboardInterrupt:
                run.cancel()  # recorded as cancelled, one line on stderr; Ctrl-C still stops the caller
                raise
            except BaseException as exc:
                run.abort(f"run interrupted: {type(exc).__name__}" + (f": {exc}" if str(exc) else ""))
                raise
            status = run.finish()
        finally:
            display.close()
        view = RunView(store.runs.get_run(run.id), store)
        if status == "failed":
            failed = next(s for s in view.steps.values() if s.status == "failed")
            raise RunFailedError(
                f"pipeline '{self.name}' run {run.name} failed at step '{failed.name}': {failed.error}. "
                f"`dosirak runs show {run.id[:8]}` has the traceback", run=view, bad_input=is_bad_input(failed.error))
        return view

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any], from_config: dict[str, Any]) -> dict[str, Any]:
        merged = {**from_config, **kwargs}
        try:
            bound = self.signature.bind(*args, **merged)
        except TypeError as exc:
            known = ", ".join(self.signature.parameters) or "none"
            raise ParameterError(f"pipeline '{self.name}': {exc}; its parameters are: {known}") from None
        bound.apply_defaults()
        values: dict[str, Any] = {}
        for key, value in bound.arguments.items():
            where = f"pipeline '{self.name}' parameter '{key}'"
            params.check_json(where, value)
            annotation = self.hints.get(key, typing.Any)
            values[key] = params.validate(where, value, annotation)
        return values

    def compile(self, values: dict[str, Any] | None = None, config: dict[str, Any] | None = None, *,
                explicit: Collection[str] = ()) -> DAG:
        """Trace the pipeline function into a DAG, checking every step call (nothing runs).

        Args:
            values: The pipeline's parameters.
            config: A run configuration (see :func:`load_config`); its ``steps`` settings
                override what the pipeline function passed to each step, except
                values passed straight from a parameter named in ``explicit``.
            explicit: The parameters the caller gave (on the command line or to ``run``):
                they win over the configuration, as the command line wins over a file.
        """
        cfg = config or {}
        enable_cache = bool(cfg.get("enable_cache", self.enable_cache))
        given = {name: (values or {})[name] for name in explicit if name in (values or {})}
        with Tracer(self.name, enable_cache, explicit=given) as tracer:
            self.func(**(values or {}))
        dag = tracer.dag
        if not dag.nodes:
            raise ConfigError(f"pipeline '{self.name}' calls no steps; call @step functions inside it")
        _apply_step_config(dag, cfg.get("steps", {}), tracer.from_explicit)
        return dag


def _apply_step_config(dag: DAG, steps_cfg: dict[str, Any], from_explicit: dict[str, dict[str, str]]) -> None:
    names = {n.name for n in dag.nodes}
    for step_name, step_cfg in steps_cfg.items():
        if step_name not in names:
            raise ConfigError(f"config names step '{step_name}', which the pipeline does not have; "
                              f"its steps: {', '.join(sorted(names))}")
        if not isinstance(step_cfg, dict) or set(step_cfg) - _STEP_CONFIG_KEYS:
            raise ConfigError(f"config for step '{step_name}' may only set {sorted(_STEP_CONFIG_KEYS)}")
        node = dag.node(step_name)
        if "enable_cache" in step_cfg:
            node.enable_cache = bool(step_cfg["enable_cache"])
        for key, value in (step_cfg.get("parameters") or {}).items():
            if key not in node.step.signature.parameters or key in node.inputs:
                raise ParameterError(
                    f"config sets unknown parameter '{key}' of step '{step_name}'; its parameters: "
                    f"{', '.join(k for k in node.step.signature.parameters if k not in node.inputs)}"
                )
            where = f"step '{step_name}' parameter '{key}'"
            params.check_json(where, value)
            value = params.to_json(params.validate(where, value, node.step.hints.get(key, typing.Any)))
            source = from_explicit.get(step_name, {}).get(key)
            if source is not None:
                if node.parameters[key] != value:
                    log.warning("step '%s' parameter '%s' keeps %r from pipeline parameter '%s', given to the run "
                                "(command line or argument), which wins over the config file's %r",
                                step_name, key, node.parameters[key], source, value)
                continue
            if key in node.parameters and node.parameters[key] != value:
                log.warning("config overrides step '%s' parameter '%s': %r -> %r",
                            step_name, key, node.parameters[key], value)
            node.parameters[key] = value


def load_config(config: str | Path | dict[str, Any] | None) -> dict[str, Any]:
    """Read a run configuration (YAML file or dict) and check its keys."""
    if config is None:
        return {}
    if isinstance(config, dict):
        data = config
    else:
        path = Path(config)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        from dosirak.untrusted import load_yaml  # lazy: startup: a run without a config file reads no YAML

        data = load_yaml(path, what="config file", error=ConfigError) or {}
    if not isinstance(data, dict):
        raise ConfigError("a run config must be a mapping with 'parameters', 'steps', 'enable_cache'")
    unknown = set(data) - _CONFIG_KEYS
    if unknown:
        raise ConfigError(f"unknown config key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_CONFIG_KEYS))}")
    return data


@overload
def pipeline(func: Callable[..., Any], /) -> Pipeline: ...


@overload
def pipeline(*, name: str | None = None, enable_cache: bool = True) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(
    func: Callable[..., Any] | None = None, /, *, name: str | None = None, enable_cache: bool = True
) -> Pipeline | Callable[[Callable[..., Any]], Pipeline]:
    """Turn a function that calls steps into a pipeline.

    Calling the pipeline traces the function (step calls return output handles), checks
    parameters and types, then runs the DAG on the active stack and returns the run.

    Args:
        name: The pipeline's name in the store (default: the function's name).
        enable_cache: The default for steps that do not set ``enable_cache`` themselves.

    Example::

        @pipeline(enable_cache=False)
        def training(min_accuracy: float = 0.8):
            train, test = importer()
            model = trainer(train)
            deployment_trigger(evaluator(test, model), min_accuracy=min_accuracy)

        run = training(min_accuracy=0.9)
        print(run.status, run.steps["trainer"].outputs["output"].load())
    """

    def wrap(fn: Callable[..., Any]) -> Pipeline:
        return Pipeline(fn, name=name, enable_cache=enable_cache)

    if func is not None:
        return wrap(func)
    return wrap


__all__ = ["Pipeline", "load_config", "pipeline"]
