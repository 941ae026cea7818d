"""What a run shows while it runs: each step starting and finishing, on stderr.

Three displays, chosen by the ``progress`` setting (``DOSIRAK_PROGRESS``) unless the caller
names one with :func:`display`:

- ``live`` (a terminal): a status line redrawn in place (spinner, running step, time so
  far) that steps aside whenever a step writes, so the step's own progress bars draw as
  on any terminal; a line for every finished step.
- ``plain`` (logs, CI, pipes): one line per event.
- ``off``: nothing.

``auto`` is ``live`` when stderr is a terminal, else ``plain`` (and ``plain`` under CI).
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

from dosirak.pipelines.streams import WrappedStream, isatty
from dosirak.settings import get_settings

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from dosirak.statuses import RunStatus, StepStatus


def duration(seconds: float) -> str:
    """``0.42 s``, ``12.3 s``, ``4 min 05 s``."""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


class _Options(NamedTuple):
    mode: str | None = None
    summary: bool = True


_options: ContextVar[_Options | None] = ContextVar("dosirak_progress_options", default=None)


@contextmanager
def display(mode: str | None = None, *, summary: bool = True) -> Iterator[None]:
    """Show the runs started inside this block with ``mode`` (``auto``/``live``/``plain``/``off``).

    Args:
        mode: The display; ``None`` keeps the ``progress`` setting.
        summary: Print the run's last line (its status, time and counts); a caller that
            prints its own summary (the CLI) turns it off.
    """
    token = _options.set(_Options(mode, summary))
    try:
        yield
    finally:
        _options.reset(token)


def for_run(stream: TextIO | None = None) -> RunProgress:
    """The display for a run starting now, writing to ``stream`` (default: stderr)."""
    options = _options.get() or _Options()
    mode = options.mode
    if mode is None:
        mode = get_settings().progress
    out = stream if stream is not None else sys.stderr
    if mode == "auto":
        mode = "live" if isatty(out) else "plain"
    if mode == "live":
        return LiveProgress(out, summary=options.summary)
    if mode == "plain":
        return PlainProgress(out, summary=options.summary)
    return RunProgress()


class RunProgress:
    """What a run tells its display; this one shows nothing (``off``).

    How to implement a display: subclass and override the events to show; none may raise
    (a display never breaks a run), and :meth:`close` runs once the run has ended, whatever
    happened.
    """

    def run_started(self, name: str, steps: Sequence[str]) -> None:
        """A run named ``name`` with these steps (in order) started."""

    def step_started(self, step: str) -> None:
        """Step ``step`` started running (a cached step does not start)."""

    def step_finished(self, step: str, status: StepStatus, duration_s: float | None = None, note: str = "") -> None:
        """Step ``step`` ended as ``status`` (completed, cached, failed, skipped, cancelled)."""

    def run_finished(self, name: str, status: RunStatus, duration_s: float, *, steps: int, cached: int,
                     error: str | None = None) -> None:
        """The run ended as ``completed`` or ``failed``."""

    def run_cancelled(self, line: str) -> None:
        """The user cancelled the run; ``line`` says so, and what a rerun does."""

    def close(self) -> None:
        """The run is over: give the console back."""


class PlainProgress(RunProgress):
    """One line per event, for logs, CI and pipes."""

    def __init__(self, stream: TextIO, *, summary: bool = True) -> None:
        self._stream = stream
        self._summary = summary

    def _line(self, text: str) -> None:
        try:
            self._stream.write(text + "\n")
            self._stream.flush()
        except (OSError, ValueError):
            pass  # a closed or broken stderr never breaks a run

    def run_started(self, name: str, steps: Sequence[str]) -> None:
        self._line(f"run {name} started: {_count(len(steps), 'step')}")

    def step_started(self, step: str) -> None:
        self._line(f"step {step} started")

    def step_finished(self, step: str, status: StepStatus, duration_s: float | None = None, note: str = "") -> None:
        took = f" in {duration(duration_s)}" if duration_s is not None and status == "completed" else (
            f" after {duration(duration_s)}" if duration_s is not None else "")
        self._line(f"step {step} {status}{took}" + (f": {note}" if note else ""))

    def run_finished(self, name: str, status: RunStatus, duration_s: float, *, steps: int, cached: int,
                     error: str | None = None) -> None:
        if self._summary:
            self._line(f"run {name} {status} in {duration(duration_s)}: {_count(steps, 'step')}, {cached} cached"
                       + (f"; {error}" if error else ""))

    def run_cancelled(self, line: str) -> None:
        self._line(line)


_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_MARKS: dict[StepStatus, tuple[str, str]] = {
    "completed": ("✓", "green"), "cached": ("↺", "cyan"), "failed": ("✗", "red"), "skipped": ("–", "dim"),
    "cancelled": ("■", "bold"),
}
_ASCII_MARKS: dict[StepStatus, str] = {"completed": "+", "cached": "=", "failed": "x", "skipped": "-", "cancelled": "#"}
_ERASE = "\r\x1b[2K"
#: Terminal control sequences (ESC [ ... letter) at the end of a write: they do not move the cursor off a line start.
_TRAILING_CONTROLS = r"(?:\x1b\[[0-9;?]*[A-Za-z])+$"  # compiled (and cached by re) on first use: live only


class _TerminalStream(WrappedStream):
    """A terminal stream (stdout or stderr) whose writes make the live status line step aside."""

    def __init__(self, original: TextIO, owner: LiveProgress) -> None:
        super().__init__(original)
        self._owner = owner

    def write(self, text: str) -> int:
        with self._owner.lock:
            self._owner.before_output()
            self._original.write(text)
            self._owner.after_output(text)
        return len(text)

    def __getattr__(self, name: str) -> Any:  # buffer, errors, ...: the terminal's own
        return getattr(self._original, name)


class LiveProgress(RunProgress):
    """A status line redrawn in place on a terminal, and a line per finished step.

    While the run lasts, ``sys.stdout``/``sys.stderr`` (when they are terminals) and the
    logging handlers writing to them go through :class:`_TerminalStream`, which erases the
    status line before anything else is written; the status line comes back only once the
    cursor is at the start of a line and the steps have been quiet for a moment, so a
    step's own progress bar (``\\r`` updates) is never drawn over.
    """

    refresh_s = 0.1
    quiet_s = 0.3

    def __init__(self, stream: TextIO, *, summary: bool = True) -> None:
        from rich.console import Console

        self._stream = stream
        self._summary = summary
        self.lock = threading.RLock()
        self._console: Console = Console(file=stream, highlight=False, soft_wrap=True)
        self._unicode = str(getattr(stream, "encoding", "") or "").lower().replace("-", "").startswith("utf")
        self._width = 0
        self._running: dict[str, float] = {}
        self._headed: set[str] = set()
        self._shown = False
        self._at_line_start = True
        self._last_output = 0.0
        self._frame = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._swapped: list[tuple[Any, str, Any, Any]] = []  # (owner, attribute, original, wrapper)

    # --------------------------------------------------------------- console ownership
    def _install(self) -> None:
        for name in ("stdout", "stderr"):
            original = getattr(sys, name)
            if isatty(original):
                wrapper = _TerminalStream(original, self)
                setattr(sys, name, wrapper)
                self._swapped.append((sys, name, original, wrapper))
        originals = {id(o): w for _, _, o, w in self._swapped}
        if id(self._stream) not in originals:
            originals[id(self._stream)] = _TerminalStream(self._stream, self)
        for handler in logging.getLogger().handlers:
            stream = getattr(handler, "stream", None)
            if isinstance(handler, logging.StreamHandler) and id(stream) in originals:
                handler.setStream(originals[id(stream)])
                self._swapped.append((handler, "stream", stream, originals[id(stream)]))

    def _uninstall(self) -> None:
        for owner, name, original, wrapper in reversed(self._swapped):
            if isinstance(owner, logging.StreamHandler):
                if owner.stream is wrapper:
                    owner.setStream(original)
            elif getattr(owner, name) is wrapper:
                setattr(owner, name, original)
        self._swapped.clear()

    # --------------------------------------------------------------- drawing (under self.lock)
    def _raw(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # a closed or broken terminal: the run goes on
            self._stream.write(text)
            self._stream.flush()

    def _erase(self) -> None:
        if self._shown:
            self._raw(_ERASE)
            self._shown = False

    def _print(self, text: Text) -> None:
        self._erase()
        if not self._at_line_start:
            self._raw("\n")
        with contextlib.suppress(OSError, ValueError):
            self._console.print(text)
        self._at_line_start = True

    def before_output(self) -> None:
        """Something is about to be written to the terminal: the status line steps aside."""
        self._erase()
        if len(self._running) == 1:
            (step,) = self._running
            if step not in self._headed:  # whose output follows
                self._headed.add(step)
                from rich.text import Text

                self._print(Text(f"  {'▸' if self._unicode else '>'} {step}", style="dim"))

    def after_output(self, text: str) -> None:
        """Something was written: note whether the cursor is at the start of a line now."""
        visible = re.sub(_TRAILING_CONTROLS, "", text)  # e.g. rich showing the cursor again after its bar
        if visible:
            self._at_line_start = visible.endswith(("\n", "\r"))
        if text:
            self._last_output = time.monotonic()

    def _draw(self) -> None:
        if not self._running:
            self._erase()
            return
        if self._shown:  # the next frame of the spinner, the time so far
            self._redraw()
            return
        if not self._at_line_start or time.monotonic() - self._last_output < self.quiet_s:
            return  # a step is writing, or its progress bar holds the line
        for _, _, original, _ in self._swapped:  # what a step wrote lands before the status line
            with contextlib.suppress(OSError, ValueError, AttributeError):
                original.flush()
        self._redraw()

    def _redraw(self) -> None:
        from rich.text import Text

        now = time.monotonic()
        spinner = _SPINNER if self._unicode else "|/-\\"
        self._frame += 1
        names = ", ".join(self._running)
        since = min(self._running.values())
        line = Text(f"{spinner[self._frame % len(spinner)]} ", style="cyan")
        line.append(names, style="bold")
        line.append(f"  {duration(now - since)}", style="dim")
        width = max(self._console.width - 1, 10)
        line.truncate(width, overflow="ellipsis")
        self._raw(_ERASE)
        try:
            self._console.print(line, end="")
        except (OSError, ValueError):
            return
        self._shown = True

    def _refresh(self) -> None:
        while not self._stop.wait(self.refresh_s):
            with self.lock:
                self._draw()

    # --------------------------------------------------------------- events
    def run_started(self, name: str, steps: Sequence[str]) -> None:
        from rich.text import Text

        self._width = max((len(s) for s in steps), default=0)
        with self.lock:
            self._install()
            line = Text(f"run {name}", style="bold")
            line.append(f"  {_count(len(steps), 'step')}", style="dim")
            self._print(line)
        self._thread = threading.Thread(target=self._refresh, name="dosirak-progress", daemon=True)
        self._thread.start()

    def step_started(self, step: str) -> None:
        with self.lock:
            self._running[step] = time.monotonic()
            self._last_output = 0.0
            self._draw()

    def step_finished(self, step: str, status: StepStatus, duration_s: float | None = None, note: str = "") -> None:
        from rich.text import Text

        mark, style = _MARKS.get(status, ("·", "white"))
        if not self._unicode:
            mark = _ASCII_MARKS.get(status, ".")
        line = Text(f"  {mark} ", style=style)
        line.append(step.ljust(self._width), style="bold" if status != "skipped" else "dim")
        if status == "completed" and duration_s is not None:
            line.append(f"  {duration(duration_s)}")
        elif duration_s is not None:
            line.append(f"  {status} after {duration(duration_s)}", style=style)
        else:
            line.append(f"  {status}", style=style)
        if note:
            line.append(f"  {note}", style="red" if status == "failed" else "dim")
        with self.lock:
            self._running.pop(step, None)
            self._print(line)

    def run_finished(self, name: str, status: RunStatus, duration_s: float, *, steps: int, cached: int,
                     error: str | None = None) -> None:
        if not self._summary:
            return
        from rich.text import Text

        line = Text(f"run {name} {status}", style="bold green" if status == "completed" else "bold red")
        line.append(f" in {duration(duration_s)}: {_count(steps, 'step')}, {cached} cached")
        with self.lock:
            self._print(line)

    def run_cancelled(self, line: str) -> None:
        from rich.text import Text

        with self.lock:
            self._running.clear()
            self._print(Text(line, style="bold"))

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        with self.lock:
            self._erase()
            self._uninstall()


__all__ = ["LiveProgress", "PlainProgress", "RunProgress", "display", "duration", "for_run"]
