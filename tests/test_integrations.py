"""`dosirak integration list|install`, for real in this environment."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from importlib.metadata import PackageNotFoundError, version

import pytest

from dosirak import integrations
from dosirak.errors import ConfigError
from dosirak.settings import get_settings, reset_settings


def dosirak(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dosirak.cli.main", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=300, check=False)


def present(name: str) -> bool:
    try:
        version(name)
        return True
    except PackageNotFoundError:
        return False


def test_list_names_every_extra_but_dev_and_says_truly_which_are_installed() -> None:
    done = dosirak("integration", "list", "--json")
    assert done.returncode == 0, done.stderr
    listed = {i["name"]: i for i in json.loads(done.stdout)}
    assert {"torch", "sklearn", "aws", "s3", "ray", "postgres", "sign"} <= set(listed) and "dev" not in listed
    assert listed["aws"]["requirements"] == ["boto3>=1.34"]
    assert listed["aws"]["installed"] is present("boto3")
    assert listed["s3"]["installed"] is present("s3fs")
    assert listed["ray"]["installed"] is present("ray")
    for item in listed.values():
        assert item["installed"] is (item["missing"] == [])


def test_install_runs_pip_in_this_environment_and_reports_an_installed_extra() -> None:
    assert present("cryptography"), "the dev extra brings cryptography (the sign integration)"
    done = dosirak("integration", "install", "sign")
    assert done.returncode == 0, done.stderr
    constraints = integrations.checkout_constraints()
    assert f"{sys.executable} -m pip install -c {constraints} 'cryptography>=42'" in done.stderr
    assert "Requirement already satisfied: cryptography>=42" in done.stderr
    assert done.stdout.strip() == "sign: installed"


@pytest.mark.parametrize("name", ["nope", "dev", "../x"])
def test_install_of_an_unknown_integration_is_one_line_exit_2(name: str) -> None:
    done = dosirak("integration", "install", name)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "unknown integration" in done.stderr and "known: aws" in done.stderr


def _silent_server() -> tuple[socket.socket, str]:
    """A listening socket that accepts connections (the kernel does) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}/whl/cpu"


def _answering_server() -> tuple[http.server.ThreadingHTTPServer, str]:
    class Index(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            ok = self.path == "/whl/cpu/torch/"
            self.send_response(200 if ok else 404)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/whl/cpu"


def _without_torch() -> integrations.Integration:
    """The torch integration as a machine without torch sees it."""
    torch = integrations.resolve(["torch"])[0]
    return integrations.Integration(torch.name, torch.requirements, torch.requirements)


def test_a_missing_torch_comes_from_the_cpu_index_when_it_answers() -> None:
    server, url = _answering_server()
    try:
        chosen = integrations.plan([_without_torch()], torch_index_url=url)
    finally:
        server.shutdown()
        server.server_close()
    command = list(chosen.command)
    assert command[command.index("--extra-index-url") + 1] == url
    assert chosen.notes == (f"torch: from {url} (the CPU build)",)


def test_an_index_that_never_answers_is_skipped_within_seconds_and_said() -> None:
    sock, url = _silent_server()
    try:
        started = time.monotonic()
        chosen = integrations.plan([_without_torch()], torch_index_url=url)
        took = time.monotonic() - started
    finally:
        sock.close()
    assert took < integrations.PROBE_SECONDS + 2
    assert "--extra-index-url" not in chosen.command
    assert len(chosen.notes) == 1 and f"skipping {url}" in chosen.notes[0] and "CUDA" in chosen.notes[0]


def test_an_installed_torch_asks_no_index_and_every_install_uses_the_checkouts_constraints() -> None:
    constraints = integrations.checkout_constraints()
    assert constraints is not None and constraints.name == "constraints.txt"
    torch = integrations.resolve(["torch"])[0]
    assert torch.installed, "the test venv has torch"
    chosen = integrations.plan([torch], torch_index_url="http://127.0.0.1:9/never-asked")
    command = list(chosen.command)
    assert command[command.index("-c") + 1] == str(constraints)
    assert "--extra-index-url" not in command and chosen.notes == ()


def test_a_torch_index_url_that_is_not_http_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_INDEX_URL", "file:///etc")
    reset_settings()
    try:
        with pytest.raises(ConfigError, match="TORCH_INDEX_URL"):
            get_settings()
        monkeypatch.setenv("TORCH_INDEX_URL", "")
        reset_settings()
        assert get_settings().torch_index_url == ""
    finally:
        monkeypatch.delenv("TORCH_INDEX_URL")
        reset_settings()
