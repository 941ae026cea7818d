"""A run's steps drawn as text bars on one time axis, for ``dosirak runs show``.

Each step is a row: its name, a bar from its start to its end on the run's time axis, and
its duration. Steps that ran at the same time (parallel branches) have bars over the same
columns. The chart fits the width it is given; on a terminal the bars are blocks coloured
by status, elsewhere (a pipe, a file, CI logs) plain ASCII with one character per status.
Names and hosts come from outside: every character that is not printable is shown as ``?``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from dosirak.pipelines.timeline import Gantt
from dosirak.units import duration

#: The bar's character per status in plain ASCII (the legend says it).
ASCII_BARS = {"completed": "#", "cached": "=", "failed": "X", "running": ">", "cancelled": "x"}
#: The bar's character on a terminal (colour tells the status).
BLOCK = "\u2588"
#: Narrowest and widest chart drawn.
MIN_WIDTH, MAX_WIDTH = 40, 240
_NAME_MAX = 28
_DURATION = 9


@dataclass(frozen=True)
class Row:
    """One line of the chart: text before the track, the track, text after it; and the status colouring the track."""

    head: str
    track: str
    tail: str
    status: str | None = None

    @property
    def text(self) -> str:
        return f"{self.head}{self.track}{self.tail}"


def printable(text: str | None) -> str:
    """``text`` with every control or format character (escape sequences, bidi overrides) as ``?``."""
    return "".join("?" if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in text or "")


def rows(chart: Gantt, width: int, *, ascii_only: bool) -> list[Row]:
    """The chart as rows of at most ``width`` characters (kept within MIN_WIDTH..MAX_WIDTH).

    The last rows are the time axis (tick marks, then their times) and, in ASCII, a legend.
    """
    width = max(MIN_WIDTH, min(width, MAX_WIDTH))
    names = [printable(b.name) for b in chart.bars]
    name_w = min(max((len(n) for n in names), default=4), _NAME_MAX, width // 4)
    track_w = width - name_w - _DURATION - 4  # "NAME |TRACK| DURATION"
    out: list[Row] = []
    for bar, name in zip(chart.bars, names, strict=True):
        shown = name if len(name) <= name_w else name[: name_w - 1] + "~"
        cells = [" "] * track_w
        if bar.width > 0:
            start = min(int(bar.left * track_w), track_w - 1)
            end = min(max(start + 1, round(bar.right * track_w)), track_w)
            mark = ASCII_BARS.get(bar.status, "#") if ascii_only else BLOCK
            cells[start:end] = mark * (end - start)
        told = duration(bar.seconds) if bar.seconds is not None else bar.status
        out.append(Row(f"{shown:<{name_w}} |", "".join(cells), f"| {told[:_DURATION]:>{_DURATION}}", bar.status))
    out.extend(_axis(chart, name_w, track_w, ascii_only=ascii_only))
    return out


def _axis(chart: Gantt, name_w: int, track_w: int, *, ascii_only: bool) -> list[Row]:
    """Tick marks under the tracks, and each tick's time where it fits without running into the previous one."""
    marks = ["-" if ascii_only else "\u2500"] * track_w
    labels = [" "] * track_w
    free_from = 0
    for pos, seconds in chart.ticks:
        col = min(int(round(pos * (track_w - 1))), track_w - 1)
        marks[col] = "+" if ascii_only else "\u253c"
        text = "0" if seconds == 0 else duration(seconds).replace(" ", "")
        at = min(col, track_w - len(text))
        if at >= free_from:
            labels[at:at + len(text)] = text
            free_from = at + len(text) + 1
    pad = " " * (name_w + 1)
    axis = [Row(pad + " ", "".join(marks), ""),
            Row(pad + " ", "".join(labels).rstrip(), "")]
    if ascii_only:
        legend = "  ".join(f"{mark} {status}" for status, mark in ASCII_BARS.items())
        axis.append(Row(pad + " ", legend[:track_w], ""))
    return axis


__all__ = ["ASCII_BARS", "BLOCK", "Row", "printable", "rows"]
