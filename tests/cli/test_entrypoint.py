"""`dosirak image-entrypoint`: a start it cannot honour is a usage error before anything is served."""

from __future__ import annotations

from pathlib import Path

import pytest

from dosirak.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as caught:
        main(list(argv))
    return int(caught.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize(("variable", "value"), [("SAGEMAKER_BIND_TO_PORT", "80a"), ("SAGEMAKER_BIND_TO_PORT", "0"),
                                                 ("SAGEMAKER_BIND_TO_PORT", "70000")])
def test_a_port_variable_that_is_not_a_port_is_refused(variable: str, value: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, value)
    code, err = run(capsys, "image-entrypoint", str(tmp_path), "serve")
    assert code == 2 and f"{variable}='{value}' is not a TCP port (1-65535)" in err


def test_a_bad_plain_port_variable_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOSIRAK_PORT", "-1")
    code, err = run(capsys, "image-entrypoint", str(tmp_path))
    assert code == 2 and "DOSIRAK_PORT='-1' is not a TCP port" in err


@pytest.mark.parametrize("command", ["train", "bash"])
def test_a_command_other_than_serve_is_refused(command: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "image-entrypoint", str(tmp_path), command)
    assert code == 2 and f"this image runs `serve` (SageMaker) or nothing (port 3000), not '{command}'" in err
