"""The same pipeline suite on every orchestrator flavor: ``local`` (threads) and ``ray`` (a Ray cluster).

Cache hits, a failing branch, retries with backoff, captured logs, fan-out/fan-in, and a
process killed with SIGKILL mid-step behave the same wherever steps run. The ray flavor
runs on one cluster per module (``ray.init(num_cpus=2)`` here, see ``conftest.py``); the
runs that must be killed, or whose output is watched live, go through the CLI in another
process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dosirak import Client
from dosirak.errors import RunFailedError
from dosirak.metadata.store import get_store
from tests._pipelines.orchestrated import cached_chain, fan, gated, one_branch_fails, retried, talks
from tests.integration.orchestrators.conftest import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DOSIRAK = [sys.executable, "-m", "dosirak.cli.main"]
FLAVORS = ["local", "ray"]


@pytest.fixture(params=FLAVORS)
def flavor(request: pytest.FixtureRequest, dosirak_home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The active stack's orchestrator is of this flavor (ray: this module's cluster, by its address)."""
    address = request.getfixturevalue("cluster") if request.param == "ray" else ""
    monkeypatch.setenv("DOSIRAK_HOME", str(dosirak_home))  # the test's home, for the CLI it starts too
    stacks = get_store().stacks
    if request.param == "ray":
        stacks.register_component("orchestrator", "runner", "ray", {"address": address})
    else:
        stacks.register_component("orchestrator", "runner", "local", {"max_parallel": 4})
    stacks.register_stack("suite", {"orchestrator": "runner", "artifact-store": "default"})
    stacks.set_active_stack("suite")
    return str(request.param)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.05)


def test_a_rerun_takes_every_step_from_the_cache(flavor: str) -> None:
    first = cached_chain(k=2)
    assert first.steps["summed"].output.load() == 12
    again = cached_chain(k=2)
    assert {n: s.status for n, s in again.steps.items()} == dict.fromkeys(("numbers", "scaled", "summed"), "cached")
    assert again.steps["summed"].cached_from == first.steps["summed"].id
    assert again.steps["summed"].output.load() == 12
    other = cached_chain(k=3)
    assert {n: s.status for n, s in other.steps.items()} == {
        "numbers": "cached", "scaled": "completed", "summed": "completed"}
    assert other.steps["summed"].output.load() == 18


def test_a_failing_step_skips_its_dependants_while_an_independent_branch_finishes(
        flavor: str, tmp_path: Path) -> None:
    with pytest.raises(RunFailedError, match="no luck in this branch") as info:
        one_branch_fails(marker=str(tmp_path / "broke"))  # the survivor waits for the failure
    steps = info.value.run.steps
    assert {n: s.status for n, s in steps.items()} == {
        "breaks": "failed", "after_break": "skipped", "outlives_the_failure": "completed",
        "after_survivor": "completed"}
    assert steps["after_survivor"].output.load() == 8
    assert 'raise ValueError("no luck in this branch")' in (steps["breaks"].traceback or "")
    assert info.value.run.status == "failed"


def test_a_step_that_fails_twice_succeeds_on_its_third_attempt_after_growing_delays(
        flavor: str, tmp_path: Path) -> None:
    record = tmp_path / "attempts"
    run = retried(record=str(record))
    step = run.steps["third_time"]
    assert step.status == "completed" and step.attempts == 3 and step.output.load() == 3
    times = [float(line.split()[1]) for line in record.read_text().splitlines()]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.2 and times[2] - times[1] >= 0.4, times  # 0.2 s, then doubled
    text = step.logs()
    assert "attempt 1 failed; retrying in 0.2s" in text and "attempt 2 failed; retrying in 0.4s" in text, text


def test_print_logging_and_stderr_of_a_step_are_stored_in_its_log(flavor: str) -> None:
    run = talks(word=f"on-{flavor}")
    text = run.steps["talkative"].logs()
    for line in (f"printed on-{flavor}", f"logged on-{flavor}", f"to stderr on-{flavor}"):
        assert line in text, text


def test_four_branches_run_at_once_and_join(flavor: str, tmp_path: Path) -> None:
    record = tmp_path / "branches"
    run = fan(record=str(record))
    assert run.status == "completed"
    assert run.steps["joined"].output.load() == 6 * (1 + 2 + 3 + 4)
    ran = [json.loads(line) for line in record.read_text().splitlines()]
    assert sorted(r["k"] for r in ran) == [1, 2, 3, 4]
    overlapping = [(a["k"], b["k"]) for a in ran for b in ran
                   if a["k"] < b["k"] and a["start"] < b["end"] and b["start"] < a["end"]]
    assert overlapping, ran  # at least two branches ran at the same time
    in_this_process = {r["pid"] == os.getpid() for r in ran}
    assert in_this_process == ({True} if flavor == "local" else {False})


