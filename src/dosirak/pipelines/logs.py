"""Capturing a step's stdout, stderr and logging, shown live and kept in the artifact store."""

from __future__ import annotations

import contextlib
import io
import logging
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, TextIO

from dosirak.errors import DosirakError
from dosirak.pipelines.streams import WrappedStream, isatty
from dosirak.settings import get_settings

if TYPE_CHECKING:
    from dosirak.artifacts.store import BaseArtifactStore

log = logging.getLogger(__name__)
_FORMAT = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
#: libraries that log every request at INFO; kept at WARNING while a step's INFO is captured
_CHATTY = ("httpx",)


class _Sink:
    """Where captured text goes: a file in a local store (live), or a buffer uploaded at the end."""

    def __init__(self, artifact_store: BaseArtifactStore, uri: str) -> None:
        self.store = artifact_store
        self.uri = uri
        self._file: IO[str] | None = None
        self._buffer: io.StringIO | None = None
        self._lock = threading.Lock()
        self.used = False

    def write(self, text: str) -> None:
        if not text:
            return
        lost: OSError | None = None
        with self._lock:
            if not self.used:
                self.used = True
                try:
                    self._file = self.store.open_log(self.uri)
                except OSError as exc:
                    lost = exc
                else:
                    if self._file is None:  # the store takes the whole text at the end
                        self._buffer = io.StringIO()
            if self._file is not None:
                try:
                    self._file.write(text)
                except OSError as exc:  # e.g. a full disk: the step goes on, its output says what failed
                    lost = exc
                    self._give_up()
            elif self._buffer is not None:
                self._buffer.write(text)
        if lost is not None:  # outside the lock: this record comes back here (and goes nowhere now)
            log.warning("stopped writing the step log %s: %s", self.uri, lost)

    def _give_up(self) -> None:
        """Stop writing the log file after a failed write (the console still shows everything)."""
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError:
                pass  # its buffer cannot be written either

    def close(self) -> None:
        lost: OSError | None = None
        with self._lock:
            if self._file is not None:
                try:
                    self._file.close()
                except OSError as exc:
                    lost = exc
            elif self._buffer is not None:
                try:
                    self.store.write_log(self.uri, self._buffer.getvalue())
                except OSError as exc:  # e.g. a bucket that cannot be written: the step's own error matters
                    lost = exc
                except DosirakError as exc:  # credentials missing: the step failed saying so, in one line
                    log.debug("step log %s not stored: %s", self.uri, exc)
        if lost is not None:
            log.warning("the end of the step log %s was lost: %s", self.uri, lost)


class _InPlaceLines:
    """Turns a line redrawn in place with ``\r`` (a progress bar) into whole lines.

    Text passes straight through until a ``\r`` starts redrawing the line; from then on the
    line's latest state is written as a line at most every ``interval_s`` seconds (never,
    with ``None``), and its final state when the line ends or is blanked (a bar that erases
    itself keeps its last drawn state). Not thread-safe: one per stream.
    """

    def __init__(self, write: Callable[[str], object], interval_s: float | None = None) -> None:
        self._write = write
        self._interval_s = interval_s
        self._drawing: str | None = None  # the state being drawn now, while the line is redrawn in place
        self._state: str | None = None  # the last state drawn in full that was not blank
        self._shown: str | None = None  # the state written last
        self._wrote = False  # whether this line wrote anything since it was first redrawn
        self._last = -math.inf

    def feed(self, text: str) -> None:
        while text:
            line, newline, text = text.partition("\n")
            if self._drawing is None:
                head, cr, line = line.partition("\r")
                if head:
                    self._write(head)
                if not cr:
                    if newline:
                        self._write(newline)
                    continue
                self._drawing = ""
            first, *states = line.split("\r")
            self._drawing += first
            for state in states:
                self._drawn(self._drawing)
                self._drawing = state
            if newline:
                self.flush()
            else:
                self._periodic()

    def _drawn(self, state: str) -> None:
        """A state was drawn in full; a blank one ends the bar before it (it was erased)."""
        if state.strip():
            self._state = state
        elif self._state is not None:
            self._emit(self._state)
            self._state = self._shown = None

    def _current(self) -> str | None:
        return self._drawing if self._drawing and self._drawing.strip() else self._state

    def _emit(self, state: str) -> None:
        if state != self._shown:
            self._write(state + "\n")
            self._shown, self._wrote, self._last = state, True, time.monotonic()

    def _periodic(self) -> None:
        if self._interval_s is None or time.monotonic() - self._last < self._interval_s:
            return
        current = self._current()
        if current is not None:
            self._emit(current)

    def flush(self) -> None:
        """End the line being redrawn: write its final state unless it was just written."""
        if self._drawing is None:
            return
        current = self._current()
        if current is not None:
            self._emit(current)
        elif not self._wrote:
            self._write("\n")  # a line of nothing but \r: still a line
        self._drawing = self._state = self._shown = None
        self._wrote = False


