"""A pipeline whose third step blocks until a gate file exists (for kill-and-resume tests).

The third step writes ``<gate>.started`` holding its run id, then waits for ``gate``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from dosirak import get_step_context, pipeline, step


@step
def load(n: int = 4) -> list[int]:
    return list(range(n))


@step
def double(numbers: list[int]) -> list[int]:
    return [2 * x for x in numbers]


@step
def wait_for_gate(numbers: list[int], gate: str = "") -> int:
    print("waiting for the gate", flush=True)
    ctx = get_step_context()
    marker = Path(gate + ".started")
    marker.write_text(ctx.run_id if ctx else "")
    while not Path(gate).exists():
        time.sleep(0.05)
    return sum(numbers)


@step
def report(total: int) -> str:
    return f"total={total}"


@pipeline
def resumable(gate: str = "") -> None:
    numbers = double(load())
    report(wait_for_gate(numbers, gate=gate))


if __name__ == "__main__":
    resumable(gate=sys.argv[1])
