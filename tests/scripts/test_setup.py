"""scripts/setup.sh on a machine unlike this one: half-made venvs, missing prerequisites,
an unreachable PyTorch index, and installs that all go through constraints.txt.

The tests source the real script (sourcing defines its functions and runs nothing) and call
its functions on temporary venvs, with real interpreters, real pip and real sockets.
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / "scripts" / "setup.sh"
DOCS = [REPO / "README.md", *sorted((REPO / "examples").glob("*/README.md"))]
BASH = shutil.which("bash") or "/bin/bash"


def setup_sh(snippet: str, *, env: dict[str, str] | None = None, timeout: float = 180,
             base_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``snippet`` in bash after sourcing scripts/setup.sh; stdout and stderr together.

    The environment is ``base_env`` (default: this process's) updated with ``env``.
    """
    environment = {**(os.environ if base_env is None else base_env), **(env or {})}
    return subprocess.run([BASH, "-c", f'source "$1"\n{snippet}', "setup-test", str(SETUP)], env=environment,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)


def pip_env_without_local_wheels(**extra: str) -> dict[str, str]:
    """The environment minus this machine's pip configuration (find-links to a local wheelhouse)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k == "PIP_CERT"}
    return {**env, "PIP_CONFIG_FILE": os.devnull, **extra}


def torch_pin() -> str:
    match = re.search(r"^torch==(\S+)", (REPO / "constraints.txt").read_text(), re.MULTILINE)
    assert match, "constraints.txt pins torch"
    return match.group(1)


@pytest.fixture(scope="module")
def rebuilt_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A venv made without pip (as a failed `python3 -m venv` leaves it), after ensure_venv ran on it."""
    venv = tmp_path_factory.mktemp("setup") / ".venv"
    subprocess.run(["python3", "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    assert not (venv / "bin" / "pip").exists()
    done = setup_sh(f'ensure_venv "{venv}"')
    assert done.returncode == 0, done.stdout
    yield venv, done.stdout


class SilentServer:
    """A listening socket that never accepts: connections complete and are never answered."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/whl/cpu"

    def was_asked(self) -> bool:
        """Whether anything connected since the last call."""
        self.sock.setblocking(False)
        asked = False
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return asked
            conn.close()
            asked = True


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    """An index URL whose server takes connections and never answers (a blackholed index)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield SilentServer(sock)


@pytest.fixture
def index_server() -> Iterator[str]:
    """A URL whose server answers 200 for ``torch/`` (a package index that is up)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = b'<a href="torch-0-py3-none-any.whl">torch</a>'
            self.send_response(200 if self.path.rstrip("/").endswith("/torch") else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/whl/cpu"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def choose_torch_source(venv_python: Path | str, env: dict[str, str]) -> tuple[str, list[str], str]:
    """Run setup.sh's choose_torch_source: (source, pip args, the one line it said)."""
    done = setup_sh(f'VENV_PY="{venv_python}"\nchoose_torch_source\n'
                    'echo "source=$TORCH_SOURCE"; echo "args=${TORCH_PIP_ARGS[*]}"', base_env=env, timeout=60)
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    source = next(line for line in lines if line.startswith("source="))[len("source="):]
    args = next(line for line in lines if line.startswith("args="))[len("args="):].split()
    said = [line for line in lines if line.startswith("==> ")]
    assert len(said) == 1, done.stdout
    return source, args, said[0]


# --- the venv ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_venv_without_pip_is_rebuilt_saying_so_in_one_line(rebuilt_venv: tuple[Path, str]) -> None:
    venv, said = rebuilt_venv
    assert f"==> {venv} is half-made (its python has no pip): removing it and making it again" in said.splitlines()
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "--version"], capture_output=True, text=True,
                         check=False, timeout=60)
    assert pip.returncode == 0, pip.stderr


def test_a_usable_venv_is_kept_as_it_is(rebuilt_venv: tuple[Path, str]) -> None:
    venv, _ = rebuilt_venv
    marker = venv / "kept"
    marker.write_text("")
    done = setup_sh(f'ensure_venv "{venv}"')
    assert done.returncode == 0, done.stdout
    assert done.stdout == ""
    assert marker.exists()


@pytest.mark.slow
def test_a_venv_whose_python_is_broken_is_rebuilt(tmp_path: Path) -> None:
    venv = tmp_path / ".venv"
    subprocess.run(["python3", "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    (venv / "bin" / "python").unlink()
    (venv / "bin" / "python").symlink_to(tmp_path / "python-that-was-removed")
    done = setup_sh(f'ensure_venv "{venv}"')
    assert done.returncode == 0, done.stdout
    assert "is half-made (its python does not run): removing it and making it again" in done.stdout
    assert subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "--version"], capture_output=True,
                          check=False, timeout=60).returncode == 0