class Watched:
    """A CLI process whose stdout and stderr are read line by line as it writes them."""

    def __init__(self, args: list[str]) -> None:
        env = {**os.environ, "DOSIRAK_PROGRESS": "plain",
               "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
        self.proc = subprocess.Popen([*DOSIRAK, *args], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(stream, lines), daemon=True)
                         for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: object, lines: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.append(line)

    def said(self, text: str) -> bool:
        return any(text in line for line in [*self.out, *self.err])

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=10)
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.wait(30)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def watched() -> Iterator[Callable[..., Watched]]:
    started: list[Watched] = []

    def start(*args: str) -> Watched:
        started.append(Watched(list(args)))
        return started[-1]

    yield start
    for one in started:
        one.stop()


def test_a_steps_output_reaches_the_driving_process_while_it_runs_and_is_stored_after(
        flavor: str, tmp_path: Path, watched: Callable[..., Watched]) -> None:
    gate = tmp_path / "gate"
    word = f"live-{flavor}"
    run = watched("run", "tests._pipelines.orchestrated:talks", "-p", f"word={word}", "-p", f"gate={gate}")
    lines = (f"printed {word}", f"logged {word}", f"to stderr {word}")

    def all_said() -> bool:
        assert run.proc.poll() is None, (run.out, run.err)
        return all(run.said(line) for line in lines)

    wait_for(all_said, 120, "the step's output on the driving process's console")
    assert not gate.exists()  # the step is still waiting: the output came live
    gate.write_text("open")
    assert run.wait(120) == 0, (run.out, run.err)
    (last,) = Client().list_runs("talks")
    text = last.steps["talkative"].logs()
    assert all(line in text for line in lines), text


def started_attempts(gate: Path) -> list[tuple[str, int]]:
    """``(run id, pid)`` of each attempt of ``wait_for_gate`` so far."""
    marker = Path(str(gate) + ".started")
    if not marker.exists():
        return []
    return [(run_id, int(pid)) for run_id, pid in (line.split() for line in marker.read_text().splitlines() if
                                                   len(line.split()) == 2)]


def test_a_process_killed_mid_step_fails_the_step_with_the_cause_and_a_rerun_resumes_from_the_cache(
        flavor: str, tmp_path: Path, watched: Callable[..., Watched]) -> None:
    gate = tmp_path / "gate"
    run = watched("run", "tests._pipelines.orchestrated:gated", "-p", f"gate={gate}")

    def attempt_started(n: int) -> Callable[[], bool]:
        def started() -> bool:
            assert run.proc.poll() is None or n == 0, (run.out, run.err)
            return len(started_attempts(gate)) >= n
        return started

    wait_for(attempt_started(1), 120, "the gated step to start")
    ((run_id, pid),) = started_attempts(gate)
    running = Client().get_run(run_id)
    assert running.status == "running"
    assert "waiting for the gate" in running.steps["wait_for_gate"].logs()  # its log is readable live
    if flavor == "local":
        assert pid == run.proc.pid  # a thread of the driving process: killing it kills the run
        os.kill(pid, signal.SIGKILL)
        run.wait(30)
        killed = Client().get_run(run_id)  # reaped: its process is gone
        assert killed.status == "failed" and "ended without finishing it" in (killed.error or "")
        assert killed.steps["wait_for_gate"].status == "failed"
    else:
        assert pid != run.proc.pid  # a Ray worker: killed, the task is retried (retries=1), then fails
        os.kill(pid, signal.SIGKILL)
        wait_for(attempt_started(2), 120, "the step's second attempt")
        (_, again) = started_attempts(gate)[1]
        assert again != pid
        os.kill(again, signal.SIGKILL)
        assert run.wait(120) == 2, (run.out, run.err)
        errors = [line for line in run.err if line.startswith("error:")]
        assert len(errors) == 1, run.err
        assert "step 'wait_for_gate'" in errors[0] and "died" in errors[0] and "retries" in errors[0], errors
        killed = Client().get_run(run_id)
        step = killed.steps["wait_for_gate"]
        assert killed.status == "failed" and step.status == "failed" and step.attempts == 2
        assert (step.host, step.worker, step.resources) == (None, None, {"cpus": 1.0})
        assert "died" in (step.error or "") and "died" in (killed.error or "")
    assert {n: s.status for n, s in killed.steps.items()} == {
        "load": "completed", "double": "completed", "wait_for_gate": "failed", "report": "skipped"}
    assert "waiting for the gate" in killed.steps["wait_for_gate"].logs()

    gate.write_text("open")
    rerun = gated(gate=str(gate))
    assert {n: s.status for n, s in rerun.steps.items()} == {
        "load": "cached", "double": "cached", "wait_for_gate": "completed", "report": "completed"}
    assert rerun.steps["double"].cached_from == killed.steps["double"].id
    assert rerun.steps["report"].output.load() == "total=12"
