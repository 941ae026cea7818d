"""A chain of 10 trivial steps (int -> int + 1), caching off: the whole-process benchmark.

`python benchmarks/chain10.py` runs it once; benchmarks/pipeline_overhead.py times it.
"""

from __future__ import annotations

import os

from dosirak import pipeline, step


@step
def add_one(x: int) -> int:
    return x + 1


@pipeline(enable_cache=os.environ.get("CHAIN10_CACHE") == "1")
def chain10(start: int = 0) -> None:
    value = add_one(start)
    for _ in range(9):
        value = add_one(value)


if __name__ == "__main__":
    chain10()
