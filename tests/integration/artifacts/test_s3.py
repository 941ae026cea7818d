"""The ``s3`` artifact store flavor on a real S3 API (moto's server on 127.0.0.1), through the CLI.

A user registers it with ``--flavor=s3 --path=s3://BUCKET/PREFIX --endpoint-url=...``,
credentials as ``{env:NAME}`` or ``{secret:NAME}``; runs write there and nothing is left
behind by a failure; a bucket that cannot be used fails the run in one line.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from dosirak.cli.main import main
from dosirak.metadata.store import get_store
from tests.integration.artifacts.conftest import BUCKET, objects

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
CHAIN = str(REPO / "tests" / "_pipelines" / "chain.py") + ":chain"


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> object:
    """``cli(*args)``: the dosirak command in-process (click's runner), exit code and output."""
    monkeypatch.setenv("DOSIRAK_PROGRESS", "off")
    runner = CliRunner()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("dosirak").level)

    def invoke(*args: str, stdin: str | None = None) -> Result:
        with runner.isolation(input=stdin) as (out, err, _both):
            try:
                main(list(args))
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            return Result(code, out.getvalue().decode(), err.getvalue().decode())

    yield invoke
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    logging.getLogger("dosirak").setLevel(saved[2])


def ok(cli: object, *args: str, stdin: str | None = None) -> str:
    result = cli(*args, stdin=stdin)  # type: ignore[operator]
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return str(result.stdout)


def register_s3(cli: object, moto_s3: str, path: str, *credentials: str) -> None:
    ok(cli, "artifact-store", "register", "team", "--flavor=s3", f"--path={path}", f"--endpoint-url={moto_s3}",
       "--region=us-east-1", *credentials)
    ok(cli, "stack", "register", "shared", "-o", "default", "-a", "team", "--set")


@pytest.fixture
def secret_value(monkeypatch: pytest.MonkeyPatch) -> str:
    """A secret access key unlike anything else in the output (moto takes any key)."""
    value = f"sk-{uuid.uuid4().hex}"
    monkeypatch.setenv("DK_TEST_SECRET_KEY", value)
    monkeypatch.setenv("DK_TEST_KEY_ID", "testing-access-key")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return value


def test_a_run_on_an_s3_store_with_a_named_secret_writes_there_and_never_shows_the_secret(
        cli: object, moto_s3: str, secret_value: str, dosirak_home: Path) -> None:
    created = ok(cli, "secret", "create", "team-s3", "--from-env", "DK_TEST_SECRET_KEY")
    assert "{secret:team-s3}" in created
    path = f"s3://{BUCKET}/{uuid.uuid4().hex}"
    register_s3(cli, moto_s3, path, "--access-key-id={env:DK_TEST_KEY_ID}", "--secret-access-key={secret:team-s3}")

    outputs = [ok(cli, "run", CHAIN, "-p", "tag=s3")]
    config = {"path": path}
    run_id = json.loads(ok(cli, "runs", "list", "--json"))[0]["id"]
    assert objects(moto_s3, config) == [f"{run_id}/describe/output/data.json", f"{run_id}/produce/output/data.json"]
    shown = json.loads(ok(cli, "artifact-store", "describe", "team", "--json"))
    assert shown["config"]["secret_access_key"] == "{secret:team-s3}"
    assert shown["flavor"] == "s3" and shown["config"]["endpoint_url"] == moto_s3
    outputs += [json.dumps(shown), ok(cli, "artifact-store", "describe", "team"), ok(cli, "artifact-store", "list"),
                ok(cli, "stack", "describe", "shared"), ok(cli, "secret", "list"), ok(cli, "secret", "list", "--json"),
                ok(cli, "runs", "show", run_id), ok(cli, "runs", "show", run_id, "--json")]
    from dosirak.dashboard.app import create_app
    from tests.dashboard.client import AppClient

    dashboard = AppClient(create_app())
    step_ids = [st["id"] for st in dashboard.get(f"/api/v1/runs/{run_id}/steps").json()["items"]]
    assert len(step_ids) == 2
    for url in ["/stacks", "/api/v1/stacks", "/api/v1/stacks/shared", "/api/v1/components", f"/runs/{run_id}",
                f"/api/v1/runs/{run_id}", *(f"/steps/{i}" for i in step_ids), *(f"/api/v1/steps/{i}" for i in step_ids),
                *(f"/api/v1/steps/{i}/logs" for i in step_ids), *(f"/steps/{i}/log.txt" for i in step_ids)]:
        answer = dashboard.get(url)
        assert answer.status_code == 200, (url, answer.text[:300])
        outputs.append(answer.text)
    assert "{secret:team-s3}" in dashboard.get("/api/v1/components").text
    stored = [p.read_bytes() for p in dosirak_home.rglob("*") if p.is_file() and p.parent.name != "secrets"]
    assert all(secret_value not in out for out in outputs)
    assert all(secret_value.encode() not in data for data in stored), "the secret is in a file of the home"
    secret_file = dosirak_home / "secrets" / "team-s3"
    assert secret_file.read_text() == secret_value
    assert secret_file.stat().st_mode & 0o777 == 0o600 and secret_file.parent.stat().st_mode & 0o777 == 0o700


