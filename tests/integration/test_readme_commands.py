"""Every ```bash block of README.md and examples/*/README.md runs as written, in order.

What the test does, as a reader would:

* It copies README.md and ``examples/`` into a temporary directory (the "checkout"; no file
  of the real one is written), with a temporary ``DOSIRAK_HOME`` and ``HOME`` (``~/.ssh``,
  ``~/trusted_keys``), and this venv's ``bin`` first on ``PATH`` (what ``. .venv/bin/activate``
  does).
* It runs the README's first command without its setup half: ``python
  examples/fashion_mnist/run.py``; ``bash scripts/setup.sh`` makes the venv this test runs in.
* Then each ```bash block, README.md's first and the examples' READMEs' after, in a fresh
  ``bash -e -o pipefail`` at the checkout's root, as a reader starts each section. A
  ```python or ```yaml block whose first line is ``# NAME`` (``# pipeline.py``,
  ``# config.yaml``) is written to ``NAME`` at the root first: the commands after it use it.
* Fixed ports (3000, 3001 and the dashboard's 8237) become free ones, in the blocks and in
  the copied example, since tests on this machine run side by side.
* A command that serves until stopped (:data:`UNTIL_STOPPED`) runs in the background until it
  answers, then gets SIGTERM and must exit 0. The dashboard (``dosirak up``), and the
  deployments the blocks start, are stopped at the end.

Blocks not run are listed in :data:`SKIPPED` with the reason. Every other block must exit 0,
and print no ``{"error": ...}`` body from a service.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]

#: First line of a block not run -> why this machine cannot run it in a test.
SKIPPED = {
    "bash scripts/setup.sh && .venv/bin/python examples/fashion_mnist/run.py":
        "the setup lines: they make .venv, the venv this test runs in; the test runs the example first",
    "python examples/fashion_mnist/run.py":
        "the command the test ran first (the README's first command): 70 s more on 2 shared cores; rerunning it "
        "is a redeploy, which tests/integration/deployers/ cover",
    "bash scripts/setup.sh && . .venv/bin/activate":
        "the example's setup line, the README's first command: it makes .venv, the venv this test runs in",
    "dosirak bundle containerize fashion_mnist:latest   # a real image: localhost/fashion_mnist:VERSION":
        "builds a 1.4 GB image (82 s cold) and runs containers: tests/integration/bundles/ build and run images",
    "dosirak integration install aws":
        "real AWS (SageMaker, ECR, an IAM role); tests/integration/deployers/ use moto for it",
    ".venv/bin/python benchmarks/pipeline_overhead.py":
        "the benchmarks: minutes of CPU and wrk load on shared cores; never run in tests",
}

#: A command that runs until stopped -> the path it answers 200 on once ready (on its port).
UNTIL_STOPPED = {"dosirak serve ": "/readyz"}

FIXED_PORTS = (3000, 3001)
PYTHON_BIN = Path(sys.executable).parent


def blocks(readme: Path) -> list[tuple[str, str]]:
    """``(language, text)`` of every fenced block of ``readme``, in order."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```", readme.read_text(), re.S | re.M)]


def readmes() -> list[Path]:
    return [REPO / "README.md", *sorted(REPO.glob("examples/*/README.md"))]


def with_free_ports(text: str, ports: dict[int, int]) -> str:
    for fixed, free in ports.items():
        text = re.sub(rf"\b{fixed}\b", str(free), text)
    return text


def until_stopped(block: str) -> str:
    """Run :data:`UNTIL_STOPPED` lines in the background until ready, then SIGTERM them (exit 0 expected)."""
    lines = []
    for line in block.splitlines():
        for prefix, path in UNTIL_STOPPED.items():
            if line.startswith(prefix):
                port = re.search(r"--port (\d+)", line)
                assert port is not None, f"{line!r} names no --port the test can wait on"
                command = line.split("  #", 1)[0]
                line = (f"{command} & server=$!; ready http://127.0.0.1:{port.group(1)}{path} $server; "
                        "kill -TERM $server; wait $server")
        lines.append(line)
    return "\n".join(lines)


