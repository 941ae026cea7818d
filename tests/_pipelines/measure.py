"""A small three-step pipeline that subprocess tests import by module name."""

from __future__ import annotations

from typing import Annotated

from dosirak import pipeline, step


@step
def words(count: int = 3) -> list[str]:
    return ["x" * (i + 1) for i in range(count)]


@step
def lengths(items: list[str]) -> tuple[Annotated[list[int], "sizes"], Annotated[int, "longest"]]:
    sizes = [len(i) for i in items]
    return sizes, max(sizes, default=0)


@step
def tally(numbers: list[int]) -> int:
    print(f"tallying {len(numbers)} numbers")
    return len(numbers)


@pipeline
def measure(count: int = 3) -> None:
    sizes, _longest = lengths(words(count=count))
    tally(sizes)


def main() -> None:
    """Run the pipeline once and print its run id (for subprocess tests)."""
    print(measure().id)
