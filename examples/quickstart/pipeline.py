"""The smallest dosirak pipeline: load numbers, square them, summarise.

Run it with `python examples/quickstart/pipeline.py` or `dosirak run examples/quickstart/pipeline.py:quickstart`.
"""

from __future__ import annotations

from typing import Annotated

from dosirak import pipeline, step


@step
def load_numbers(count: int = 10) -> list[int]:
    print(f"loading {count} numbers")
    return list(range(count))


@step
def square(numbers: list[int]) -> list[int]:
    return [n * n for n in numbers]


@step
def summarise(numbers: list[int]) -> tuple[Annotated[int, "total"], Annotated[float, "mean"]]:
    total = sum(numbers)
    return total, total / max(len(numbers), 1)


@pipeline
def quickstart(count: int = 10) -> None:
    numbers = load_numbers(count=count)
    squares = square(numbers)
    summarise(squares)


if __name__ == "__main__":
    run = quickstart(count=10)
    steps = run.steps
    print(f"run {run.name}: {run.status}")
    print("total =", steps["summarise"].outputs["total"].load(), "mean =", steps["summarise"].outputs["mean"].load())
