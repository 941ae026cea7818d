"""Runs a small two-step pipeline N times (for concurrency tests): ``python -m tests._pipelines.chain TAG N``."""

from __future__ import annotations

import sys

from dosirak import pipeline, step


@step
def produce(tag: str, i: int) -> dict[str, object]:
    return {"tag": tag, "i": i}


@step
def describe(item: dict[str, object]) -> str:
    return f"{item['tag']}-{item['i']}"


@pipeline
def chain(tag: str = "a", i: int = 0) -> None:
    describe(produce(tag=tag, i=i))


if __name__ == "__main__":
    tag, count = sys.argv[1], int(sys.argv[2])
    for i in range(count):
        run = chain(tag=tag, i=i)
        assert run.status == "completed", run.status
    print("done")
