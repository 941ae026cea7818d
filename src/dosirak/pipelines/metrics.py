"""Metrics and metadata logged from inside a step: ``dk.log_metric``, ``log_metrics``, ``log_metadata``.

A call appends to the running step's :class:`MetricLog` (found through a context
variable, so parallel steps on threads of one process each log to their own step run),
in memory: about a microsecond, cheap enough to call every batch. The process driving the
run writes what was logged to the metadata store in batches:

* a step computed in this process (the local orchestrator, every thread of it): a
  background flush about every second (:class:`MetricsRecorder`), so the run page
  draws the series live, and the rest when the step ends;
* a step computed elsewhere (a Ray worker, which never touches the metadata store): all
  its points travel back with the step's result, and are recorded when it is.

Each batch's points and their metrics' summaries are written in one transaction. A step
that fails keeps what it logged. Metadata about an output artifact (``artifact="name"``)
or a model version (``model="name[:version]"``) is attached when the step's outputs are
recorded (a model output's new version is then the latest one).

Example::

    import dosirak as dk

    @dk.step
    def trainer(train: Split, epochs: int = 3) -> Annotated[nn.Module, "model"]:
        for epoch in range(epochs):
            loss, acc = fit_one_epoch(...)
            dk.log_metrics({"loss": loss, "accuracy": acc}, step=epoch)
        dk.log_metadata({"classes": 10}, artifact="model")
        return net
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import threading
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dosirak.errors import DosirakError, MetricError, OutsideStepError
from dosirak.names import is_valid_name

if TYPE_CHECKING:
    from dosirak.metadata.store import MetadataStore

log = logging.getLogger(__name__)

#: The longest metric name or metadata key (the store's column holds 255 characters).
MAX_NAME_LENGTH = 255
#: The largest step (a 64-bit integer column).
MAX_STEP = 2**63 - 1
#: The largest JSON text one metadata entry may take.
MAX_METADATA_BYTES = 1024 * 1024
#: How often the driving process writes what steps computed here have logged.
FLUSH_INTERVAL_S = 1.0

#: (name, step, value, wall time)
Point = tuple[str, int, float, float]
#: (target "step"|"artifact"|"model", what it names: "" for the step, an output name, a model ref; key, value)
PendingEntry = tuple[str, str, str, Any]

#: Types that convert to a float but are not numbers to chart (numpy's bool is "bool" or "bool_").
_NOT_NUMBERS = frozenset(("bool", "bool_", "str", "bytes"))
_current: ContextVar[MetricLog | None] = ContextVar("dosirak_metric_log", default=None)
_OUTSIDE = ("{call} was called outside a running step; call it from inside a @step function while a "
            "pipeline runs (a step function called directly is plain Python and has no run to log to)")


@dataclass
class Logged:
    """What a step logged and has not been written yet: it travels with the step's result."""

    points: list[Point] = field(default_factory=list)
    metadata: list[PendingEntry] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.points or self.metadata)