def test_a_directory_that_is_not_a_venv_is_left_alone(tmp_path: Path) -> None:
    target = tmp_path / ".venv"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    done = setup_sh(f'ensure_venv "{target}"')
    assert done.returncode == 1
    assert "exists but is not a virtual environment (no pyvenv.cfg)" in done.stdout
    assert (target / "notes.txt").read_text() == "mine"


def test_a_python_without_ensurepip_is_named_with_the_apt_command(tmp_path: Path) -> None:
    # what Debian's python3 is without the python3-venv package: a stdlib with no ensurepip
    hidden = tmp_path / "no_ensurepip"
    (hidden / "ensurepip").mkdir(parents=True)
    (hidden / "ensurepip" / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'ensurepip'\")\n")
    venv = tmp_path / ".venv"
    done = setup_sh(f'ensure_venv "{venv}"', env={"PYTHONPATH": str(hidden)})
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    assert "cannot make a virtual environment, its ensurepip is missing: sudo apt-get install -y python3-venv" in lines[0]
    assert not venv.exists()


def test_a_python_older_than_required_is_named_with_the_apt_command() -> None:
    done = setup_sh('python_problem python3 99.0')
    assert done.returncode == 0
    assert re.fullmatch(r"python3 is Python 3\.\d+; dosirak needs 99\.0 or newer: on Debian bookworm "
                        r"sudo apt-get install -y python3 python3-venv .*\n", done.stdout), done.stdout
    assert setup_sh("python_problem python3").stdout == ""
    missing = setup_sh("python_problem no-such-python3")
    assert missing.stdout.startswith("no-such-python3 not found: dosirak needs Python 3.11 or newer")
    assert "sudo apt-get install -y python3 python3-venv" in missing.stdout


# --- where torch comes from ---------------------------------------------------------------------------

@pytest.mark.slow
def test_the_index_probe_gives_up_on_an_index_that_never_answers_within_ten_seconds(
        silent_server: SilentServer) -> None:
    started = time.monotonic()
    done = setup_sh(f'probe_index "{silent_server.url}"')
    elapsed = time.monotonic() - started
    assert silent_server.was_asked()
    assert done.returncode == 1
    assert done.stdout in ("TimeoutError: timed out\n", "no answer within 5 s\n")
    assert 4.5 < elapsed < 10


@pytest.mark.slow
def test_a_torch_index_that_never_answers_is_skipped_saying_so(
        rebuilt_venv: tuple[Path, str], silent_server: SilentServer) -> None:
    venv, _ = rebuilt_venv
    env = pip_env_without_local_wheels(TORCH_INDEX_URL=silent_server.url)
    source, args, said = choose_torch_source(venv / "bin" / "python", env)
    assert silent_server.was_asked()
    assert (source, args) == ("default", [])
    assert said.startswith(f"==> torch: skipping {silent_server.url}, it did not answer within 5 s (")
    assert said.endswith("the default index's build (on PyPI for Linux, the multi-GB CUDA one)")


def test_a_torch_index_that_refuses_connections_is_skipped(rebuilt_venv: tuple[Path, str]) -> None:
    venv, _ = rebuilt_venv
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/whl/cpu"
    source, args, said = choose_torch_source(venv / "bin" / "python",
                                                      pip_env_without_local_wheels(TORCH_INDEX_URL=url))
    assert (source, args) == ("default", [])
    assert "Connection refused" in said


def test_a_torch_index_that_answers_is_added_for_the_torch_install(
        rebuilt_venv: tuple[Path, str], index_server: str) -> None:
    venv, _ = rebuilt_venv
    source, args, said = choose_torch_source(venv / "bin" / "python",
                                                pip_env_without_local_wheels(TORCH_INDEX_URL=index_server))
    assert (source, args) == ("index", ["--extra-index-url", index_server])
    assert said == f"==> torch: from {index_server}"


def test_the_default_torch_index_is_pytorchs_cpu_index() -> None:
    done = setup_sh('echo "$DEFAULT_TORCH_INDEX_URL"')
    assert done.stdout.strip() == "https://download.pytorch.org/whl/cpu"


