"""One rule per kind of failure, as `dosirak --help` and the README state it: a real `dosirak` per kind.

2: bad usage or input; 1: a pipeline run failed; 3: `dosirak serve` could not load the service.
Each prints one `error:` line on stderr and no traceback, unless `-vv` asks for one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.pipelines.test_client_process import REPO, python_env
from tests.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DOSIRAK = str(Path(sys.executable).parent / "dosirak")  # this venv's, as a user runs it

FAILING_PIPELINE = '''
from dosirak import pipeline, step


@step
def broken() -> int:
    raise RuntimeError("deliberately broken")


@pipeline
def fails() -> None:
    broken()
'''

UNLOADABLE_SERVICE = '''
import dosirak as dk


@dk.service(name="unloadable")
class Unloadable:
    def __init__(self) -> None:
        raise RuntimeError("cannot load the model")

    @dk.api
    def predict(self, x: int) -> int:
        return x
'''


def dosirak(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DOSIRAK, *args], capture_output=True, text=True, timeout=120, env=python_env(), cwd=cwd)


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def assert_one_error_line(result: subprocess.CompletedProcess[str], status: int) -> str:
    assert result.returncode == status, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    (line,) = error_lines(result)
    return line


@pytest.mark.parametrize(("args", "message"), [
    (["run"], "error: Missing argument 'TARGET'. (`dosirak run --help` shows the usage)"),
    (["runz", "list"], "error: No such command 'runz'. Did you mean 'run' or 'runs'?"),
    (["runs", "list", "--status", "bogus"], "error: Invalid value for '--status': 'bogus' is not one of"),
    (["runs", "show", "feedbeef"], "error: no run with id 'feedbeef'"),
    (["run", "no_such_file.py:p"], "error: pipeline file no_such_file.py does not exist"),
])
def test_bad_usage_or_input_is_one_error_line_and_status_2(args: list[str], message: str) -> None:
    result = dosirak(*args)
    assert_one_error_line(result, 2).startswith(message)
    assert result.stderr.strip().count("\n") == 0, result.stderr  # nothing else: no "Usage:" block


def test_a_failed_run_is_one_error_line_and_status_1_and_vv_adds_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "failing.py").write_text(FAILING_PIPELINE)
    result = dosirak("run", "failing.py:fails", cwd=tmp_path)
    line = assert_one_error_line(result, 1)
    assert "failed at step 'broken': RuntimeError: deliberately broken" in line
    assert "dosirak runs show" in line
    verbose = dosirak("-vv", "run", "failing.py:fails", cwd=tmp_path)
    assert verbose.returncode == 1
    assert 'raise RuntimeError("deliberately broken")' in verbose.stderr, verbose.stderr  # the step's own
    assert len(error_lines(verbose)) == 1


def test_an_unloadable_service_is_one_error_line_and_status_3_and_vv_adds_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "service.py").write_text(UNLOADABLE_SERVICE)
    result = dosirak("serve", "service.py:Unloadable", "--port", str(free_port()), cwd=tmp_path)
    line = assert_one_error_line(result, 3)
    assert "RuntimeError: cannot load the model (at service.py:8 in __init__)" in line, line
    verbose = dosirak("-vv", "serve", "service.py:Unloadable", "--port", str(free_port()), cwd=tmp_path)
    assert verbose.returncode == 3
    assert 'raise RuntimeError("cannot load the model")' in verbose.stderr and len(error_lines(verbose)) == 1


def test_help_states_the_exit_statuses() -> None:
    result = dosirak("--help")
    assert result.returncode == 0
    assert "Exit status" in result.stdout
    for status, kind in (("1", "a pipeline run failed"), ("2", "bad usage or input"),
                         ("3", "dosirak serve: the service could not be loaded")):
        assert f"  {status}    {kind}" in result.stdout, result.stdout