class MetricLog:
    """What one step run logs, buffered in memory until the driving process takes it.

    Thread-safe: the step's threads append, the flusher takes, under one short lock.
    """

    def __init__(self, step_run_id: str, step_name: str, outputs: tuple[str, ...] = ()) -> None:
        self.step_run_id = step_run_id
        self.step_name = step_name
        self.outputs = outputs
        self._lock = threading.Lock()
        #: held while a batch taken from this log is being written (so batches are written in order)
        self.writing = threading.Lock()
        self._points: list[Point] = []
        self._metadata: list[PendingEntry] = []
        self._next: dict[str, int] = {}
        self._names: set[str] = set()
        #: called once, when the first point or entry is logged (the recorder starts its flusher then)
        self.on_first: Callable[[], None] | None = None

    def _first(self) -> None:
        started, self.on_first = self.on_first, None
        if started is not None:
            started()

    def add(self, name: str, value: Any, step: Any) -> None:
        """Append one point (``step`` None: the series' next index)."""
        if name not in self._names:
            self._names.add(_checked_name(name, "metric name"))
            self._first()
        number = _number(name, value)
        wall = time.time()
        with self._lock:
            nxt = self._next.get(name, 0)
            at = nxt if step is None else _step(name, step)
            if at >= nxt:
                self._next[name] = at + 1
            self._points.append((name, at, number, wall))

    def add_many(self, metrics: Mapping[str, Any], step: Any) -> None:
        """Append one point per metric, all at ``step``; nothing is appended if one is invalid."""
        if not isinstance(metrics, Mapping):
            raise MetricError(f"log_metrics takes a dict of metric name -> number, got {type(metrics).__name__}")
        checked = [(_checked_name(n, "metric name") if n not in self._names else n, _number(n, v))
                   for n, v in metrics.items()]
        if self.on_first is not None:
            self._first()
        at_given = None if step is None else _step(next(iter(metrics), "?"), step)
        wall = time.time()
        with self._lock:
            for name, number in checked:
                self._names.add(name)
                nxt = self._next.get(name, 0)
                at = nxt if at_given is None else at_given
                if at >= nxt:
                    self._next[name] = at + 1
                self._points.append((name, at, number, wall))

    def add_metadata(self, entries: Mapping[str, Any], target: str, ref: str) -> None:
        if not isinstance(entries, Mapping):
            raise MetricError(f"log_metadata takes a dict of key -> JSON value, got {type(entries).__name__}")
        if self.on_first is not None:
            self._first()
        checked = [(target, ref, _checked_name(k, "metadata key"), _json_value(k, v)) for k, v in entries.items()]
        with self._lock:
            self._metadata += checked

    def take(self, *, everything: bool) -> Logged:
        """What was logged since the last take. Metadata about an artifact or a model stays
        until the step ends (``everything``): only then are they known."""
        with self._lock:
            points, self._points = self._points, []
            if everything:
                metadata, self._metadata = self._metadata, []
            else:
                metadata = [e for e in self._metadata if e[0] == "step"]
                self._metadata = [e for e in self._metadata if e[0] != "step"]
        return Logged(points, metadata)

    def put_back(self, logged: Logged) -> None:
        """Return a batch that could not be written, ahead of what came since."""
        with self._lock:
            self._points[:0] = logged.points
            self._metadata[:0] = logged.metadata


# -- the public calls ---------------------------------------------------------------------
def _active(call: str) -> MetricLog:
    current = _current.get()
    if current is None:
        raise OutsideStepError(_OUTSIDE.format(call=call))
    return current


def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Log one value of the metric ``name`` from inside a step (a series: value, step, time).

    Args:
        name: 1-255 characters, no control characters (``"loss"``, ``"val/accuracy"``).
        value: a number (int, float, a numpy or torch scalar); NaN and +-inf are kept as such.
        step: where on the series' x axis (a whole number >= 0); by default the series'
            next index (one past the highest step logged for ``name`` so far, 0 at first).
            Points are kept ordered by step, whatever order they are logged in.

    Raises:
        OutsideStepError: called outside a running step.
        MetricError: the name, value (not a number) or step is invalid; it names the metric.

    Example::

        for epoch in range(epochs):
            dk.log_metric("loss", train_one_epoch(), step=epoch)
    """
    _active("dk.log_metric").add(name, value, step)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log several metrics at once, all at ``step`` (by default each series' next index).

    Example::

        dk.log_metrics({"loss": 0.31, "accuracy": 0.9}, step=120)
    """
    _active("dk.log_metrics").add_many(metrics, step)


