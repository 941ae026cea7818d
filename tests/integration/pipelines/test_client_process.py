"""What one process records, another reads back the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dosirak import Client

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def python_env() -> dict[str, str]:
    """This process's environment (with its DOSIRAK_HOME), able to import the tests package."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _view(run: object) -> dict[str, object]:
    return {
        "id": run.id, "status": run.status, "pipeline": run.pipeline_name,  # type: ignore[attr-defined]
        "steps": {n: [s.status, {k: [a.id, a.load()] for k, a in s.outputs.items()}]
                  for n, s in run.steps.items()},  # type: ignore[attr-defined]
    }


def test_client_get_run_from_another_process_returns_the_same_view() -> None:
    from tests._pipelines.measure import measure

    run = measure()
    script = (
        "import json, sys\n"
        "from dosirak import Client\n"
        "from tests.integration.pipelines.test_client_process import _view\n"
        "print(json.dumps(_view(Client().get_run(sys.argv[1]))))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, run.id], capture_output=True, text=True, timeout=120,
                         env=python_env(), cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == _view(run)


def test_a_run_made_by_another_process_is_readable_here() -> None:
    out = subprocess.run([sys.executable, "-c", "from tests._pipelines.measure import main; main()"],
                         capture_output=True, text=True, timeout=120, env=python_env(), cwd=REPO)
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.strip().splitlines()[-1]
    run = Client().get_run(run_id)
    assert run.status == "completed"
    assert run.steps["tally"].output.load() == 3
    assert "tallying 3 numbers" in run.steps["tally"].logs()
