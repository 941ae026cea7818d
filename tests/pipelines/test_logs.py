"""A step's captured output: progress bars (``\\r`` updates) as lines, and logging that keeps to its place."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import pytest

from dosirak import Client, pipeline, step
from dosirak.pipelines.logs import _InPlaceLines


def lines_of(feeds: list[str], interval_s: float | None) -> str:
    out = io.StringIO()
    lines = _InPlaceLines(out.write, interval_s)
    for text in feeds:
        lines.feed(text)
    lines.flush()
    return out.getvalue()


def test_a_line_redrawn_in_place_keeps_only_its_final_state() -> None:
    frames = [f"\r{i}%|{'#' * (i // 10)}" for i in range(101)]
    assert lines_of(["start\n", *frames, "\n", "end\n"], None) == "start\n100%|##########\nend\n"


def test_text_without_carriage_returns_passes_unchanged() -> None:
    assert lines_of(["a", "b\nc", "\n\n", "partial"], None) == "ab\nc\n\npartial"


def test_a_bar_that_erases_itself_keeps_its_last_drawn_state() -> None:
    # tqdm(leave=False) ends by blanking its line
    assert lines_of(["\r 10%", "\r 99%", "\r" + " " * 10 + "\r", "next\n"], None) == " 99%\nnext\n"


def test_windows_line_ends_are_one_line() -> None:
    assert lines_of(["one\r\n", "two\r\n"], None) == "one\ntwo\n"


def test_periodic_lines_write_the_latest_state_at_most_every_interval() -> None:
    frames = [f"\r{i}/1000" for i in range(1, 1001)]
    # a long interval: the first state when the bar appears, then the final one
    assert lines_of(frames, 3600.0) == "1/1000\n1000/1000\n"
    # no interval: every new state is a line, and the final one is not repeated
    assert lines_of(["\r1/3", "\r2/3", "\r3/3", "\n"], 0.0) == "1/3\n2/3\n3/3\n"


@step
def bar() -> int:
    for i in range(1, 301):
        sys.stdout.write(f"\rworking {i}/300")
        sys.stdout.flush()
    sys.stdout.write("\n")
    print("done")
    return 300


@pipeline
def with_bar() -> None:
    bar()


def test_a_step_log_keeps_a_progress_bar_as_its_final_line_and_a_pipe_sees_few_lines(
        capsys: pytest.CaptureFixture[str]) -> None:
    run = with_bar()
    assert run.steps["bar"].logs() == "working 300/300\ndone\n"
    out = capsys.readouterr().out
    assert "\r" not in out
    assert out.endswith("working 300/300\ndone\n")
    assert out.count("working") <= 2  # the first state and the final one, within 10 s


@pytest.fixture
def warning_console(monkeypatch: pytest.MonkeyPatch) -> Iterator[logging.StreamHandler[io.StringIO]]:
    """The root logger at WARNING with one console handler, as ``logging.basicConfig()`` leaves it."""
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [handler])  # pytest's own handlers aside
    monkeypatch.setattr(root, "level", logging.WARNING)
    dosirak_logger = logging.getLogger("dosirak")
    old_level = dosirak_logger.level
    dosirak_logger.setLevel(logging.NOTSET)  # as in a fresh process (the CLI tests in this session set one)
    yield handler
    dosirak_logger.setLevel(old_level)


@step
def talks() -> int:
    logging.getLogger("dosirak.deployers.local").info("deployment abc serves x at http://127.0.0.1:3001")
    logging.getLogger("user.code").info("user info")
    logging.getLogger("user.code").warning("user warning")
    return 1


@pipeline
def talking() -> None:
    talks()


def test_info_records_inside_a_step_reach_its_log_but_not_a_console_set_to_warning(
        warning_console: logging.StreamHandler[io.StringIO]) -> None:
    run = talking()
    log = run.steps["talks"].logs()
    assert "deployment abc serves x" in log and "user info" in log and "user warning" in log
    assert warning_console.stream.getvalue() == "WARNING user.code: user warning\n"
    assert not warning_console.filters  # as it was before the step
    assert logging.getLogger().level == logging.WARNING


def test_a_warning_inside_a_step_still_reaches_stderr_when_logging_is_not_configured(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # Python's default: warnings print bare on stderr
    monkeypatch.setattr(root, "level", logging.WARNING)
    run = talking()
    err = capsys.readouterr().err
    assert "user warning\n" in err
    assert "user info" not in err and "deployment abc" not in err
    assert Client().get_run(run.id).steps["talks"].logs().count("user warning") == 1
