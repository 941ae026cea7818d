"""The real ``dosirak`` executable, as a user runs it: every command family end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.pipelines.test_client_process import REPO, python_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DOSIRAK = shutil.which("dosirak") or str(Path(__file__).resolve().parents[3] / ".venv" / "bin" / "dosirak")


def dosirak(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DOSIRAK, *args], capture_output=True, text=True, timeout=120, env=python_env(), cwd=cwd)


def ok(*args: str) -> str:
    result = dosirak(*args)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout


def test_run_inspect_and_rerun_from_the_shell(tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("parameters:\n  count: 2\n")
    out = ok("run", "tests/_pipelines/measure.py:measure", "--config", str(config), "--param", "count=3")
    assert "completed: 3 steps, 0 cached" in out
    assert "3 steps, 3 cached" in ok("run", "tests/_pipelines/measure.py:measure", "-p", "count=3")

    assert json.loads(ok("pipeline", "list", "--json"))[0]["runs"] == 2
    runs = json.loads(ok("runs", "list", "--json"))
    assert [r["parameters"] for r in runs] == [{"count": 3}, {"count": 3}]
    shown = json.loads(ok("runs", "show", runs[1]["id"], "--json"))
    assert [s["status"] for s in shown["steps"]] == ["completed", "completed", "completed"]
    assert f"cache hit from run {runs[1]['id'][:8]}" in ok("runs", "show", runs[0]["id"][:8])
    assert "tallying 3 numbers" in ok("runs", "logs", runs[1]["id"], "--step", "tally")

    artifacts = json.loads(ok("artifact", "list", "--json"))
    assert len(artifacts) == 4
    assert "produced by" in ok("artifact", "show", artifacts[0]["id"][:8])


def test_stacks_and_components_from_the_shell(tmp_path: Path) -> None:
    ok("artifact-store", "register", "scratch", "--flavor=local", f"--path={tmp_path}")
    ok("orchestrator", "register", "runner", "--flavor=local")
    ok("model-deployer", "register", "deployer", "--flavor=local")
    ok("stack", "register", "dev", "-o", "runner", "-a", "scratch", "-d", "deployer", "--set")
    assert {s["name"]: s["active"] for s in json.loads(ok("stack", "list", "--json"))} == {"default": False, "dev": True}
    assert "stack dev (active)" in ok("stack", "describe")
    for ctype, name in (("orchestrator", "runner"), ("artifact-store", "scratch"), ("model-deployer", "deployer")):
        assert {c["name"]: c["stacks"] for c in json.loads(ok(ctype, "list", "--json"))}[name] == ["dev"]
        assert json.loads(ok(ctype, "describe", name, "--json"))["name"] == name
    ok("stack", "set", "default")
    ok("stack", "delete", "dev")
    for ctype, name in (("orchestrator", "runner"), ("artifact-store", "scratch"), ("model-deployer", "deployer")):
        ok(ctype, "delete", name)
    assert "fsspec" in ok("flavor", "list")


def test_init_makes_a_project_home_that_commands_below_it_use(tmp_path: Path) -> None:
    env = python_env()
    env.pop("DOSIRAK_HOME")
    result = subprocess.run([DOSIRAK, "init"], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".dosirak" / "metadata.db").is_file()
    sub = tmp_path / "sub"
    sub.mkdir()
    listed = subprocess.run([DOSIRAK, "stack", "list", "--json"], capture_output=True, text=True, timeout=120,
                            env=env, cwd=sub)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)[0]["name"] == "default"


@pytest.mark.parametrize("args", [
    ["run", "tests/_pipelines/measure.py:measure", "-p", "nope=1"],
    ["run", "tests/_pipelines/measure.py:measure", "-p", "count=x"],
    ["run", "missing.py:p"],
    ["stack", "set", "nope"],
    ["runs", "show", "deadbeef"],
    ["orchestrator", "register", "o", "--flavor=nope"],
])
def test_bad_input_exits_2_with_a_one_line_error(args: list[str]) -> None:
    result = dosirak(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
