"""Small pipelines the PostgreSQL store tests run: a cached two-step chain and one that fails."""

from __future__ import annotations

from dosirak import pipeline, step

calls: list[str] = []


@step
def load_numbers(n: int = 3) -> list[int]:
    calls.append("load_numbers")
    return list(range(n))


@step
def total(numbers: list[int]) -> int:
    calls.append("total")
    return sum(numbers)


@pipeline(name="pg_numbers")
def numbers(n: int = 3) -> None:
    total(load_numbers(n=n))


@step
def explode(numbers: list[int]) -> int:
    raise ValueError(f"cannot handle {len(numbers)} numbers")


@step
def after(value: int) -> int:
    return value + 1


@pipeline(name="pg_failing")
def failing(n: int = 2) -> None:
    after(explode(load_numbers(n=n)))
