"""``dosirak run``: pipelines from a file or module, with --config YAML, --param and --no-cache."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from dosirak import Client
from dosirak.cli.main import cli
from dosirak.cli.run import _parse_param
from dosirak.errors import ConfigError
from tests.cli.conftest import Invoke, one_line_error

PIPELINE_FILE = Path(__file__).resolve().parents[1] / "_pipelines" / "measure.py"
FAILING = '''
from dosirak import pipeline, step


@step
def broken() -> int:
    raise RuntimeError("deliberately broken")


@pipeline
def fails() -> None:
    broken()
'''


def test_run_with_click_runner_reports_the_run() -> None:
    result = CliRunner().invoke(cli, ["run", f"{PIPELINE_FILE}:measure", "-p", "count=4"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "completed: 3 steps, 0 cached" in result.output
    (run,) = Client().list_runs("measure")
    assert run.parameters == {"count": 4}
    assert run.steps["tally"].output.load() == 4


def test_run_with_a_yaml_config_and_a_param_that_overrides_it(dosirak: Invoke, tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("parameters:\n  count: 2\nsteps:\n  words:\n    enable_cache: false\n")
    first = dosirak("run", "tests._pipelines.measure:measure", "--config", str(config))
    assert first.exit_code == 0, first.stderr
    second = dosirak("run", "tests._pipelines.measure:measure", "--config", str(config), "--param", "count=5")
    assert second.exit_code == 0, second.stderr
    assert "completed: 3 steps, 0 cached" in second.stdout
    newest, oldest = Client().list_runs("measure")
    assert (oldest.parameters, newest.parameters) == ({"count": 2}, {"count": 5})
    assert newest.steps["tally"].output.load() == 5


def test_rerun_hits_the_cache_and_no_cache_runs_everything(dosirak: Invoke) -> None:
    assert dosirak("run", f"{PIPELINE_FILE}:measure").exit_code == 0
    assert "3 steps, 3 cached" in dosirak("run", f"{PIPELINE_FILE}:measure").stdout
    assert "3 steps, 0 cached" in dosirak("run", f"{PIPELINE_FILE}:measure", "--no-cache").stdout


def test_a_failing_run_exits_1_naming_the_step(dosirak: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "failing_pipeline.py"
    path.write_text(FAILING)
    result = dosirak("run", f"{path}:fails")
    assert result.exit_code == 1
    assert "failed at step 'broken': RuntimeError: deliberately broken" in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["run", "no_colon"], "give the pipeline as FILE.py:NAME"),
    (["run", "missing_file.py:p"], "pipeline file missing_file.py does not exist"),
    (["run", f"{PIPELINE_FILE}:words"], "'words' in .* is not a @pipeline; pipelines there: measure"),
    (["run", f"{PIPELINE_FILE}:measure", "-p", "counts=3"], "pipeline 'measure': .*'counts'.*its parameters are: count"),
    (["run", f"{PIPELINE_FILE}:measure", "-p", "count=three"], "parameter 'count' expects int but got str 'three'"),
    (["run", f"{PIPELINE_FILE}:measure", "-p", "count"], "--param takes key=value"),
    (["run", f"{PIPELINE_FILE}:measure", "--stack", "nope"], "no stack named 'nope'"),
    (["run", "no.such.module:p"], "cannot import module 'no.such.module'"),
])
def test_bad_run_input_exits_2_with_a_one_line_error(dosirak: Invoke, args: list[str], message: str) -> None:
    import re

    line = one_line_error(dosirak(*args))
    assert line.startswith("error: ")
    assert re.search(message, line), line
    assert Client().list_runs() == []


def test_a_bad_config_file_exits_2(dosirak: Invoke, tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("paramters: {}\n")
    assert "unknown config key(s) paramters" in one_line_error(
        dosirak("run", f"{PIPELINE_FILE}:measure", "--config", str(config)))
    config.write_text("parameters: [unclosed\n")
    assert re.search(r"is not valid YAML at line 2, column 1: (did not find )?expected ',' or '\]'", one_line_error(
        dosirak("run", f"{PIPELINE_FILE}:measure", "--config", str(config))))


def test_params_are_json_when_they_parse_else_strings() -> None:
    assert _parse_param("n=3") == ("n", 3)
    assert _parse_param("xs=[1, 2]") == ("xs", [1, 2])
    assert _parse_param("name=hello") == ("name", "hello")
    assert _parse_param("eq=a=b") == ("eq", "a=b")
    with pytest.raises(ConfigError):
        _parse_param("novalue")


def test_param_on_the_command_line_wins_over_the_config_file_and_every_listing_shows_it(
        dosirak: Invoke, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("enable_cache: true\nparameters: {count: 2000}\nsteps:\n  fit: {parameters: {l2: 0.5}}\n")
    result = dosirak("run", "tests._pipelines.layered:train", "--config", str(config), "--param", "l2=0.2")
    assert result.exit_code == 0, result.stderr
    assert "keeps 0.2 from pipeline parameter 'l2'" in result.stderr
    (run,) = Client().list_runs("train")
    assert run.steps["fit"].output.load() == 400.0  # 2000 * 0.2: it ran with the command line's l2
    listed = dosirak("runs", "list", "--json").json()
    assert listed[0]["parameters"] == {"count": 2000, "l2": 0.2, "verbose": False}
    shown = dosirak("runs", "show", run.id, "--json").json()
    assert shown["parameters"]["l2"] == 0.2
    assert {s["name"]: s["parameters"] for s in shown["steps"]} == {
        "load": {"count": 2000}, "fit": {"l2": 0.2, "shuffle": False}}
    table = dosirak("runs", "show", run.id).stdout
    assert '{"l2": 0.2, "shuffle": false}' in table and '{"count": 2000}' in table
    assert "0.5" not in table
