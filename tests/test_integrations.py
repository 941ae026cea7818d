"""`dosirak integration list|install`, for real in this environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version

import pytest


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
    assert f"{sys.executable} -m pip install 'cryptography>=42'" in done.stderr
    assert "Requirement already satisfied: cryptography>=42" in done.stderr
    assert done.stdout.strip() == "sign: installed"


@pytest.mark.parametrize("name", ["nope", "dev", "../x"])
def test_install_of_an_unknown_integration_is_one_line_exit_2(name: str) -> None:
    done = dosirak("integration", "install", name)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "unknown integration" in done.stderr and "known: aws" in done.stderr
