from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from dosirak.errors import ServiceUnavailableError
from dosirak.serving.decoding import MemoryBudget


def run(main: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(main())  # type: ignore[arg-type]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_sizes_within_the_budget_are_granted_at_once() -> None:
    async def main() -> None:
        budget = MemoryBudget(100)
        await budget.acquire(60, wait_s=0)
        await budget.acquire(40, wait_s=0)
        assert budget.in_use == 100
        budget.release(60)
        budget.release(40)
        assert budget.in_use == 0

    run(main)


def test_a_size_that_does_not_fit_waits_until_enough_is_released() -> None:
    async def main() -> None:
        budget = MemoryBudget(100)
        await budget.acquire(70, wait_s=0)
        waiting = asyncio.ensure_future(budget.acquire(50, wait_s=5))
        await settle()
        assert not waiting.done()
        budget.release(70)
        await asyncio.wait_for(waiting, 1)
        assert budget.in_use == 50

    run(main)


def test_waiters_are_served_in_turn_so_a_large_one_is_not_overtaken() -> None:
    async def main() -> None:
        budget = MemoryBudget(100)
        await budget.acquire(60, wait_s=0)
        large = asyncio.ensure_future(budget.acquire(80, wait_s=5))
        await settle()
        small = asyncio.ensure_future(budget.acquire(10, wait_s=5))  # would fit now, but comes second
        await settle()
        assert not large.done() and not small.done()
        budget.release(60)
        await asyncio.wait_for(asyncio.gather(large, small), 1)
        assert budget.in_use == 90

    run(main)


def test_a_wait_past_its_deadline_is_a_503_with_a_retry_after() -> None:
    async def main() -> None:
        budget = MemoryBudget(100)
        await budget.acquire(100, wait_s=0)
        started = time.monotonic()
        with pytest.raises(ServiceUnavailableError, match="decoding other large requests") as caught:
            await budget.acquire(10, wait_s=0.2)
        assert 0.15 <= time.monotonic() - started < 2
        assert caught.value.retry_after_s is not None and caught.value.retry_after_s >= 1
        budget.release(100)
        await budget.acquire(100, wait_s=0)  # the waiter that gave up holds nothing

    run(main)


def test_a_cancelled_waiter_leaves_the_queue() -> None:
    async def main() -> None:
        budget = MemoryBudget(100)
        await budget.acquire(100, wait_s=0)
        first = asyncio.ensure_future(budget.acquire(100, wait_s=5))
        await settle()
        second = asyncio.ensure_future(budget.acquire(30, wait_s=5))
        await settle()
        first.cancel()
        await settle()
        budget.release(100)
        await asyncio.wait_for(second, 1)
        assert budget.in_use == 30

    run(main)


def test_a_size_larger_than_the_whole_budget_waits_for_all_of_it() -> None:
    async def main() -> None:
        budget = MemoryBudget(100)
        await budget.acquire(10, wait_s=0)
        huge = asyncio.ensure_future(budget.acquire(500, wait_s=5))
        await settle()
        assert not huge.done()
        budget.release(10)
        await asyncio.wait_for(huge, 1)
        assert budget.in_use == 500
        budget.release(500)
        assert budget.in_use == 0

    run(main)
