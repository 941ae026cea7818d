"""A step's captured log, read from the end or from an offset (for live tailing).

A running step appends to its log file; the dashboard asks for what was added since the
offset it last saw. Reads are bounded by :data:`dosirak.dashboard.storage.MAX_READ`, so a
gigabyte of log costs no more than a screenful.
"""

from __future__ import annotations

from dataclasses import dataclass

from dosirak.dashboard import storage

TAIL_BYTES = 64 * 1024


@dataclass(frozen=True)
class LogChunk:
    text: str
    offset: int  # where the next read should start
    size: int | None  # the file's size when read, None if there is no log yet
    truncated: bool  # True when earlier bytes were left out


def tail(uri: str | None, max_bytes: int = TAIL_BYTES) -> LogChunk:
    """The last ``max_bytes`` of a log, starting at a line boundary."""
    if not uri:
        return LogChunk("", 0, None, False)
    total = storage.size(uri)
    if total is None:
        return LogChunk("", 0, None, False)
    start = max(0, total - max_bytes)
    data = storage.read_bytes(uri, start, total - start)
    if start > 0 and b"\n" in data:
        cut = data.index(b"\n") + 1
        data, start = data[cut:], start + cut
    return LogChunk(data.decode("utf-8", errors="replace"), start + len(data), total, start > 0)


def since(uri: str | None, offset: int, max_bytes: int = storage.MAX_READ) -> LogChunk:
    """What was appended to a log after ``offset`` (at most ``max_bytes``)."""
    if not uri:
        return LogChunk("", 0, None, False)
    total = storage.size(uri)
    if total is None:
        return LogChunk("", 0, None, False)
    if offset > total:  # the log was replaced (a retry): start over
        offset = 0
    data = storage.read_bytes(uri, offset, min(max_bytes, total - offset))
    if len(data) == max_bytes and b"\n" in data:  # do not split a line between two reads
        data = data[: data.rindex(b"\n") + 1]
    return LogChunk(data.decode("utf-8", errors="replace"), offset + len(data), total, False)


__all__ = ["TAIL_BYTES", "LogChunk", "since", "tail"]