def test_a_torch_wheel_found_locally_wins_without_asking_the_index(
        rebuilt_venv: tuple[Path, str], silent_server: SilentServer, tmp_path: Path) -> None:
    venv, _ = rebuilt_venv
    version = f"{torch_pin()}+cpu"
    wheelhouse = tmp_path / "wheels"
    wheelhouse.mkdir()
    wheel = wheelhouse / f"torch-{version}-py3-none-any.whl"
    dist_info = f"torch-{version}.dist-info"
    with zipfile.ZipFile(wheel, "w") as archive:  # the smallest valid wheel of that name and version
        archive.writestr(f"{dist_info}/METADATA", f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\n")
        archive.writestr(f"{dist_info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{dist_info}/RECORD", "")
    env = pip_env_without_local_wheels(TORCH_INDEX_URL=silent_server.url, PIP_FIND_LINKS=str(wheelhouse))
    source, args, said = choose_torch_source(venv / "bin" / "python", env)
    assert (source, args) == ("local", [])
    assert said == f"==> torch: torch-{version}, a wheel found locally (pip's find-links)"
    assert not silent_server.was_asked()


def test_an_installed_torch_is_kept_without_asking_the_index(silent_server: SilentServer) -> None:
    from importlib.metadata import version  # the dev environment has torch

    source, args, said = choose_torch_source(sys.executable,
                                                pip_env_without_local_wheels(TORCH_INDEX_URL=silent_server.url))
    assert (source, args) == ("installed", [])
    assert said == f"==> torch: torch {version('torch')} already installed"
    assert not silent_server.was_asked()


# --- every documented install goes through the pins -------------------------------------------------------

def documented_pip_installs() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for line in doc.read_text().splitlines():
            found += [(doc.relative_to(REPO).as_posix(), m.group(0).strip())
                      for m in re.finditer(r"pip install[^`#\n]*", line)]
    return found


def test_every_documented_pip_install_goes_through_the_constraints() -> None:
    installs = documented_pip_installs()
    assert installs, "the docs install nothing with pip?"
    # an install from a given wheelhouse (--no-index) resolves nothing from an index: nothing to pin
    unpinned = [(doc, cmd) for doc, cmd in installs if "-c constraints.txt" not in cmd and "--no-index" not in cmd]
    assert unpinned == []
    # torch is installed by scripts/setup.sh (the CPU build); a pip command with the torch extra gets PyPI's CUDA one
    with_torch = [(doc, cmd) for doc, cmd in installs if re.search(r"\[([^\]]*,)?(torch|dev)[,\]]", cmd)]
    assert with_torch == []


def test_the_examples_install_with_the_setup_script() -> None:
    for readme in sorted((REPO / "examples").glob("*/README.md")):
        text = readme.read_text()
        if "install" in text.lower():
            assert "bash scripts/setup.sh" in text, readme


def test_the_setup_script_installs_with_the_constraints() -> None:
    installs = [line.strip() for line in SETUP.read_text().splitlines() if line.strip().startswith("pip_install ")]
    assert len(installs) >= 2
    assert [line for line in installs if '-c "$CONSTRAINTS"' not in line] == []


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    command = next(line.split("   #")[0].strip() for line in readme.splitlines()
                   if line.startswith("bash scripts/setup.sh --test"))
    ci = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line and not line.startswith(("#", "set ", "cd "))]
    assert ci == [command]


# --- system packages -----------------------------------------------------------------------------------

def test_tests_install_no_benchmark_tool_and_benchmarks_get_wrk() -> None:
    bare = {"PATH": "/nonexistent", "PYTHON": sys.executable}  # nothing found: every package wanted
    test = setup_sh("missing_system_packages test", env=bare).stdout.split()
    bench = setup_sh("missing_system_packages bench", env=bare).stdout.split()
    assert "chromium" in test and "buildah" in test and "wrk" not in test
    assert bench == ["wrk"]
    # a test that runs wrk names it as a program: "wrk" or 'wrk' (a list of argv, shutil.which)
    users = subprocess.run(["grep", "-rlE", "--include=*.py", "[\"']wrk[\"']", str(REPO / "tests")],
                           capture_output=True, text=True, check=False).stdout.split()
    assert [Path(u).resolve() for u in users] == [Path(__file__).resolve()], "a test uses wrk: --test must install it"


def test_setup_and_tests_find_chromium_by_the_same_rule(tmp_path: Path) -> None:
    fake_path = tmp_path / "bin"
    fake_path.mkdir()
    browser = tmp_path / "my-chromium"
    shutil.copy("/bin/true", browser)  # any executable: the rule is about where, not what
    for env, found in [({"DOSIRAK_TEST_CHROMIUM": str(browser), "PATH": str(fake_path)}, True),
                       ({"DOSIRAK_TEST_CHROMIUM": str(tmp_path / "nothing"), "PATH": os.environ["PATH"]}, False),
                       ({"DOSIRAK_TEST_CHROMIUM": "", "PATH": str(fake_path)}, False)]:
        env = {**env, "PYTHON": sys.executable}
        rule = subprocess.run([sys.executable, str(REPO / "tests" / "chromium.py")], env={**os.environ, **env},
                              capture_output=True, text=True, check=False)
        assert (rule.returncode == 0) == found, rule
        if found:
            assert rule.stdout.strip() == str(browser)
        wanted = setup_sh("missing_system_packages test", env=env).stdout.split()
        assert ("chromium" not in wanted) == found, (env, wanted)


def test_no_test_or_script_hard_codes_the_chromium_path() -> None:
    hard_coded = "/usr/bin/" + "chromium"
    offenders = [str(p.relative_to(REPO)) for folder in ("tests", "scripts") for p in (REPO / folder).rglob("*")
                 if p.is_file() and p.suffix in {".py", ".sh"} and hard_coded in p.read_text()]
    assert offenders == []
