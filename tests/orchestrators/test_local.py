"""The local orchestrator: independent branches at once on threads, up to ``max_parallel``."""

from __future__ import annotations

import logging
import re
import threading
import time

import pytest

from dosirak import pipeline, step
from dosirak.errors import FlavorError, RunFailedError
from dosirak.orchestrators.local import LocalOrchestrator
from dosirak.pipelines import progress

#: steps that must run at the same time meet here (a step running alone times out and fails)
MEET = {"barrier": threading.Barrier(3, timeout=30)}
ORDER: list[tuple[str, int]] = []
FAILED = threading.Event()
log = logging.getLogger(__name__)


def use_local(max_parallel: int) -> None:
    """Make a stack whose local orchestrator runs up to ``max_parallel`` steps the active one."""
    from dosirak.metadata.store import get_store

    store = get_store()
    name = f"local{max_parallel}"
    store.stacks.register_component("orchestrator", name, "local", {"max_parallel": max_parallel})
    store.stacks.register_stack(name, {"orchestrator": name, "artifact-store": "default"})
    store.stacks.set_active_stack(name)


def meet(parties: int) -> None:
    MEET["barrier"] = threading.Barrier(parties, timeout=30)


@step
def source() -> int:
    return 10


@step
def branch(x: int, k: int = 1) -> int:
    MEET["barrier"].wait()  # all the branches are running at once
    return x * k


@step
def join(a: int, b: int, c: int) -> int:
    return a + b + c


@pipeline(enable_cache=False)
def fan_out_fan_in() -> None:
    x = source()
    join(branch(x, k=1), branch(x, k=2), branch(x, k=3))


def test_independent_branches_run_at_once_and_join_after_all_of_them() -> None:
    use_local(4)
    meet(3)
    run = fan_out_fan_in()
    assert run.status == "completed"
    assert run.steps["join"].output.load() == 60
    assert {s.status for s in run.steps.values()} == {"completed"}


@step
def breaks_soon() -> int:
    FAILED.set()
    raise RuntimeError("branch one broke")


@step
def after_break(x: int) -> int:
    return x


@step
def outlives_the_failure() -> int:
    deadline = time.monotonic() + 30
    while not FAILED.is_set():  # still running when its sibling fails
        assert time.monotonic() < deadline, "the failing sibling never ran"
        time.sleep(0.01)
    time.sleep(0.2)
    return 7


@step
def after_survivor(x: int) -> int:
    return x + 1


@pipeline(enable_cache=False)
def one_branch_fails() -> None:
    after_break(breaks_soon())
    after_survivor(outlives_the_failure())


def test_a_failing_branch_skips_its_dependants_while_an_independent_sibling_completes() -> None:
    use_local(2)
    FAILED.clear()
    with pytest.raises(RunFailedError, match="branch one broke") as info:
        one_branch_fails()
    steps = info.value.run.steps
    assert {n: s.status for n, s in steps.items()} == {
        "breaks_soon": "failed", "after_break": "skipped", "outlives_the_failure": "completed",
        "after_survivor": "completed"}
    assert steps["after_survivor"].output.load() == 8


@step
def chatty(who: str) -> str:
    for i in range(20):
        MEET["barrier"].wait()  # both steps write each line at the same moment
        print(f"{who} says {i}")
        log.warning("%s logs %d", who, i)
    return who


@pipeline(enable_cache=False)
def two_chatty() -> None:
    chatty(who="left")
    chatty(who="right")


def test_the_logs_of_steps_running_at_once_each_hold_only_their_own_output() -> None:
    use_local(2)
    meet(2)
    run = two_chatty()
    for name, who, other in (("chatty", "left", "right"), ("chatty_2", "right", "left")):
        text = run.steps[name].logs()
        assert [f"{who} says {i}" for i in range(20)] == re.findall(rf"{who} says \d+", text)
        assert len(re.findall(rf"{who} logs \d+", text)) == 20
        assert other not in text, text


@step
def noted(name: str, after: int = 0) -> int:
    ORDER.append((name, threading.get_ident()))
    return after + 1


@pipeline(enable_cache=False)
def two_chains() -> None:
    first = noted(name="a")
    noted(after=first, name="b")
    second = noted(name="c")
    noted(after=second, name="d")


def test_max_parallel_one_runs_the_steps_one_after_another_in_the_pipeline_order_in_this_thread() -> None:
    use_local(1)
    ORDER.clear()
    run = two_chains()
    assert run.status == "completed"
    assert ORDER == [(name, threading.get_ident()) for name in ("a", "b", "c", "d")]


def test_the_plain_display_shows_steps_running_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    use_local(4)
    meet(3)
    with progress.display("plain"):
        fan_out_fan_in()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("step branch")]
    started = [i for i, line in enumerate(lines) if line.endswith(" started")]
    finished = [i for i, line in enumerate(lines) if " completed" in line]
    assert len(started) == len(finished) == 3
    assert max(started) < min(finished), lines


def test_max_parallel_must_be_a_positive_number_of_steps() -> None:
    with pytest.raises(FlavorError, match="--max-parallel"):
        LocalOrchestrator.validate_config({"max_parallel": 0})
    assert LocalOrchestrator.validate_config({"max_parallel": 3}) == {"max_parallel": 3}
    assert LocalOrchestrator("default", {}).max_parallel >= 1
