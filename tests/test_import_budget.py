"""``import dosirak`` and ``dosirak --help`` stay light: no heavy module loaded, time close to a bare interpreter."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.integration

HEAVY = ("torch", "sqlalchemy", "pydantic", "numpy", "fsspec", "rich", "pandas", "sklearn", "alembic", "yaml",
         "simdjson")

IMPORT = "import dosirak"
HELP = (
    "import contextlib, io\n"
    "from dosirak.cli.main import main\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    try:\n"
    "        main(['--help'])\n"
    "    except SystemExit:\n"
    "        pass\n"
)
REPORT = "\nimport json, sys\nprint(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))\n"


def loaded_heavy_modules(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code + REPORT.format(heavy=HEAVY)], capture_output=True, text=True,
                         timeout=60, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def best_time(argv: list[str], repeats: int = 5) -> float:
    """The fastest of a few runs: noise on a shared machine only ever adds time."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, timeout=60, check=True, env=dict(os.environ))
        best = min(best, time.perf_counter() - start)
    return best


def test_import_dosirak_loads_no_heavy_module() -> None:
    assert loaded_heavy_modules(IMPORT) == []


def test_dosirak_help_loads_no_heavy_module() -> None:
    assert loaded_heavy_modules(HELP) == []


def test_import_and_help_take_a_small_multiple_of_a_bare_interpreter() -> None:
    bare = best_time([sys.executable, "-c", "pass"])
    imported = best_time([sys.executable, "-c", IMPORT])
    executable = shutil.which("dosirak", path=os.path.dirname(sys.executable))
    helped = best_time([executable, "--help"] if executable else [sys.executable, "-m", "dosirak.cli.main", "--help"])
    assert imported / bare < 8, (imported, bare)
    assert helped / bare < 8, (helped, bare)


def test_a_pipeline_that_never_touches_torch_never_imports_it() -> None:
    code = (
        "from dosirak import pipeline, step\n"
        "@step\n"
        "def make() -> list[int]:\n"
        "    return [1, 2]\n"
        "@step\n"
        "def total(xs: list[int]) -> int:\n"
        "    return sum(xs)\n"
        "@pipeline\n"
        "def light() -> None:\n"
        "    total(make())\n"
        "assert light().steps['total'].output.load() == 3\n"
    )
    out = subprocess.run([sys.executable, "-c", code + REPORT.format(heavy=("torch", "sklearn", "pandas", "PIL"))],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_a_run_on_the_local_artifact_store_never_imports_fsspec() -> None:
    code = (
        "from dosirak import pipeline, step\n"
        "@step\n"
        "def make() -> list[int]:\n"
        "    print('making')\n"
        "    return [1, 2]\n"
        "@step\n"
        "def total(xs: list[int]) -> int:\n"
        "    return sum(xs)\n"
        "@pipeline\n"
        "def light() -> None:\n"
        "    total(make())\n"
        "run = light()\n"
        "assert run.steps['total'].output.load() == 3\n"
        "assert 'making' in run.steps['make'].logs()\n"
        "from dosirak.dashboard import storage\n"
        "assert storage.list_files(run.steps['make'].output.uri)[0].name == 'data.json'\n"
    )
    out = subprocess.run([sys.executable, "-c", code + REPORT.format(heavy=("fsspec",))],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_import_dosirak_loads_no_module_but_itself_beyond_what_typing_needs() -> None:
    code = (
        "import __future__, sys, typing\n"
        "typed = set(sys.modules)\n"
        "import dosirak\n"
        "print(' '.join(sorted(set(sys.modules) - typed)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["dosirak"]


#: what a run of small steps on the local stack has no use for: dosirak's own plugins are read without
#: importlib.metadata (20 ms of email, zipfile, csv); a credential is resolved only for a
#: remote artifact store, a queue only when steps run on threads, YAML only for a config file
NOT_FOR_A_LOCAL_CHAIN = ("importlib.metadata", "dosirak.stack.credentials", "dosirak.stack.secrets",
                         "dosirak.untrusted", "queue", "yaml", "rich", "sqlalchemy", "alembic")


def test_a_chain_of_steps_on_a_store_already_made_imports_nothing_it_does_not_use() -> None:
    code = (
        "from dosirak import pipeline, step\n"
        "@step\n"
        "def add_one(x: int) -> int:\n"
        "    return x + 1\n"
        "@pipeline(enable_cache=False)\n"
        "def chain() -> None:\n"
        "    add_one(add_one(add_one(0)))\n"
        "assert chain().status == 'completed'\n"
    )
    subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120, check=True)  # makes the store
    out = subprocess.run([sys.executable, "-c", code + REPORT.format(heavy=NOT_FOR_A_LOCAL_CHAIN)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
