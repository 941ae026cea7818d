"""Tracing a ``@pipeline`` function: step calls become nodes and return output handles."""

from __future__ import annotations

import inspect
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from dosirak.errors import ParameterError, StepCallError, StepInputTypeError
from dosirak.pipelines import parameters as params
from dosirak.pipelines.dag import DAG, InputEdge, StepNode
from dosirak.typehints import arguments, runtime_class, strip

if TYPE_CHECKING:
    from dosirak.pipelines.step import Step

_current: ContextVar[Tracer | None] = ContextVar("dosirak_tracer", default=None)


class OutputHandle:
    """Stands for a step's output while a pipeline is traced; pass it to other steps."""

    __slots__ = ("annotation", "output", "step")

    def __init__(self, step: str, output: str, annotation: Any) -> None:
        self.step = step
        self.output = output
        self.annotation = annotation

    def __repr__(self) -> str:
        return f"<output '{self.output}' of step '{self.step}'>"

    def __iter__(self) -> Any:
        raise StepCallError(
            f"{self!r} is a single output and cannot be unpacked; declare several outputs with "
            "`-> tuple[Annotated[A, \"a\"], Annotated[B, \"b\"]]`"
        )

    def __bool__(self) -> bool:
        raise StepCallError(
            f"{self!r} has no value while the pipeline is being traced; pass it to a step that decides "
            "(e.g. a `deploy_decision: bool` input) instead of branching on it in the pipeline function"
        )


def current() -> Tracer | None:
    return _current.get()


