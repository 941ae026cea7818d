"""Capturing a step's stdout, stderr and logging, shown live and kept in the artifact store."""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, TextIO

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
                self.store.write_log(self.uri, self._buffer.getvalue())
        if lost is not None:
            log.warning("the end of the step log %s was lost: %s", self.uri, lost)


class _Tee(io.TextIOBase):
    def __init__(self, original: TextIO, sink: _Sink) -> None:
        self._original = original
        self._sink = sink

    def write(self, text: str) -> int:
        self._original.write(text)
        self._sink.write(text)
        return len(text)

    def flush(self) -> None:
        self._original.flush()

    def isatty(self) -> bool:
        return self._original.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._original, "encoding", "utf-8")

    def fileno(self) -> int:
        return self._original.fileno()


class _Handler(logging.Handler):
    def __init__(self, sink: _Sink) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink
        self.setFormatter(_FORMAT)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sink.write(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging must never break the step
            self.handleError(record)


@contextmanager
def capture(artifact_store: BaseArtifactStore, uri: str) -> Iterator[_Sink]:
    """Tee stdout/stderr to the console and the step's log; record ``logging`` into it too.

    The log file exists only if the step wrote something (``sink.used``).
    """
    sink = _Sink(artifact_store, uri)
    out, err = sys.stdout, sys.stderr
    sys.stdout = _Tee(out, sink)
    sys.stderr = _Tee(err, sink)
    handler = _Handler(sink)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    quieted: list[logging.Logger] = []
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)  # a step's logging.info() lands in its log
        quieted = [lg for lg in map(logging.getLogger, _CHATTY) if lg.level == logging.NOTSET]
        for lg in quieted:  # ... but not a line per HTTP request (the deployer polls /readyz)
            lg.setLevel(logging.WARNING)
    try:
        yield sink
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for lg in quieted:
            lg.setLevel(logging.NOTSET)
        sys.stdout, sys.stderr = out, err
        sink.close()


__all__ = ["capture"]
