"""What a run shows on stderr while it runs: plain lines, a live status line, or nothing."""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Iterator
from typing import TextIO

import pytest

from dosirak import pipeline, step
from dosirak.errors import ConfigError, RunFailedError
from dosirak.pipelines import progress
from dosirak.settings import load_settings, reset_settings


@step
def source() -> int:
    return 2


@step
def doubled(x: int) -> int:
    return 2 * x


@step
def breaks(x: int) -> int:
    raise RuntimeError(f"broken at {x}")


@pipeline
def steady() -> None:
    doubled(source())


@pipeline
def fragile() -> None:
    doubled(breaks(source()))


def test_plain_lines_show_each_step_starting_and_finishing_and_cache_hits(capsys: pytest.CaptureFixture[str]) -> None:
    first = steady()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"run {first.name} started: 2 steps"
    assert lines[1] == "step source started" and lines[3] == "step doubled started"
    assert re.fullmatch(r"step source completed in \d+\.\d\d s", lines[2])
    assert re.fullmatch(rf"run {first.name} completed in \d+\.\d\d s: 2 steps, 0 cached", lines[-1])
    second = steady()
    again = capsys.readouterr().err.splitlines()
    assert again[1:3] == ["step source cached", "step doubled cached"]
    assert re.fullmatch(rf"run {second.name} completed in \d+\.\d\d s: 2 steps, 2 cached", again[-1])


def test_plain_lines_say_which_step_failed_and_what_was_skipped(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(RunFailedError):
        fragile()
    err = capsys.readouterr().err
    assert re.search(r"^step breaks failed after \d+\.\d\d s: RuntimeError: broken at 2$", err, re.M), err
    assert "step doubled skipped: step 'breaks' did not finish\n" in err
    assert re.search(r"^run fragile-\S+ failed in .*: 3 steps, 0 cached; step 'breaks' failed", err, re.M), err


def test_progress_off_prints_nothing(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOSIRAK_PROGRESS", "off")
    reset_settings()
    steady()
    assert capsys.readouterr().err == ""
    with progress.display("plain"):  # what a caller asks for wins over the setting
        steady()
    assert "step source cached" in capsys.readouterr().err


def test_the_caller_may_print_the_summary_itself(capsys: pytest.CaptureFixture[str]) -> None:
    with progress.display("plain", summary=False):
        run = steady()
    assert f"run {run.name} completed" not in capsys.readouterr().err


@pytest.fixture
def terminal() -> Iterator[tuple[int, TextIO]]:
    """The two ends of a real pseudo-terminal: the master fd, and the slave as a text stream."""
    master, slave = os.openpty()
    stream = open(slave, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        yield master, stream
    finally:
        stream.close()
        os.close(master)


def read_screen(master: int) -> str:
    """Everything written to the terminal so far (a pty hands it over in chunks: read until it is drained)."""
    import select

    chunks = []
    while select.select([master], [], [], 0.2)[0]:
        chunk = os.read(master, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_auto_is_live_on_a_terminal_and_plain_under_ci_or_elsewhere(
        terminal: tuple[int, TextIO], monkeypatch: pytest.MonkeyPatch) -> None:
    _, tty = terminal
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("DOSIRAK_PROGRESS", raising=False)
    reset_settings()
    assert isinstance(progress.for_run(tty), progress.LiveProgress)
    assert isinstance(progress.for_run(io.StringIO()), progress.PlainProgress)
    monkeypatch.setenv("CI", "true")
    reset_settings()
    assert isinstance(progress.for_run(tty), progress.PlainProgress)
    with progress.display("live"):
        assert isinstance(progress.for_run(io.StringIO()), progress.LiveProgress)


def test_the_live_display_gives_the_console_back_when_the_run_ends(terminal: tuple[int, TextIO]) -> None:
    master, tty = terminal
    handler = logging.StreamHandler(tty)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        live = progress.LiveProgress(tty)
        live.run_started("r", ["one"])
        live.step_started("one")
        assert handler.stream is not tty  # a record now erases the status line first
        handler.emit(logging.makeLogRecord({"msg": "a record", "levelno": logging.WARNING}))
        live.step_finished("one", "completed", 0.5)
        live.close()
        assert handler.stream is tty
    finally:
        root.removeHandler(handler)
    tty.flush()
    screen = read_screen(master)
    assert "\r\x1b[2K" in screen  # the status line, erased before the record
    assert screen.index("one") < screen.index("a record") < screen.index("0.50 s")
    assert "▸ one" in screen  # whose output the record is


def test_the_live_status_line_names_every_step_running_at_once(terminal: tuple[int, TextIO]) -> None:
    master, tty = terminal
    live = progress.LiveProgress(tty)
    try:
        live.run_started("r", ["left", "right"])
        live.step_started("left")
        live.step_started("right")
        live.step_finished("left", "completed", 0.5)
        live.step_finished("right", "completed", 0.7)
    finally:
        live.close()
    tty.flush()
    screen = read_screen(master)
    assert "left, right" in screen  # the status line while both ran
    assert screen.index("0.50 s") < screen.index("0.70 s")


@pytest.mark.parametrize(("seconds", "text"), [(0.421, "0.42 s"), (12.34, "12.3 s"), (245, "4 min 05 s")])
def test_durations_read_naturally(seconds: float, text: str) -> None:
    assert progress.duration(seconds) == text


@pytest.mark.parametrize(("name", "value", "message"), [
    ("DOSIRAK_PROGRESS", "loud", "DOSIRAK_PROGRESS / progress: 'loud' is not one of auto, live, plain, off"),
    ("DOSIRAK_PROGRESS_INTERVAL", "soon", "'soon' is not a number of seconds"),
    ("DOSIRAK_PROGRESS_INTERVAL", "nan", "must be between 0 and 86400 seconds"),
    ("DOSIRAK_PROGRESS_INTERVAL", "0", "must be between 0 and 86400 seconds"),
])
def test_bad_progress_settings_say_what_is_allowed(monkeypatch: pytest.MonkeyPatch, name: str, value: str,
                                                   message: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings()