def log_metadata(metadata: Mapping[str, Any], *, artifact: str | None = None, model: str | None = None) -> None:
    """Attach JSON metadata to the running step's run, one of its output artifacts, or a model version.

    Args:
        metadata: key -> any JSON value (keys: 1-255 characters, no control characters;
            each value at most 1 MiB of JSON). A key logged again keeps its newest value.
        artifact: the name of one of this step's outputs: the metadata goes to the artifact
            it becomes (attached when the step's outputs are recorded; dropped with a
            warning if the step fails and the output never exists).
        model: a model version, ``"name"`` (its latest version when the step's outputs are
            recorded: the one a ``ModelOutput`` of this step just made) or ``"name:3"`` /
            ``"name:production"``.

    Example::

        dk.log_metadata({"dataset": "fashion-mnist", "rows": 60000})
        dk.log_metadata({"classes": 10}, artifact="model")
    """
    current = _active("dk.log_metadata")
    if artifact is not None and model is not None:
        raise MetricError("log_metadata takes artifact= or model=, not both; call it once for each")
    if artifact is not None:
        if artifact not in current.outputs:
            known = ", ".join(current.outputs) or "none"
            raise MetricError(f"log_metadata(artifact='{_shown(artifact)}'): step '{current.step_name}' has no "
                              f"output of that name (its outputs: {known})")
        current.add_metadata(metadata, "artifact", artifact)
    elif model is not None:
        name, _, ref = model.partition(":") if isinstance(model, str) else ("", "", "")
        if not is_valid_name(name) or (ref and not is_valid_name(ref)):
            raise MetricError(f"log_metadata(model={model!r}): give a model as 'name', 'name:VERSION' or "
                              "'name:ALIAS'")
        current.add_metadata(metadata, "model", model)
    else:
        current.add_metadata(metadata, "step", "")


def activate(metric_log: MetricLog) -> Token[MetricLog | None]:
    """Make ``metric_log`` the one the logging calls of this context append to."""
    return _current.set(metric_log)


def deactivate(token: Token[MetricLog | None]) -> None:
    _current.reset(token)


# -- checks -------------------------------------------------------------------------------
def _shown(text: str) -> str:
    return text if len(text) <= 60 else text[:60] + "..."


def _checked_name(name: Any, kind: str) -> str:
    if not isinstance(name, str):
        raise MetricError(f"a {kind} must be a string, got {type(name).__name__} {_shown(repr(name))}")
    if not name or len(name) > MAX_NAME_LENGTH:
        raise MetricError(f"{kind} '{_shown(name)}' must be 1-{MAX_NAME_LENGTH} characters, "
                          f"it has {len(name)}")
    if not name.isprintable():
        raise MetricError(f"{kind} {_shown(repr(name))} contains control characters; use printable text")
    return name


def _number(name: str, value: Any) -> float:
    kind = type(value)
    if kind is float:
        return value  # type: ignore[no-any-return]
    if kind is int or (kind.__name__ not in _NOT_NUMBERS and isinstance(value, numbers.Real)):
        try:
            return float(value)
        except OverflowError:
            raise MetricError(f"metric '{_shown(name)}': {value} is too large for a float") from None
    if kind.__name__ not in _NOT_NUMBERS and hasattr(value, "__float__"):
        try:  # a one-element numpy array or torch tensor
            return float(value)
        except (TypeError, ValueError, OverflowError):
            pass
    shown = _shown(repr(value))
    raise MetricError(f"metric '{_shown(name)}' must be a number (int, float, a numpy or torch scalar), got "
                      f"{kind.__name__} {shown}; log numbers, and text with dk.log_metadata")


def _step(name: str, step: Any) -> int:
    if type(step) is int and 0 <= step <= MAX_STEP:
        return step
    if isinstance(step, bool) or not hasattr(step, "__index__"):
        raise MetricError(f"metric '{_shown(name)}': step must be a whole number, got {type(step).__name__} "
                          f"{_shown(repr(step))}")
    at = step.__index__()
    if not 0 <= at <= MAX_STEP:
        raise MetricError(f"metric '{_shown(name)}': step must be between 0 and {MAX_STEP}, got {at}")
    return int(at)


def _json_value(key: str, value: Any) -> Any:
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise MetricError(f"metadata '{_shown(key)}' must be JSON (numbers, text, lists, dicts, true/false/null; "
                          f"no NaN): {exc}") from None
    if len(text) > MAX_METADATA_BYTES:
        raise MetricError(f"metadata '{_shown(key)}' is {len(text)} bytes of JSON, more than the "
                          f"{MAX_METADATA_BYTES} allowed; store large things as a step output")
    return json.loads(text)  # a copy: later changes to the caller's object are not logged


