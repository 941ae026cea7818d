"""The steps benchmarks/ray_orchestrator.py runs; a module of their own, so Ray workers import them."""

from __future__ import annotations

import time

from dosirak import pipeline, step


@step
def add_one(x: int) -> int:
    return x + 1


@pipeline(enable_cache=False, name="bench_ray_chain10")
def chain10(start: int = 0) -> None:
    value = add_one(start)
    for _ in range(9):
        value = add_one(value)


def burn(seconds: float) -> int:
    """Spin the CPU (holding the GIL) for ``seconds``."""
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


@step
def burner(seconds: float, index: int) -> int:
    burn(seconds)
    return index


@pipeline(enable_cache=False, name="bench_ray_eight")
def eight_burners(seconds: float = 0.5) -> None:
    for i in range(8):
        burner(seconds=seconds, index=i)
