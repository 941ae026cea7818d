"""The local orchestrator: independent branches at once on threads, up to ``max_parallel``."""

from __future__ import annotations

import logging
import re
import threading
import time

import pytest

from dosirak import pipeline, step
from dosirak.errors import FlavorError
from dosirak.orchestrators.local import LocalOrchestrator
from dosirak.pipelines import progress

#: steps that must run at the same time meet here (a step running alone times out and fails)
MEET = {"barrier": threading.Barrier(3, timeout=30)}
ORDER: list[tuple[str, int]] = []
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


@step(resources={"cpus": 2, "memory": "1GiB"})
def sleeps(k: int = 0) -> int:
    time.sleep(0.3)
    return k


@step
def after_both(a: int, b: int) -> int:
    return a + b


@pipeline(enable_cache=False)
def two_sleepers() -> None:
    after_both(sleeps(k=1), sleeps(k=2))


def _overlap_s(a: object, b: object) -> float:
    start = max(a.start_time, b.start_time)  # type: ignore[attr-defined]
    end = min(a.end_time, b.end_time)  # type: ignore[attr-defined]
    return (end - start).total_seconds()


def test_each_step_records_this_host_its_worker_thread_and_the_resources_it_asked_for() -> None:
    import os
    import socket

    from dosirak.metadata.store import get_store

    use_local(4)
    run = two_sleepers()
    steps = {s.name: s for s in get_store().runs.get_steps(run.id)}
    assert set(steps) == {"sleeps", "sleeps_2", "after_both"}
    branches = [steps["sleeps"], steps["sleeps_2"]]
    assert {s.host for s in steps.values()} == {socket.gethostname()}
    # the two branches ran at once, on two worker threads of this process; each asked for what it declared
    assert sorted(s.worker or "" for s in branches) == [f"pid {os.getpid()} thread dosirak-worker-1",
                                                         f"pid {os.getpid()} thread dosirak-worker-2"]
    assert all(s.resources == {"cpus": 2.0, "memory": 1024.0**3} for s in branches)
    # the join was alone: it ran in the calling thread, and asked for nothing
    assert steps["after_both"].worker == f"pid {os.getpid()} thread {threading.current_thread().name}"
    assert steps["after_both"].resources == {}
    assert run.steps["sleeps"].worker == steps["sleeps"].worker  # the Python API reads it too


def test_two_parallel_branches_are_recorded_with_overlapping_times() -> None:
    from dosirak.metadata.store import get_store

    use_local(2)
    run = two_sleepers()
    steps = {s.name: s for s in get_store().runs.get_steps(run.id)}
    a, b, join_step = steps["sleeps"], steps["sleeps_2"], steps["after_both"]
    assert a.duration_s is not None and a.duration_s >= 0.3
    assert b.duration_s is not None and b.duration_s >= 0.3
    assert _overlap_s(a, b) >= 0.2  # they ran side by side, not one after the other
    assert join_step.start_time is not None and join_step.start_time >= max(a.end_time, b.end_time)  # type: ignore[type-var]


def test_with_max_parallel_one_the_branches_follow_each_other_on_one_thread() -> None:
    from dosirak.metadata.store import get_store

    use_local(1)
    run = two_sleepers()
    steps = {s.name: s for s in get_store().runs.get_steps(run.id)}
    assert _overlap_s(steps["sleeps"], steps["sleeps_2"]) <= 0
    assert len({s.worker for s in steps.values()}) == 1


@pipeline
def cached_sleepers() -> None:
    sleeps(k=7)


def test_a_cache_hit_records_no_placement_the_run_it_reuses_says_where_it_ran() -> None:
    from dosirak.metadata.store import get_store

    use_local(2)
    first = cached_sleepers()
    again = cached_sleepers()
    store = get_store()
    (hit,) = store.runs.get_steps(again.id)
    (ran,) = store.runs.get_steps(first.id)
    assert hit.status == "cached" and ran.status == "completed"
    assert (hit.host, hit.worker, hit.resources) == (None, None, {})
    assert ran.host is not None and ran.worker is not None and ran.resources == {"cpus": 2.0, "memory": 1024.0**3}
