"""``@step``: a typed function whose inputs and outputs are artifacts.

Arguments that receive another step's output are *inputs* (artifacts); every other
argument is a *parameter* (a JSON value, validated against its type hint before the
pipeline runs). Outputs come from the return annotation: a single value is ``output``,
``Annotated[T, "name"]`` names it, and a ``tuple[...]`` of several annotated types is
several outputs (unnamed members are ``output_0``, ``output_1``, ...).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import inspect
import os
import re
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, overload

from dosirak import typehints
from dosirak.errors import StepCallError, StepSignatureError
from dosirak.names import check_name
from dosirak.pipelines import _tracing


@dataclass(frozen=True)
class OutputSpec:
    """One declared output of a step."""

    name: str
    annotation: Any
    #: Extra ``Annotated`` metadata (e.g. ``dk.ModelOutput("fashion_mnist")``).
    metadata: tuple[Any, ...] = ()


@dataclass(frozen=True)
class StepOptions:
    """The decorator's options; none of them is part of the cache key."""

    name: str
    enable_cache: bool | None = None
    retries: int = 0
    retry_delay_s: float = 1.0
    retry_backoff: float = 2.0
    output_materializers: dict[str, Any] = field(default_factory=dict)
    #: Resources for orchestrators that schedule them (e.g. Ray): ``cpus``, ``gpus``,
    #: ``memory`` (bytes) and custom resources by name; see :func:`resource_request`.
    resources: dict[str, float] = field(default_factory=dict)