def json_number(value: float | None) -> float | str | None:
    """``value`` for JSON: NaN and +-inf as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``."""
    if value is None or math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


# -- the driving process's half -------------------------------------------------------------
class MetricsRecorder:
    """Writes what steps log to the metadata store, for one run, in the process driving it.

    Steps computed in this process log into a :class:`MetricLog` opened here, written by
    a background thread about every second and at the step's end (:meth:`finish`); steps
    computed elsewhere hand what they logged to :meth:`finish` with their result.
    """

    def __init__(self, store: MetadataStore, interval_s: float = FLUSH_INTERVAL_S) -> None:
        self.store = store
        self.interval_s = interval_s
        self._logs: dict[str, MetricLog] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def open(self, step_run_id: str, step_name: str, outputs: tuple[str, ...]) -> MetricLog:
        """A live log for a step computed in this process (flushed in the background)."""
        metric_log = MetricLog(step_run_id, step_name, outputs)
        metric_log.on_first = self._start_flushing  # a run that logs nothing starts no thread
        with self._lock:
            self._logs[step_run_id] = metric_log
        return metric_log

    def _start_flushing(self) -> None:
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._flush_forever, daemon=True, name="dosirak-metrics")
                self._thread.start()

    def _flush_forever(self) -> None:
        while not self._stop.wait(self.interval_s):
            with self._lock:
                logs = list(self._logs.values())
            for metric_log in logs:
                self._flush(metric_log)

    def _flush(self, metric_log: MetricLog) -> None:
        with metric_log.writing:
            batch = metric_log.take(everything=False)
            if not batch:
                return
            try:
                self._write(metric_log.step_run_id, batch, {}, resolve=False)
            except DosirakError as exc:  # e.g. the store is locked for long: the next flush tries again
                log.warning("could not record the metrics of step run %s yet: %s", metric_log.step_run_id[:8], exc)
                metric_log.put_back(batch)

    def finish(self, step_run_id: str, logged: Logged | None, outputs: Mapping[str, str]) -> None:
        """Write the rest of what a step logged, once its outputs (``name -> artifact id``) are known.

        ``logged``: what the step's result carried; for a live log also what it still holds.
        """
        with self._lock:
            metric_log = self._logs.pop(step_run_id, None)
        batch = logged or Logged()
        if metric_log is not None:
            with metric_log.writing:  # a flush in progress ends first: batches stay in order
                rest = metric_log.take(everything=True)
                batch = Logged(rest.points + batch.points, rest.metadata + batch.metadata)
                if batch:
                    self._write(step_run_id, batch, outputs, resolve=True)
            return
        if batch:
            self._write(step_run_id, batch, outputs, resolve=True)

    def _write(self, step_run_id: str, batch: Logged, outputs: Mapping[str, str], *, resolve: bool) -> None:
        entries: list[tuple[str, str, str, Any]] = []
        for target, ref, key, value in batch.metadata:
            if target == "step":
                entries.append(("step", step_run_id, key, value))
            elif resolve:
                target_id = self._target_id(target, ref, outputs)
                if target_id is not None:
                    entries.append((target, target_id, key, value))
        self.store.metrics.append(step_run_id, batch.points, entries)

    def _target_id(self, target: str, ref: str, outputs: Mapping[str, str]) -> str | None:
        if target == "artifact":
            found = outputs.get(ref)
            if found is None:
                log.warning("metadata logged for output '%s' is dropped: the step recorded no such output", ref)
            return found
        name, _, version = ref.partition(":")
        try:
            return self.store.models.get_model_version(name, version or "latest").id
        except DosirakError as exc:
            log.warning("metadata logged for model '%s' is dropped: %s", ref, exc)
            return None

    def stop(self) -> None:
        """Stop the background flush (the run ended; every step's rest was written by :meth:`finish`)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10 * self.interval_s)


__all__ = [
    "FLUSH_INTERVAL_S", "MAX_METADATA_BYTES", "MAX_NAME_LENGTH", "MAX_STEP", "Logged", "MetricLog",
    "MetricsRecorder", "activate", "deactivate", "json_number", "log_metadata", "log_metric", "log_metrics",
]