PRELUDE = """
ready() {  # URL PID: poll until URL answers 200 (deadline 120 s), or fail if PID exited
  for _ in $(seq 600); do
    curl -sf -o /dev/null "$1" && return 0
    kill -0 "$2" 2>/dev/null || { echo "server exited before $1 answered" >&2; return 1; }
    sleep 0.2
  done
  echo "$1 never answered" >&2; kill -TERM "$2"; return 1
}
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], dict[int, int]]]:
    """A copy of README.md and examples/ with free ports, its environment, and the port map."""
    root = tmp_path / "checkout"
    root.mkdir()
    shutil.copy(REPO / "README.md", root / "README.md")
    shutil.copytree(REPO / "examples", root / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    ports = {fixed: free_port() for fixed in FIXED_PORTS}
    for path in root.joinpath("examples").rglob("*"):
        if path.suffix in (".py", ".yaml", ".md"):
            path.write_text(with_free_ports(path.read_text(), ports))
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOSIRAK_")}
    env.update(HOME=str(home), DOSIRAK_HOME=str(tmp_path / "dosirak_home"),
               PATH=os.pathsep.join([str(PYTHON_BIN), env.get("PATH", "")]), PYTHONDONTWRITEBYTECODE="1",
               # the S3 section's reader has AWS credentials in the environment (nothing is contacted)
               AWS_ACCESS_KEY_ID="readme-test-key-id", AWS_SECRET_ACCESS_KEY="readme-test-secret")
    try:
        yield root, env, ports
    finally:
        def dosirak(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([str(PYTHON_BIN / "dosirak"), *args], cwd=root, env=env, capture_output=True,
                                  text=True, timeout=120)

        dosirak("down")
        listed = dosirak("deployment", "list", "--json")
        for deployment in json.loads(listed.stdout or "[]"):
            if deployment["status"] not in ("stopped", "failed"):
                dosirak("deployment", "stop", deployment["id"])


def test_every_bash_block_of_the_readmes_runs_as_written_in_order(
        checkout: tuple[Path, dict[str, str], dict[int, int]]) -> None:
    root, env, ports = checkout
    dashboard_port = free_port()
    timings: list[tuple[str, float]] = []

    def report() -> str:
        return "\n".join(f"{seconds:6.1f} s  {label}" for label, seconds in timings)

    def run(label: str, command: list[str]) -> str:
        started = time.perf_counter()
        result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=600)
        timings.append((label, time.perf_counter() - started))
        assert result.returncode == 0, (
            f"{label} exited with status {result.returncode}\n--- stdout\n{result.stdout[-3000:]}\n"
            f"--- stderr\n{result.stderr[-3000:]}\n--- so far\n" + report())
        assert '{"error":' not in result.stdout, f"{label}: a service answered an error\n{result.stdout[-3000:]}"
        return result.stdout

    run("the example (the README's first command)", [sys.executable, "examples/fashion_mnist/run.py"])
    ran = skipped = 0
    for readme in readmes():
        for number, (language, text) in enumerate(blocks(readme), 1):
            first = text.splitlines()[0] if text.strip() else ""
            if language in ("python", "yaml") and re.fullmatch(r"# [\w.-]+\.(py|yaml)", first):
                (root / first[2:]).write_text(text)
                continue
            if language != "bash":
                continue
            if any(first.startswith(key) for key in SKIPPED):
                skipped += 1
                continue
            script = until_stopped(with_free_ports(text, ports))
            script = re.sub(r"^dosirak up\b", f"dosirak up --port {dashboard_port}", script, flags=re.M)
            run(f"{readme.relative_to(REPO)} block {number} ({first[:60]!r})",
                ["bash", "-e", "-o", "pipefail", "-c", PRELUDE + script])
            ran += 1
    assert skipped == len(SKIPPED), "a SKIPPED block is no longer in the READMEs: remove it from the list"
    assert ran >= 10
    print(report())