class _Tee(WrappedStream):
    """A step's stdout or stderr: the console sees it live, the step's log keeps it.

    On a terminal the console gets the text unchanged (progress bars draw); otherwise a line
    redrawn in place becomes a line every ``interval_s`` seconds and its final state. The
    log always keeps a redrawn line's final state only.
    """

    def __init__(self, original: TextIO, sink: _Sink, interval_s: float) -> None:
        super().__init__(original)
        self._tty = isatty(original)
        self._console = None if self._tty else _InPlaceLines(original.write, interval_s)
        self._log = _InPlaceLines(sink.write)
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            if self._console is None:
                self._original.write(text)
            else:
                self._console.feed(text)
            self._log.feed(text)
        return len(text)

    def end(self) -> None:
        """Write the final state of a line still being redrawn (the step has ended)."""
        with self._lock:
            self._log.flush()
            with contextlib.suppress(OSError, ValueError):  # a closed console: the log has it
                if self._console is not None:
                    self._console.flush()
                self._original.flush()

    def isatty(self) -> bool:
        return self._tty


class _AsBefore(logging.Filter):
    """Lets through only the records a handler got before the root level was lowered for a step."""

    def __init__(self, root_level: int) -> None:
        super().__init__()
        self.root_level = root_level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= _level_before(record.name, self.root_level)


def _level_before(name: str, root_level: int) -> int:
    """The effective level of logger ``name`` had the root logger kept ``root_level``."""
    logger: logging.Logger | None = logging.getLogger(name) if name != "root" else None
    while logger is not None and logger.parent is not None:
        if logger.level != logging.NOTSET:
            return logger.level
        logger = logger.parent
    return root_level


def _reaches_no_handler(name: str) -> bool:
    """True when a record of logger ``name`` meets no handler below the root logger."""
    logger: logging.Logger | None = logging.getLogger(name) if name != "root" else None
    while logger is not None and logger.parent is not None:
        if logger.handlers:
            return False
        if not logger.propagate:
            return False
        logger = logger.parent
    return True


class _Handler(logging.Handler):
    """Writes every record to the step's log; stands in for Python's last resort on the console.

    With no handler configured, Python prints warnings and errors bare on stderr (its last
    resort); this handler being there would hide them, so it prints them as Python would.
    """

    def __init__(self, sink: _Sink, console: TextIO | None) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink
        self.console = console
        self.setFormatter(_FORMAT)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sink.write(self.format(record) + "\n")
            last = logging.lastResort
            if (self.console is not None and last is not None and record.levelno >= last.level
                    and _reaches_no_handler(record.name)):
                self.console.write(record.getMessage() + "\n")
        except Exception:  # noqa: BLE001 - logging must never break the step
            self.handleError(record)


class _Route:
    """One step's capture: its log, and the tees its thread's stdout and stderr go through."""

    def __init__(self, sink: _Sink, out: _Tee, err: _Tee, handler: _Handler) -> None:
        self.sink = sink
        self.out = out
        self.err = err
        self.handler = handler


class _Routed(WrappedStream):
    """``sys.stdout`` or ``sys.stderr`` while steps run: each write goes to its thread's step."""

    def __init__(self, original: TextIO, router: _Router, stream: str) -> None:
        super().__init__(original)
        self._router = router
        self._stream = stream

    def write(self, text: str) -> int:
        route = self._router.route(threading.get_ident())
        if route is None:
            return self._original.write(text)
        return (route.out if self._stream == "stdout" else route.err).write(text)


class _RoutingHandler(logging.Handler):
    """The root handler while steps run: a record goes to the log of the step whose thread made it."""

    def __init__(self, router: _Router) -> None:
        super().__init__(logging.DEBUG)
        self._router = router

    def emit(self, record: logging.LogRecord) -> None:
        route = self._router.route(record.thread)
        if route is not None:
            route.handler.emit(record)
            return
        console = self._router.console
        last = logging.lastResort
        if console is not None and last is not None and record.levelno >= last.level and _reaches_no_handler(record.name):
            try:  # no step to give it to: printed as Python's last resort would have
                console.write(record.getMessage() + "\n")
            except Exception:  # noqa: BLE001 - logging must never break a step
                self.handleError(record)


