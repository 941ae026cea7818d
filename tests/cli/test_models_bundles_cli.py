"""`dosirak model ...` and `dosirak bundle ...` as a user runs them (in-process)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

import dosirak as dk
from dosirak.cli.main import main
from tests.bundles._fixtures import make_mlp, write_service


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_model_alias_show_list_and_delete(capsys: pytest.CaptureFixture[str]) -> None:
    dk.models.save("m", 1)
    dk.models.save("m", 2)
    assert run(capsys, "model", "alias", "m:1", "production")[1].strip() == "m:production -> m:1"
    assert run(capsys, "model", "alias", "m:2", "production")[1].strip() == "m:production -> m:2 (was 1)"
    code, out, _ = run(capsys, "model", "show", "m", "--json")
    shown = json.loads(out)
    assert code == 0 and [v["version"] for v in shown["versions"]] == [2, 1]
    assert [(h["from_version"], h["to_version"]) for h in shown["alias_history"]] == [(None, 1), (1, 2)]
    assert json.loads(run(capsys, "model", "show", "m:production", "--json")[1])["version"] == 2
    listed = json.loads(run(capsys, "model", "list", "--json")[1])
    assert listed[0]["name"] == "m" and listed[0]["aliases"] == {"production": 2}
    assert run(capsys, "model", "delete", "m:1", "-y")[1].strip() == "deleted m:1"
    code, _, err = run(capsys, "model", "show", "m:1")
    assert code == 2 and "has no version or alias '1'" in err


@pytest.mark.parametrize("command", [("model", "show"), ("model", "delete", "-y"), ("model", "alias", "-", "staging")])
def test_a_version_number_too_large_for_the_store_is_a_one_line_not_found(
        capsys: pytest.CaptureFixture[str], command: tuple[str, ...]) -> None:
    dk.models.save("m", 1)
    tag = "m:99999999999999999999999"
    argv = [tag if a == "-" else a for a in command] if "-" in command else [*command[:2], tag, *command[2:]]
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.strip() == ("error: model 'm' has no version or alias '99999999999999999999999'; "
                                         "`dosirak model show m` lists its versions and aliases"), err


def test_bundle_commands_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    service_dir = write_service(tmp_path / "svc")
    dk.models.save("fashion_mnist", make_mlp())
    spec = service_dir / "dosirak.yaml"
    spec.write_text(yaml.safe_dump({"service": "service.py:FashionMNIST", "labels": {"stage": "test"}}))
    code, out, err = run(capsys, "bundle", "build", "-f", str(spec), "--json")
    assert code == 0, err
    tag = f"{json.loads(out)['name']}:{json.loads(out)['version']}"
    assert json.loads(run(capsys, "bundle", "list", "--json")[1])[0]["version"] == tag.split(":")[1]
    shown = json.loads(run(capsys, "bundle", "show", "fashion_mnist:latest", "--json")[1])
    assert shown["labels"] == {"stage": "test"} and shown["models"][0]["version"] == 1
    verified = json.loads(run(capsys, "bundle", "verify", tag, "--json")[1])
    assert verified["ok"] and verified["files"] == 7
    code, _, err = run(capsys, "model", "delete", "fashion_mnist", "-y")
    assert code == 2 and f"in use by bundle {tag}" in err
    archive = tmp_path / "fm.bundle"
    assert run(capsys, "bundle", "export", tag, "-o", str(archive))[0] == 0 and archive.is_file()
    empty, path = tmp_path / "no-programs", os.environ["PATH"]
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no docker, podman nor buildah to be found
    code, out, err = run(capsys, "bundle", "containerize", tag, "-o", str(tmp_path / "ctx"), "--no-wheelhouse")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "no image builder works here" in err and f"the build context is at {tmp_path / 'ctx'}" in err
    assert "docker: the docker client is not installed" in err and "buildah: buildah is not installed" in err
    context = tmp_path / "ctx"
    assert (context / "Dockerfile").is_file() and (context / "bundle" / "MANIFEST").is_file()
    assert [p.name for p in (context / "dosirak").iterdir()] == ["dosirak-0.1.0-py3-none-any.whl"]
    assert "torch==" in (context / "requirements.txt").read_text()
    monkeypatch.setenv("PATH", path)
    assert run(capsys, "bundle", "delete", tag, "-y")[1].strip() == f"deleted {tag}"
    code, _, err = run(capsys, "bundle", "import", str(archive))
    assert code == 0
    assert json.loads(run(capsys, "bundle", "list", "--json")[1])[0]["imported"] is True


def test_bundle_build_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "bundle", "build", "-f", str(tmp_path / "missing.yaml"))
    assert code == 2 and err.startswith("error: no build spec at")
    (tmp_path / "dosirak.yaml").write_text("service: nope.py:X\n")
    code, _, err = run(capsys, "bundle", "build", "-f", str(tmp_path / "dosirak.yaml"))
    assert code == 2 and "service file nope.py does not exist" in err


def test_docker_engine_check_says_why_when_there_is_no_client(monkeypatch: pytest.MonkeyPatch) -> None:
    from dosirak.bundles.builders import DockerBuilder

    monkeypatch.setenv("PATH", "")
    assert DockerBuilder().problem() == "the docker client is not installed"