class Step:
    """A step: call it inside a ``@pipeline`` to add it to the DAG, outside to run the function."""

    def __init__(self, func: Callable[..., Any], options: StepOptions) -> None:
        if not callable(func) or inspect.isclass(func):
            raise StepSignatureError(f"@step decorates functions, not {func!r}")
        if options.retries < 0:
            raise StepSignatureError(f"step '{options.name}': retries must be >= 0, got {options.retries}")
        check_name(options.name, "step name", error=StepSignatureError,
                   hint="it names the step's artifact directory; choose one with @step(name=...)")
        self.func = func
        self.options = options
        self.name = options.name
        self.signature = inspect.signature(func)
        self.hints = self._hints()
        self.outputs = self._outputs()
        self._source: str | None = None
        functools.update_wrapper(self, func)

    # -- signature analysis ---------------------------------------------------------
    def _hints(self) -> dict[str, Any]:
        try:
            hints = typehints.resolve(self.func)
        except (NameError, TypeError) as exc:
            raise StepSignatureError(
                f"step '{self.name}': cannot resolve its type hints ({exc}); import every type it names "
                "at module level"
            ) from exc
        for pname, param in self.signature.parameters.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise StepSignatureError(
                    f"step '{self.name}': *{pname}/**{pname} are not supported; name every argument"
                )
            if pname not in hints:
                example = "`lr: float = 1e-3`" if param.default is inspect.Parameter.empty else (
                    f"`{pname}: {type(param.default).__name__} = {param.default!r}`")
                raise StepSignatureError(
                    f"step '{self.name}': parameter '{pname}' has no type hint; add one, e.g. {example}"
                )
        if "return" not in hints:
            raise StepSignatureError(
                f"step '{self.name}': add a return type hint (`-> None` if it returns nothing)"
            )
        return hints

    def _outputs(self) -> tuple[OutputSpec, ...]:
        ret = self.hints["return"]
        if typehints.is_none(ret):
            return ()
        members = typehints.tuple_members(ret)
        if members and any(_annotated_name(m) for m in members):
            specs = [_spec(m, f"output_{i}") for i, m in enumerate(members)]
            names = [s.name for s in specs]
            if len(set(names)) != len(names):
                raise StepSignatureError(f"step '{self.name}': output names {names} are not unique")
            return tuple(specs)
        if len(members) > 1:
            return tuple(_spec(m, f"output_{i}") for i, m in enumerate(members))
        return (_spec(ret, "output"),)

    @property
    def input_names(self) -> list[str]:
        return list(self.signature.parameters)

    # -- identity for the cache -----------------------------------------------------
    @property
    def source_code(self) -> str:
        """The function's source without its decorators (editing those keeps the cache)."""
        if self._source is None:
            self._source = _source_without_decorators(self.func)
        return self._source

    @functools.cached_property
    def source_hash(self) -> str:
        return hashlib.sha256(self.source_code.encode()).hexdigest()

    @property
    def step_type(self) -> str:
        return f"{self.func.__module__}.{self.func.__qualname__}"

    # -- calling --------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tracer = _tracing.current()
        if tracer is not None:
            return tracer.add_step(self, args, kwargs)
        for value in (*args, *kwargs.values()):
            if isinstance(value, _tracing.OutputHandle):
                raise StepCallError(
                    f"step '{self.name}' was given the output handle {value} outside a pipeline; "
                    "handles only exist while a @pipeline function is being traced"
                )
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<step {self.name}>"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by name when another process can import the step from its module (a
        ``@step`` function at the top level of a module on ``sys.path``), else as its function
        and options, which cloudpickle (Ray's pickler) carries by value: steps in ``__main__``
        or in a file ``dosirak run`` loaded from elsewhere."""
        qualname: str = getattr(self, "__qualname__", "")  # the function's, set by update_wrapper
        found: Any = sys.modules.get(self.__module__)
        for part in qualname.split("."):
            found = getattr(found, part, None)
        if found is self and _importable_by_name(self.__module__):
            return _step_named, (self.__module__, qualname)
        return Step, (self.func, self.options)


_MEMORY_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
                 "t": 1000**4, "tb": 1000**4, "ki": 1024, "kib": 1024, "mi": 1024**2, "mib": 1024**2,
                 "gi": 1024**3, "gib": 1024**3, "ti": 1024**4, "tib": 1024**4}


def resource_request(step_name: str, resources: dict[str, Any]) -> dict[str, float]:
    """A step's ``resources`` as numbers: ``cpus``, ``gpus``, ``memory`` in bytes, custom ones as given.

    Raises StepSignatureError, naming the step and the resource, for a name that is not a
    plain identifier, a negative or non-numeric amount, or a memory size it cannot read
    (``4GiB``, ``512MiB``, ``2GB`` or a number of bytes).
    """
    request: dict[str, float] = {}
    for key, value in resources.items():
        where = f"step '{step_name}' resource '{key}'"
        if not isinstance(key, str) or not key.isidentifier():
            raise StepSignatureError(f"{where}: a resource name is a plain identifier (cpus, gpus, memory, big_disk)")
        amount = _memory_bytes(where, value) if key == "memory" else value
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not amount >= 0:
            raise StepSignatureError(f"{where}: {value!r} is not an amount; give a number of 0 or more")
        request[key] = float(amount)
    return request


def _memory_bytes(where: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", value)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _MEMORY_UNITS:
        raise StepSignatureError(f"{where}: cannot read the size {value!r}; write it like 4GiB, 512MiB or 2GB")
    return float(match.group(1)) * _MEMORY_UNITS[unit]


def _importable_by_name(module_name: str) -> bool:
    """Whether another process with the same ``sys.path`` finds module ``module_name`` by its name."""
    module = sys.modules.get(module_name)
    spec = getattr(module, "__spec__", None)
    if module_name == "__main__" or spec is None:
        return False
    if "." in module_name or not spec.origin or not os.path.isfile(spec.origin):
        return True  # found through its package, or built in
    where = os.path.dirname(os.path.abspath(spec.origin))
    if os.path.basename(spec.origin) == "__init__.py":
        where = os.path.dirname(where)
    return any(os.path.abspath(entry or os.curdir) == where for entry in sys.path)


def _step_named(module: str, qualname: str) -> Step:
    """The step ``qualname`` of module ``module`` (how a pickled step is found again)."""
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    if not isinstance(found, Step):
        raise StepSignatureError(f"{module}.{qualname} is not a step any more; run the same code everywhere")
    return found


def _annotated_name(annotation: Any) -> str | None:
    """The first string in an ``Annotated`` hint's metadata: the output's name."""
    return next((m for m in typehints.unwrap(annotation)[1] if isinstance(m, str)), None)


def _spec(annotation: Any, default_name: str) -> OutputSpec:
    base, metadata = typehints.unwrap(annotation)
    if not metadata:
        return OutputSpec(name=default_name, annotation=annotation)
    name = _annotated_name(annotation) or default_name
    if not name.isidentifier():
        raise StepSignatureError(f"output name '{name}' must be a Python identifier")
    return OutputSpec(name=name, annotation=base, metadata=tuple(m for m in metadata if not isinstance(m, str)))


def _source_without_decorators(func: Callable[..., Any]) -> str:
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        code = getattr(func, "__code__", None)
        return code.co_code.hex() if code is not None else repr(func)
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    node = tree.body[0] if tree.body else None
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.decorator_list:
        lines = source.splitlines(keepends=True)
        return "".join(lines[node.lineno - 1 :])
    return source


@overload
def step(func: Callable[..., Any], /) -> Step: ...


@overload
def step(
    *,
    name: str | None = None,
    enable_cache: bool | None = None,
    retries: int = 0,
    retry_delay_s: float = 1.0,
    output_materializers: dict[str, Any] | None = None,
    resources: dict[str, float | str] | None = None,
) -> Callable[[Callable[..., Any]], Step]: ...


def step(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    enable_cache: bool | None = None,
    retries: int = 0,
    retry_delay_s: float = 1.0,
    output_materializers: dict[str, Any] | None = None,
    resources: dict[str, float | str] | None = None,
) -> Step | Callable[[Callable[..., Any]], Step]:
    """Turn a typed function into a pipeline step.

    Args:
        name: The step's name in runs (default: the function's name).
        enable_cache: Reuse earlier outputs when code, parameters and inputs are unchanged;
            None follows the pipeline's setting.
        retries: Extra attempts after a failure, waiting ``retry_delay_s`` then doubling.
        output_materializers: Output name -> Materializer class, to override the choice by type.
        resources: What the step needs where an orchestrator schedules steps (``ray``):
            ``{"cpus": 2, "gpus": 1, "memory": "4GiB"}``, and custom resources by name
            (``{"big_disk": 1}``). ``local`` ignores them.

    Example::

        @step(retries=2)
        def trainer(train: np.ndarray, epochs: int = 1) -> Annotated[torch.nn.Module, "model"]:
            ...
    """

    def wrap(fn: Callable[..., Any]) -> Step:
        options = StepOptions(
            name=name or fn.__name__, enable_cache=enable_cache, retries=retries, retry_delay_s=retry_delay_s,
            output_materializers=dict(output_materializers or {}),
            resources=resource_request(name or fn.__name__, resources or {}),
        )
        return Step(fn, options)

    if func is not None:
        return wrap(func)
    return wrap


__all__ = ["OutputSpec", "Step", "StepOptions", "resource_request", "step"]