def test_a_bucket_that_does_not_exist_fails_the_run_in_one_line_naming_it(cli: object, moto_s3: str,
                                                                           secret_value: str) -> None:
    register_s3(cli, moto_s3, "s3://no-such-bucket-dk/prefix", "--access-key-id={env:DK_TEST_KEY_ID}",
                "--secret-access-key={env:DK_TEST_SECRET_KEY}")
    result = cli("run", CHAIN)  # type: ignore[operator]
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "bucket 'no-such-bucket-dk' does not exist" in lines[0] and "create it" in lines[0]
    run = get_store().runs.list_runs()[0]
    assert run.status == "failed" and "bucket 'no-such-bucket-dk' does not exist" in (run.error or "")


def test_a_bucket_that_denies_access_fails_the_run_in_one_line_naming_it(cli: object, moto_s3_with_auth: str,
                                                                         secret_value: str) -> None:
    register_s3(cli, moto_s3_with_auth, "s3://team-bucket/prefix", "--access-key-id={env:DK_TEST_KEY_ID}",
                "--secret-access-key={env:DK_TEST_SECRET_KEY}")
    result = cli("run", CHAIN)  # type: ignore[operator]
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "bucket 'team-bucket' denies access" in lines[0] and "grant" in lines[0]
    run = get_store().runs.list_runs()[0]
    assert run.status == "failed" and "denies access" in (run.error or "")


def test_a_missing_secret_fails_the_run_in_one_line_naming_it(cli: object, moto_s3: str, secret_value: str) -> None:
    register_s3(cli, moto_s3, f"s3://{BUCKET}/{uuid.uuid4().hex}", "--access-key-id={env:DK_TEST_KEY_ID}",
                "--secret-access-key={secret:never-created}")
    result = cli("run", CHAIN)  # type: ignore[operator]
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "secret 'never-created' does not exist" in lines[0]
    assert "dosirak secret create never-created" in lines[0]
    run = get_store().runs.list_runs()[0]
    assert run.status == "failed" and "secret 'never-created' does not exist" in (run.error or "")


def test_credentials_in_clear_text_are_refused_with_the_way_to_give_them(cli: object, moto_s3: str,
                                                                          secret_value: str) -> None:
    result = cli("artifact-store", "register", "team", "--flavor=s3",  # type: ignore[operator]
                 f"--path=s3://{BUCKET}/x", f"--secret-access-key={secret_value}")
    assert result.exit_code == 2
    assert secret_value not in result.stdout + result.stderr
    assert "{secret:NAME}" in result.stderr and "dosirak secret create" in result.stderr
    result = cli("secret", "create", "team-s3", "--value", secret_value)  # type: ignore[operator]
    assert result.exit_code == 2 and secret_value not in result.stdout + result.stderr
    assert "--value-stdin" in result.stderr and "--from-env" in result.stderr
    assert get_store().stacks.list_components("artifact-store")[0].name == "default"


def test_a_secret_given_on_stdin_is_listed_by_name_and_deleted(cli: object, dosirak_home: Path) -> None:
    ok(cli, "secret", "create", "token-1", "--value-stdin", stdin="s3cr3t-value\n")
    assert (dosirak_home / "secrets" / "token-1").read_text() == "s3cr3t-value"
    assert json.loads(ok(cli, "secret", "list", "--json")) == [{"name": "token-1", "reference": "{secret:token-1}"}]
    again = cli("secret", "create", "token-1", "--value-stdin", stdin="other")  # type: ignore[operator]
    assert again.exit_code == 2 and "exists" in again.stderr
    bad = cli("secret", "create", "../escape", "--value-stdin", stdin="x")  # type: ignore[operator]
    assert bad.exit_code == 2 and "invalid secret name" in bad.stderr
    assert not (dosirak_home / "escape").exists()
    ok(cli, "secret", "delete", "token-1")
    assert json.loads(ok(cli, "secret", "list", "--json")) == []
    assert cli("secret", "delete", "token-1").exit_code == 2  # type: ignore[operator]