class Tracer:
    """Collects the step calls of one pipeline function into a :class:`DAG`.

    ``explicit`` holds the pipeline parameters the caller gave (command line, ``run``
    arguments), by name, as the very objects the pipeline function receives; a step
    parameter passed straight from one of them is noted in ``from_explicit``.
    """

    def __init__(self, pipeline_name: str, enable_cache: bool, explicit: dict[str, Any] | None = None) -> None:
        self.dag = DAG(pipeline_name)
        self.enable_cache = enable_cache
        self.explicit = explicit or {}
        #: step name -> {step parameter: the explicit pipeline parameter it was passed straight from}
        self.from_explicit: dict[str, dict[str, str]] = {}
        self._names: dict[str, int] = {}

    def __enter__(self) -> Tracer:
        self._token = _current.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _current.reset(self._token)

    def _unique_name(self, base: str) -> str:
        taken = {n.name for n in self.dag.nodes}
        count = self._names.get(base, 0) + 1
        name = base if count == 1 else f"{base}_{count}"
        while name in taken:  # a step may itself be named like a generated name ("x_2")
            count += 1
            name = f"{base}_{count}"
        self._names[base] = count
        return name

    def add_step(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        name = self._unique_name(step.name)
        try:
            bound = step.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise StepCallError(f"step '{name}': {exc}; its signature is {_signature(step)}") from None
        node = StepNode(
            name=name,
            step=step,
            enable_cache=self.enable_cache if step.options.enable_cache is None else step.options.enable_cache,
        )
        for arg, value in bound.arguments.items():
            annotation = step.hints.get(arg)
            if isinstance(value, OutputHandle):
                _check_edge(name, arg, annotation, value)
                node.inputs[arg] = InputEdge(value.step, value.output)
            else:
                node.parameters[arg] = _check_parameter(name, arg, annotation, value)
                source = self._explicit_source(arg, value)
                if source is not None:
                    self.from_explicit.setdefault(name, {})[arg] = source
        for arg, param in step.signature.parameters.items():
            if arg not in bound.arguments and param.default is not inspect.Parameter.empty:
                node.parameters[arg] = _default_parameter(name, arg, step.hints.get(arg), param.default)
        self.dag.nodes.append(node)
        handles = [OutputHandle(name, o.name, o.annotation) for o in step.outputs]
        if not handles:
            return None
        return handles[0] if len(handles) == 1 else tuple(handles)


    def _explicit_source(self, arg: str, value: Any) -> str | None:
        """The explicit pipeline parameter ``value`` was passed straight from (the same object), if any.

        ``None``, booleans, ints and strings may be one shared object for equal values
        written anywhere, so for them the names must match too.
        """
        for pname, given in self.explicit.items():
            if value is given and (pname == arg or not isinstance(given, (bool, int, str, type(None)))):
                return pname
        return None


def _contains_handle(value: Any) -> bool:
    if isinstance(value, OutputHandle):
        return True
    if isinstance(value, (list, tuple, set)):
        return any(_contains_handle(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_handle(v) for v in value.values())
    return False


def _check_parameter(step_name: str, arg: str, annotation: Any, value: Any) -> Any:
    where = f"step '{step_name}' parameter '{arg}'"
    if _contains_handle(value):
        raise StepCallError(
            f"{where} got a container holding step outputs; pass each output handle as its own argument"
        )
    if not params.is_json_type(annotation):
        tname = getattr(annotation, "__name__", str(annotation))
        raise StepCallError(
            f"step '{step_name}' input '{arg}' is declared as {tname}, an artifact: pass the output of "
            f"another step, not a literal {type(value).__name__} value"
        )
    params.check_json(where, value)
    return params.to_json(params.validate(where, value, annotation))


def _default_parameter(step_name: str, arg: str, annotation: Any, default: Any) -> Any:
    """A default in the form an explicit value takes (``lr: float = 1`` is 1.0), so both share a cache key."""
    try:
        return params.to_json(params.validate(f"step '{step_name}' parameter '{arg}'", default, annotation))
    except ParameterError:  # e.g. `data: np.ndarray | None = None`: kept as written
        return params.to_json(default)


def _signature(step: Step) -> str:
    """``name(a: int, b: float = 1.0) -> list[int]`` with resolved hints, not quoted strings."""
    parts = []
    for pname, param in step.signature.parameters.items():
        text = f"{pname}: {_hint_name(step.hints.get(pname))}"
        if param.default is not inspect.Parameter.empty:
            text += f" = {param.default!r}"
        parts.append(text)
    return f"{step.name}({', '.join(parts)}) -> {_hint_name(step.hints.get('return'))}"


def _hint_name(hint: Any) -> str:
    if hint is None or hint is type(None):
        return "None"
    if isinstance(hint, type) and not arguments(hint):
        return _tname(hint)
    return str(hint).replace("typing.", "")


def _compatible(producer: Any, consumer: Any) -> bool:
    """Whether a producer's declared output type can feed a consumer's declared input type.

    Compares classes, then the arguments of same-origin generics (``list[int]`` does not
    feed ``list[str]``); anything it cannot judge (Any, unions, TypeVars) is accepted.
    """
    consumer_cls = runtime_class(consumer)
    producer_cls = runtime_class(producer)
    if consumer_cls is None or producer_cls is None or consumer_cls is type(None):
        return True
    if consumer_cls is float and producer_cls in (int, bool):
        return True
    if not (producer_cls is consumer_cls or issubclass(producer_cls, consumer_cls)):
        return False
    p_args, c_args = arguments(producer), arguments(consumer)
    if p_args and c_args and len(p_args) == len(c_args) and producer_cls is consumer_cls:
        return all(a is Ellipsis or b is Ellipsis or _compatible(a, b) for a, b in zip(p_args, c_args, strict=True))
    return True


def _check_edge(step_name: str, arg: str, annotation: Any, handle: OutputHandle) -> None:
    if _compatible(handle.annotation, annotation):
        return
    raise StepInputTypeError(
        f"step '{step_name}' input '{arg}' expects {_hint_name(strip(annotation))} but {handle!r} is "
        f"{_hint_name(strip(handle.annotation))}; fix the type hints or convert in a step"
    )


def _tname(tp: type) -> str:
    return tp.__qualname__ if tp.__module__ == "builtins" else f"{tp.__module__}.{tp.__qualname__}"


__all__ = ["OutputHandle", "Tracer", "current"]
