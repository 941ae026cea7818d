"""Runs a small two-step pipeline N times (for concurrency tests): ``python -m tests._pipelines.chain TAG N``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dosirak import pipeline, step

REPO = Path(__file__).resolve().parents[2]


@step
def produce(tag: str, i: int) -> dict[str, object]:
    return {"tag": tag, "i": i}


@step
def describe(item: dict[str, object]) -> str:
    return f"{item['tag']}-{item['i']}"


@pipeline
def chain(tag: str = "a", i: int = 0) -> None:
    describe(produce(tag=tag, i=i))


def run_in_two_processes(runs_per_process: int, env: dict[str, str] | None = None) -> list[tuple[int, str, str]]:
    """Run ``chain`` ``runs_per_process`` times in each of two processes at once.

    Returns (exit status, stdout, stderr) of each process.
    """
    procs = [
        subprocess.Popen([sys.executable, "-m", "tests._pipelines.chain", tag, str(runs_per_process)],
                         env=env or dict(os.environ), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for tag in ("left", "right")
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]


def check_two_processes_record_every_run(runs_per_process: int, env: dict[str, str]) -> None:
    """Run :func:`run_in_two_processes` and check the store lost no run, output or artifact."""
    from dosirak import Client
    from dosirak.metadata.store import get_store

    for returncode, out, err in run_in_two_processes(runs_per_process, env):
        assert returncode == 0, err
        assert out.strip() == "done"
        assert "database is locked" not in err
    runs = Client().list_runs("chain", limit=1000)
    assert len(runs) == 2 * runs_per_process
    assert {r.status for r in runs} == {"completed"}
    outputs = sorted(r.steps["describe"].output.load() for r in runs)
    assert outputs == sorted(f"{tag}-{i}" for tag in ("left", "right") for i in range(runs_per_process))
    assert get_store().artifacts.count_artifacts() == 2 * 2 * runs_per_process


if __name__ == "__main__":
    tag, count = sys.argv[1], int(sys.argv[2])
    for i in range(count):
        run = chain(tag=tag, i=i)
        assert run.status == "completed", run.status
    print("done")
