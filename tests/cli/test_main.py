"""The ``dosirak`` group: lazy command table, help, version, logging set up once per invocation."""

from __future__ import annotations

import logging

from click.testing import CliRunner

from dosirak.cli.main import COMMANDS, cli
from tests.cli.conftest import Invoke


def test_help_lists_every_command_with_its_summary() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in result.output, name


def test_every_command_in_the_table_imports_as_a_click_command() -> None:
    ctx = cli.make_context("dosirak", ["--help"], resilient_parsing=True)
    for name in COMMANDS:
        assert cli.get_command(ctx, name) is not None, name


def test_version_option_prints_the_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert "dosirak" in result.output and "0." in result.output


def test_invoking_the_cli_twice_in_one_process_logs_each_line_once(dosirak: Invoke) -> None:
    root = logging.getLogger()
    before = len(root.handlers)
    dosirak("run", "tests._pipelines.measure:measure")
    second = dosirak("run", "tests._pipelines.measure:measure", "-p", "count=2")
    assert second.stderr.count(" started: 3 steps") == 1, second.stderr
    assert "of pipeline 'measure' started" not in second.stderr  # the log record the display shows
    assert len(root.handlers) <= before + 1


def test_verbose_adds_dosirak_log_records_to_the_progress_lines(dosirak: Invoke) -> None:
    result = dosirak("-v", "run", "tests._pipelines.measure:measure")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("of pipeline 'measure' started (3 steps)") == 1, result.stderr
    assert result.stderr.count(" started: 3 steps") == 1, result.stderr


def test_a_mistyped_command_suggests_the_closest_ones(dosirak: Invoke) -> None:
    result = dosirak("bundles", "list")
    assert result.exit_code == 2
    assert "No such command 'bundles'. Did you mean 'bundle'?" in result.stderr, result.stderr


def test_an_unknown_command_with_nothing_close_is_refused_without_a_guess(dosirak: Invoke) -> None:
    result = dosirak("frobnicate")
    assert result.exit_code == 2
    assert "No such command 'frobnicate'." in result.stderr and "Did you mean" not in result.stderr
