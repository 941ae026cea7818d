"""Pipelines the orchestrator suite runs on every flavor (tests/integration/orchestrators/test_flavors.py).

Steps coordinate through files only (a Ray worker is another process), named by parameters.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

from dosirak import get_step_context, pipeline, step

log = logging.getLogger(__name__)

#: how long a step waits for a file the test (or a sibling step) writes
WAIT_S = 60.0


def wait_for_file(path: Path, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} never came ({path})")
        time.sleep(0.02)


@step
def numbers(n: int = 3) -> list[int]:
    return list(range(1, n + 1))


@step
def scaled(values: list[int], k: int = 1) -> list[int]:
    return [k * v for v in values]


@step
def summed(values: list[int]) -> int:
    return sum(values)


@pipeline
def cached_chain(k: int = 2) -> None:
    summed(scaled(numbers(), k=k))


@step
def breaks(marker: str = "") -> int:
    Path(marker).write_text("broke")
    raise ValueError("no luck in this branch")


@step
def after_break(x: int) -> int:
    return x


@step
def outlives_the_failure(marker: str = "") -> int:
    wait_for_file(Path(marker), "the failing sibling")  # still running when its sibling fails
    return 7


@step
def after_survivor(x: int) -> int:
    return x + 1


@pipeline(enable_cache=False)
def one_branch_fails(marker: str = "") -> None:
    after_break(breaks(marker=marker))
    after_survivor(outlives_the_failure(marker=marker))


@step(retries=2, retry_delay_s=0.2)  # then 0.4 s: the delay doubles
def third_time(record: str = "") -> int:
    ctx = get_step_context()
    assert ctx is not None
    with open(record, "a") as fh:
        fh.write(f"{ctx.attempt} {time.time()}\n")
    if ctx.attempt < 3:
        raise ConnectionError(f"attempt {ctx.attempt} failed")
    return ctx.attempt


@pipeline(enable_cache=False)
def retried(record: str = "") -> None:
    third_time(record=record)


@step
def talkative(word: str = "", gate: str = "") -> int:
    """Prints, logs and writes to stderr (no flush asked), then waits for ``gate`` if one is named."""
    print(f"printed {word}")
    log.warning("logged %s", word)
    sys.stderr.write(f"to stderr {word}\n")
    if gate:
        wait_for_file(Path(gate), "the gate")
    return len(word)


@pipeline(enable_cache=False)
def talks(word: str = "", gate: str = "") -> None:
    talkative(word=word, gate=gate)


@step
def branch(values: list[int], k: int = 1, record: str = "") -> tuple[list[int], int]:
    start = time.time()
    time.sleep(0.5)
    with open(record, "a") as fh:
        fh.write(json.dumps({"k": k, "start": start, "end": time.time(), "pid": os.getpid()}) + "\n")
    return [k * v for v in values], os.getpid()


@step
def joined(a: list[int], b: list[int], c: list[int], d: list[int]) -> int:
    return sum(a) + sum(b) + sum(c) + sum(d)


@pipeline(enable_cache=False)
def fan(record: str = "") -> None:
    values = numbers()
    outs = [branch(values, k=k, record=record)[0] for k in (1, 2, 3, 4)]
    joined(*outs)


@step
def load(n: int = 4) -> list[int]:
    return list(range(n))


@step
def double(values: list[int]) -> list[int]:
    return [2 * x for x in values]


@step(retries=1, retry_delay_s=0.0)
def wait_for_gate(values: list[int], gate: str = "") -> int:
    """Says where it runs (``<gate>.started``: one ``RUN_ID PID`` line per attempt), then waits for ``gate``."""
    print("waiting for the gate", flush=True)
    ctx = get_step_context()
    with open(gate + ".started", "a") as fh:
        fh.write(f"{ctx.run_id if ctx else ''} {os.getpid()}\n")
    wait_for_file(Path(gate), "the gate")
    return sum(values)


@step
def report(total: int) -> str:
    return f"total={total}"


@pipeline
def gated(gate: str = "") -> None:
    report(wait_for_gate(double(load()), gate=gate))


@step(resources={"gpus": 4, "memory": "1GiB"})
def greedy() -> int:
    return 1


@pipeline
def too_big() -> None:
    greedy()