class _Router:
    """Routes output to the steps capturing now, by thread (several steps may run at once).

    The first capture installs the routing streams and handler, the last one removes them.
    Output of a thread that is no step's goes to the only step capturing (threads a step
    started itself), or, with several capturing or from the thread driving the run, to the
    console only.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[int | None, _Route] = {}
        self._drivers: set[int | None] = set()
        self.out: TextIO = sys.stdout
        self.err: TextIO = sys.stderr
        #: where records go as Python's last resort would print them (no handler configured), else None
        self.console: TextIO | None = None
        self._handler = _RoutingHandler(self)
        self._old_level = logging.NOTSET
        self._others: list[logging.Handler] = []
        self._guard: _AsBefore | None = None
        self._quieted: list[logging.Logger] = []

    def route(self, thread: int | None) -> _Route | None:
        routes = self._routes
        found = routes.get(thread)
        if found is None and len(routes) == 1 and thread not in self._drivers:
            (found,) = routes.values()  # a snapshot: the dict is replaced, never changed
        return found

    @contextmanager
    def driving(self) -> Iterator[None]:
        thread = threading.get_ident()
        with self._lock:
            self._drivers.add(thread)
        try:
            yield
        finally:
            with self._lock:
                self._drivers.discard(thread)

    def enter(self, artifact_store: BaseArtifactStore, uri: str, interval_s: float) -> _Route:
        with self._lock:
            if not self._routes:
                self._install()
            sink = _Sink(artifact_store, uri)
            route = _Route(sink, _Tee(self.out, sink, interval_s), _Tee(self.err, sink, interval_s),
                           _Handler(sink, self.console))
            self._routes = {**self._routes, threading.get_ident(): route}
            return route

    def leave(self, route: _Route) -> None:
        with self._lock:
            self._routes = {t: r for t, r in self._routes.items() if r is not route}
            if not self._routes:
                self._uninstall()

    def _install(self) -> None:
        self.out, self.err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Routed(self.out, self, "stdout"), _Routed(self.err, self, "stderr")
        root = logging.getLogger()
        self._others = list(root.handlers)
        self.console = None if self._others else self.err
        root.addHandler(self._handler)
        self._old_level = root.level
        self._guard = None
        self._quieted = []
        if root.level > logging.INFO or root.level == logging.NOTSET:
            self._guard = _AsBefore(self._old_level)
            for other in self._others:
                other.addFilter(self._guard)
            root.setLevel(logging.INFO)  # a step's logging.info() lands in its log
            self._quieted = [lg for lg in map(logging.getLogger, _CHATTY) if lg.level == logging.NOTSET]
            for lg in self._quieted:  # ... but not a line per HTTP request (the deployer polls /readyz)
                lg.setLevel(logging.WARNING)

    def _uninstall(self) -> None:
        root = logging.getLogger()
        root.removeHandler(self._handler)
        root.setLevel(self._old_level)
        if self._guard is not None:
            for other in self._others:
                other.removeFilter(self._guard)
        for lg in self._quieted:
            lg.setLevel(logging.NOTSET)
        sys.stdout, sys.stderr = self.out, self.err


_ROUTER = _Router()


def driving() -> contextlib.AbstractContextManager[None]:
    """Mark the calling thread as the one driving a run: its output is never a step's.

    An orchestrator running steps on other threads wraps its loop in this, so that what it
    logs while one step runs does not land in that step's log.
    """
    return _ROUTER.driving()


@contextmanager
def capture(artifact_store: BaseArtifactStore, uri: str, *, interval_s: float | None = None) -> Iterator[_Sink]:
    """Tee this thread's stdout/stderr to the console and the step's log; record its ``logging`` into it too.

    The log file exists only if the step wrote something (``sink.used``). Several steps may
    capture at once on different threads: each one's output goes to its own log (a thread
    the step started writes to the step's log only while no other step runs). A line
    redrawn in place (``\r``, as progress bars do) is kept in the log as its final state; on
    a console that is not a terminal it becomes a line every ``interval_s`` seconds (default:
    the ``progress_interval`` setting). The root logger is lowered to INFO while steps run
    so that their ``logging.info()`` lands in their logs, but the handlers configured before
    see only what they saw before: dosirak's INFO records do not reach a user's console unasked.
    """
    if interval_s is None:
        interval_s = get_settings().progress_interval_s
    route = _ROUTER.enter(artifact_store, uri, interval_s)
    try:
        yield route.sink
    finally:
        _ROUTER.leave(route)
        for tee in (route.out, route.err):
            tee.end()
        route.sink.close()


__all__ = ["capture", "driving"]
