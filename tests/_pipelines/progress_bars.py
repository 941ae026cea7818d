"""A pipeline whose second step draws a progress bar in place (``\\r`` updates), for display tests.

``silent`` writes nothing and, given a gate, waits for ``<gate>.silent``; ``draw`` writes
``bursts`` bursts of ``frames`` frames ``\\rdownloading K/TOTAL``, and, given a gate, after
the first burst writes ``<gate>.started`` (holding whether its stdout is a terminal) and
waits for ``<gate>.draw``; without a gate it pauses ``pause_s`` between bursts.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from dosirak import pipeline, step


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.02)


@step(enable_cache=False)
def silent(gate: str = "") -> int:
    if gate:
        _wait_for(Path(gate + ".silent"))
    return 1


@step(enable_cache=False)
def draw(start: int, gate: str = "", bursts: int = 5, frames: int = 100, pause_s: float = 0.0) -> int:
    total = bursts * frames
    for burst in range(bursts):
        for i in range(frames):
            sys.stdout.write(f"\rdownloading {burst * frames + i + start}/{total}")
            sys.stdout.flush()
        if burst == 0 and gate:
            Path(gate + ".started").write_text(str(sys.stdout.isatty()))
            _wait_for(Path(gate + ".draw"))
        elif pause_s:
            time.sleep(pause_s)  # the bar's work between two bursts
    sys.stdout.write("\n")
    return total


@pipeline
def progress_bars(gate: str = "", pause_s: float = 0.0) -> None:
    draw(silent(gate=gate), gate=gate, pause_s=pause_s)
