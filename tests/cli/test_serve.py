"""``dosirak serve``: a TARGET that names nothing servable is one error line, before any worker starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from dosirak.cli.serve import check_target
from tests.bundles._fixtures import ECHO_SERVICE
from tests.cli.conftest import Invoke, one_line_error


@pytest.fixture
def service_file(tmp_path: Path) -> Path:
    path = tmp_path / "svc.py"
    path.write_text(ECHO_SERVICE)
    return path


def test_a_file_without_a_class_name_is_refused_naming_its_services(dosirak: Invoke, service_file: Path) -> None:
    line = one_line_error(dosirak("serve", str(service_file)))
    assert "give the service as FILE.py:Class" in line and f"services there: {service_file}:Echo" in line


def test_a_missing_file_is_refused(dosirak: Invoke, tmp_path: Path) -> None:
    line = one_line_error(dosirak("serve", f"{tmp_path}/nope.py:Echo"))
    assert line == f"error: service file {tmp_path}/nope.py does not exist"


def test_a_class_the_file_does_not_define_is_refused(dosirak: Invoke, service_file: Path) -> None:
    line = one_line_error(dosirak("serve", f"{service_file}:Echoo"))
    assert f"defines no 'Echoo'; services there: {service_file}:Echo" in line


def test_a_file_with_no_service_class_says_so(dosirak: Invoke, tmp_path: Path) -> None:
    plain = tmp_path / "plain.py"
    plain.write_text("x = 1\n")
    line = one_line_error(dosirak("serve", f"{plain}:Service"))
    assert line.endswith("defines no 'Service'; it has no @dk.service class")


def test_an_unknown_bundle_or_module_is_refused(dosirak: Invoke) -> None:
    line = one_line_error(dosirak("serve", "no_such_bundle_or_module:latest"))
    assert "is no bundle (`dosirak bundle list`) and no module 'no_such_bundle_or_module'" in line


def test_names_the_check_cannot_see_are_left_to_the_workers(tmp_path: Path, service_file: Path) -> None:
    star = tmp_path / "star.py"
    star.write_text("from svc import *\n")
    broken = tmp_path / "broken.py"
    broken.write_text("def x(:\n")
    check_target(f"{star}:Echo")  # bound by the star import, as far as we can tell
    check_target(f"{broken}:Echo")  # a syntax error is the import's to report (exit status 3)
    check_target("json:JSONDecoder")
    check_target(f"{service_file}:Echo")


@pytest.mark.parametrize("port", ["-5", "65536", "99999999999999999999"])
def test_a_port_no_socket_can_have_is_a_usage_error_before_anything_starts(dosirak: Invoke, service_file: Path,
                                                                           port: str) -> None:
    result = dosirak("serve", f"{service_file}:Echo", "--port", port)
    assert result.exit_code == 2 and "Invalid value for '--port'" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["--graceful-timeout", "1e400"], ["--graceful-timeout", "-1"],
                                  ["--workers", "100000"], ["--workers", "0"]])
def test_an_out_of_range_drain_time_or_worker_count_is_a_usage_error(dosirak: Invoke, service_file: Path,
                                                                    args: list[str]) -> None:
    result = dosirak("serve", f"{service_file}:Echo", *args)
    assert result.exit_code == 2 and "Invalid value" in result.stderr, result


def test_an_inherited_socket_cannot_be_given_an_address_too(dosirak: Invoke, service_file: Path) -> None:
    result = dosirak("serve", f"{service_file}:Echo", "--fd", "3", "--port", "3000")
    assert result.exit_code == 2 and "--fd serves a socket that is already bound" in result.stderr, result.stderr


def test_an_fd_that_is_not_a_listening_socket_is_refused_in_one_line(dosirak: Invoke, service_file: Path) -> None:
    import socket

    with socket.socket() as unbound:
        line = one_line_error(dosirak("serve", f"{service_file}:Echo", "--fd", str(unbound.fileno())))
        assert f"--fd {unbound.fileno()}: socket fd {unbound.fileno()} is not listening" in line
        unbound.getsockname()  # still open: a refused fd is not closed under its owner
