"""``dosirak run`` in a real process: on a terminal (a pty), in a pipe, and stopped with Ctrl-C (SIGINT)."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dosirak import Client
from tests.integration.pipelines.test_client_process import REPO, python_env

pytestmark = pytest.mark.integration

DOSIRAK = [sys.executable, "-m", "dosirak.cli.main"]


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def without_styles(text: str) -> str:
    """``text`` without its colour and style escape sequences (``ESC[...m``)."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


class Terminal:
    """A process whose stdin, stdout and stderr are one pseudo-terminal; ``screen`` is all it wrote."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self._master, slave = os.openpty()
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=REPO,
                                     start_new_session=True)
        os.close(slave)
        self.screen = ""

    def read(self, timeout: float = 0.05) -> bool:
        """Read what is there; False once the process closed the terminal."""
        ready, _, _ = select.select([self._master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self._master, 65536)
        except OSError:  # EIO: every end of the slave is closed
            return False
        self.screen += data.decode("utf-8", "replace")
        return bool(data)

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read()
            if predicate():
                return
            assert self.proc.poll() is None or self.read(), f"exited {self.proc.returncode}: {self.screen}"
        raise AssertionError(f"timed out after {timeout} s waiting for {what}; screen: {self.screen!r}")

    def finish(self, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while self.read() and time.monotonic() < deadline:
            pass
        code = self.proc.wait(timeout=max(deadline - time.monotonic(), 1))
        os.close(self._master)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def test_a_run_on_a_terminal_shows_silent_steps_live_and_the_steps_own_progress_bar(tmp_path: Path) -> None:
    gate = str(tmp_path / "gate")
    env = {**python_env(), "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
    env.pop("CI", None)
    env.pop("DOSIRAK_PROGRESS", None)
    term = Terminal([*DOSIRAK, "run", "tests._pipelines.progress_bars:progress_bars", "-p", f"gate={gate}"], env)
    try:
        # a silent step that takes a while: its name and its time so far, redrawn in place
        term.wait_for(lambda: re.search(r"silent  [1-9]\.\d\d s", without_styles(term.screen)) is not None,
                      60, "the status line of the silent step, a second into it")
        assert "\r\x1b[2K" in term.screen  # redrawn in place, not a line per frame
        Path(gate + ".silent").touch()
        # the bar the step draws shows while the step still runs, as the step sees a terminal
        term.wait_for(lambda: "downloading 100/500" in term.screen and Path(gate + ".started").exists(),
                      60, "the first burst of the progress bar")
        assert Path(gate + ".started").read_text() == "True"
        assert term.proc.poll() is None
        Path(gate + ".draw").touch()
        code = term.finish()
    finally:
        term.kill()
    assert code == 0, term.screen
    screen = without_styles(term.screen)
    assert re.search(r"✓ silent +\d", screen) and re.search(r"✓ draw +\d", screen), screen
    assert "\rdownloading 500/500" in screen  # every frame reached the terminal, as written
    assert re.search(r"completed: 2 steps, 0 cached", screen), screen
    (run,) = Client().list_runs("progress_bars")
    assert run.steps["draw"].logs() == "downloading 500/500\n"  # the log keeps the bar's final state


@pytest.mark.parametrize(("flags", "extra_env"), [(["--plain"], {}), ([], {"CI": "true"})])
def test_plain_lines_on_a_terminal_with_the_plain_flag_or_under_ci(flags: list[str], extra_env: dict[str, str]) -> None:
    env = {**python_env(), "TERM": "xterm-256color", **extra_env}
    if "CI" not in extra_env:
        env.pop("CI", None)
    term = Terminal([*DOSIRAK, "run", "tests._pipelines.progress_bars:progress_bars", *flags], env)
    try:
        code = term.finish()
    finally:
        term.kill()
    assert code == 0, term.screen
    assert "step silent started\r\n" in term.screen and "\x1b[2K" not in term.screen, term.screen
    assert "\rdownloading 500/500" in term.screen  # the step still sees a terminal and draws in place


def test_a_run_in_a_pipe_shows_plain_lines_and_a_progress_bar_as_periodic_lines() -> None:
    env = {**python_env(), "DOSIRAK_PROGRESS_INTERVAL": "0.2"}
    env.pop("CI", None)
    env.pop("DOSIRAK_PROGRESS", None)
    done = subprocess.run([*DOSIRAK, "run", "tests._pipelines.progress_bars:progress_bars", "-p", "pause_s=0.3"],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stdout and "\x1b" not in done.stdout + done.stderr
    bars = [line for line in done.stdout.splitlines() if line.startswith("downloading")]
    assert 2 <= len(bars) <= 25, bars  # 500 frames: a line every 0.2 s at most, not one per frame
    assert bars[-1] == "downloading 500/500" and bars.count("downloading 500/500") == 1
    numbers = [int(line.split()[1].split("/")[0]) for line in bars]
    assert numbers == sorted(numbers)
    lines = done.stderr.splitlines()
    assert re.fullmatch(r"run progress_bars-\S+ started: 2 steps", lines[0]), lines
    assert lines[1:] == ["step silent started", lines[2], "step draw started", lines[4]], lines
    assert re.fullmatch(r"step silent completed in \d+\.\d\d s", lines[2])
    assert re.fullmatch(r"step draw completed in \d+\.\d\d s", lines[4])
    (run,) = Client().list_runs("progress_bars")
    assert run.steps["draw"].logs() == "downloading 500/500\n"


def ctrl_c_as_on_a_terminal() -> None:
    """In the child: SIGINT does what it does for a command typed at a terminal.

    A test suite started as a background job of a script (``bash .ci/run &``) runs with
    SIGINT ignored, and every child inherits that, so Python would install no handler.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_records_the_run_as_cancelled_says_so_in_one_line_and_exits_130(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    started = Path(str(gate) + ".started")
    proc = subprocess.Popen([*DOSIRAK, "run", "tests._pipelines.resumable:resumable", "-p", f"gate={gate}"],
                            env=python_env(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=ctrl_c_as_on_a_terminal)
    try:
        def third_step_started() -> bool:
            assert proc.poll() is None, proc.communicate()
            return started.exists() and bool(started.read_text())

        wait_for(third_step_started, 120, "the third step to start")
        run_id = started.read_text()
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    said = [line for line in err.splitlines() if "cancel" in line]
    assert len(said) == 2, err  # the step's line, and the run's one line
    assert said[0].startswith("step wait_for_gate cancelled after ")
    assert re.fullmatch(r"run resumable-\S+ cancelled by the user during step 'wait_for_gate'; "
                        r"a rerun resumes from the cache \(2 finished steps reused\)", said[1]), said
    assert "Traceback" not in err and "aborted" not in err and "interrupted" not in err, err

    cancelled = Client().get_run(run_id)
    assert cancelled.status == "cancelled"
    assert cancelled.error == "cancelled by the user during step 'wait_for_gate'"
    assert {n: s.status for n, s in cancelled.steps.items()} == {
        "load": "completed", "double": "completed", "wait_for_gate": "cancelled", "report": "skipped"}
    assert cancelled.steps["wait_for_gate"].error == "cancelled by the user"

    from tests._pipelines.resumable import resumable

    gate.write_text("open")
    rerun = resumable(gate=str(gate))
    assert {n: s.status for n, s in rerun.steps.items()} == {
        "load": "cached", "double": "cached", "wait_for_gate": "completed", "report": "completed"}