def test_an_s3_path_that_is_not_a_bucket_is_refused_at_registration(cli: object) -> None:
    for path in ("s3://", "s3://UPPER/x", "gs://bucket/x", "/local/dir"):
        result = cli("artifact-store", "register", "team", "--flavor=s3", f"--path={path}")  # type: ignore[operator]
        assert result.exit_code == 2 and "--path" in result.stderr, (path, result.stderr)
    result = cli("artifact-store", "register", "team", "--flavor=s3", "--path=s3://ok-bucket",  # type: ignore[operator]
                 "--endpoint-url=ftp://x")
    assert result.exit_code == 2 and "--endpoint-url" in result.stderr


def test_moto_answers(moto_s3: str) -> None:
    assert httpx.get(f"{moto_s3}/{BUCKET}", timeout=10).status_code == 200
    assert os.environ.get("DOSIRAK_HOME")


def test_an_fsspec_store_whose_secret_is_missing_is_listed_and_the_run_fails_at_first_use_in_one_line(
        cli: object, moto_s3: str, secret_value: str) -> None:
    options = {"key": "{env:DK_TEST_KEY_ID}", "secret": "{secret:never-made}",
               "client_kwargs": {"endpoint_url": moto_s3, "region_name": "us-east-1"}}
    ok(cli, "artifact-store", "register", "team", "--flavor=fsspec", f"--path=s3://{BUCKET}/{uuid.uuid4().hex}",
       f"--storage-options={json.dumps(options)}")
    ok(cli, "stack", "register", "shared", "-o", "default", "-a", "team", "--set")
    assert "team (fsspec)" in ok(cli, "stack", "list")
    assert "{secret:never-made}" in ok(cli, "stack", "describe", "shared")
    assert "{secret:never-made}" in ok(cli, "artifact-store", "describe", "team")
    result = cli("run", CHAIN)  # type: ignore[operator]
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "secret 'never-made' does not exist" in lines[0] and "dosirak secret create never-made" in lines[0]
    run = get_store().runs.list_runs()[0]
    assert run.status == "failed" and "secret 'never-made' does not exist" in (run.error or "")


def test_the_fsspec_flavor_on_a_bucket_that_does_not_exist_fails_the_run_in_one_line_naming_it(
        cli: object, moto_s3: str, secret_value: str) -> None:
    options = {"key": "{env:DK_TEST_KEY_ID}", "secret": "{env:DK_TEST_SECRET_KEY}",
               "client_kwargs": {"endpoint_url": moto_s3, "region_name": "us-east-1"}}
    ok(cli, "artifact-store", "register", "team", "--flavor=fsspec", "--path=s3://no-such-bucket-fs/prefix",
       f"--storage-options={json.dumps(options)}")
    ok(cli, "stack", "register", "shared", "-o", "default", "-a", "team", "--set")
    result = cli("run", CHAIN)  # type: ignore[operator]
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert f"bucket 'no-such-bucket-fs' does not exist at {moto_s3}" in lines[0] and "create it" in lines[0]
    run = get_store().runs.list_runs()[0]
    assert run.status == "failed" and "bucket 'no-such-bucket-fs' does not exist" in (run.error or "")


def test_a_fresh_process_reads_an_s3_artifact_with_the_endpoint_and_credentials_of_its_component(
        cli: object, moto_s3: str, secret_value: str, dosirak_home: Path) -> None:
    """``Client`` and the dashboard never load the stack: the artifact's component tells how to read it."""
    import subprocess
    import sys

    ok(cli, "secret", "create", "team-s3", "--from-env", "DK_TEST_SECRET_KEY")
    path = f"s3://{BUCKET}/{uuid.uuid4().hex}"
    register_s3(cli, moto_s3, path, "--access-key-id={env:DK_TEST_KEY_ID}", "--secret-access-key={secret:team-s3}")
    ok(cli, "run", CHAIN, "-p", "tag=fresh")
    ok(cli, "stack", "set", "default")  # the active stack no longer even names the S3 store
    code = ("from dosirak import Client\n"
            "run = Client().list_runs()[0]\n"
            "print(repr(run.steps['produce'].output.load()))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(DOSIRAK_HOME=str(dosirak_home), AWS_EC2_METADATA_DISABLED="true", PYTHONPATH=str(REPO / "src"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          check=False, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "fresh" in done.stdout
