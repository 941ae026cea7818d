"""Two branches of 0.3 s that run at the same time on the local orchestrator, then a join."""

from __future__ import annotations

import time

from dosirak import pipeline, step

BRANCH_S = 0.3


@step
def source() -> int:
    return 1


@step(resources={"cpus": 1, "memory": "256MiB"})
def left_branch(x: int) -> int:
    time.sleep(BRANCH_S)
    return x


@step
def right_branch(x: int) -> int:
    time.sleep(BRANCH_S)
    return x + 1


@step
def join(a: int, b: int) -> int:
    return a + b


@pipeline(enable_cache=False)
def parallel() -> None:
    x = source()
    join(left_branch(x), right_branch(x))


def use_two_workers() -> None:
    """Make a stack whose local orchestrator runs two steps at once the active one (whatever the cores)."""
    from dosirak.metadata.store import get_store

    store = get_store()
    store.stacks.register_component("orchestrator", "two_at_once", "local", {"max_parallel": 2})
    store.stacks.register_stack("two_at_once", {"orchestrator": "two_at_once", "artifact-store": "default"})
    store.stacks.set_active_stack("two_at_once")
