"""``dosirak stack ...``, component commands and ``flavor list``."""

from __future__ import annotations

from pathlib import Path

import pytest

from dosirak.metadata.store import get_store
from tests.cli.conftest import Invoke, one_line_error

COMPONENT_TYPES = ["orchestrator", "artifact-store", "model-deployer"]


def test_stack_list_and_describe_show_the_default_stack(dosirak: Invoke, dosirak_home: Path) -> None:
    stacks = dosirak("stack", "list", "--json").json()
    assert stacks == [{"name": "default", "active": True, "components": {
        "orchestrator": {"name": "default", "flavor": "local"},
        "artifact-store": {"name": "default", "flavor": "local"}}}]
    described = dosirak("stack", "describe")
    assert "stack default (active)" in described.stdout
    assert f"{dosirak_home / 'artifacts'} (default)" in described.stdout.replace("\n", "")


def test_stack_register_set_describe_delete(dosirak: Invoke, tmp_path: Path) -> None:
    registered = dosirak("artifact-store", "register", "scratch", "--flavor", "local", f"--path={tmp_path}")
    assert registered.exit_code == 0, registered.stderr
    assert dosirak("model-deployer", "register", "deployer", "-f", "local", "--port", "3100").exit_code == 0
    result = dosirak("stack", "register", "dev", "-o", "default", "-a", "scratch", "-d", "deployer", "--set")
    assert result.exit_code == 0, result.stderr
    assert "active stack: 'dev'" in result.stdout
    described = dosirak("stack", "describe", "dev", "--json").json()
    assert described["active"] is True
    assert described["components"]["artifact-store"]["config"] == {"path": str(tmp_path)}
    assert described["components"]["model-deployer"]["config"]["port"] == 3100

    assert "stack 'dev' is active; `dosirak stack set OTHER` first" in one_line_error(dosirak("stack", "delete", "dev"))
    assert dosirak("stack", "set", "default").exit_code == 0
    assert get_store().stacks.active_stack_name() == "default"
    assert dosirak("stack", "delete", "dev").exit_code == 0
    assert [s["name"] for s in dosirak("stack", "list", "--json").json()] == ["default"]


def test_a_pipeline_runs_on_the_stack_it_is_given(dosirak: Invoke, tmp_path: Path) -> None:
    dosirak("artifact-store", "register", "scratch", "--flavor", "local", f"--path={tmp_path / 'arts'}")
    dosirak("stack", "register", "dev", "-o", "default", "-a", "scratch")
    result = dosirak("run", "tests._pipelines.measure:measure", "--stack", "dev")
    assert result.exit_code == 0, result.stderr
    run = dosirak("runs", "list", "--json").json()[0]
    shown = dosirak("runs", "show", run["id"], "--json").json()
    assert shown["stack"] == "dev"
    assert shown["steps"][0]["outputs"]["output"]["uri"].startswith(str(tmp_path / "arts"))


@pytest.mark.parametrize("component_type", COMPONENT_TYPES)
def test_component_register_list_describe_delete(dosirak: Invoke, component_type: str) -> None:
    assert dosirak(component_type, "register", "extra", "--flavor", "local").exit_code == 0
    listed = {c["name"]: c for c in dosirak(component_type, "list", "--json").json()}
    assert listed["extra"]["flavor"] == "local"
    assert listed["extra"]["stacks"] == []
    described = dosirak(component_type, "describe", "extra", "--json").json()
    assert (described["type"], described["flavor"]) == (component_type, "local")
    assert "schema" in described
    assert "flavor local" in dosirak(component_type, "describe", "extra").stdout
    assert dosirak(component_type, "delete", "extra").exit_code == 0
    assert "extra" not in {c["name"] for c in dosirak(component_type, "list", "--json").json()}
    assert f"no {component_type} named 'extra'" in one_line_error(dosirak(component_type, "describe", "extra"))


def test_flavor_list_shows_every_built_in_flavor(dosirak: Invoke) -> None:
    flavors = {(f["type"], f["flavor"]) for f in dosirak("flavor", "list", "--json").json()}
    assert {("orchestrator", "local"), ("artifact-store", "local"), ("artifact-store", "fsspec")} <= flavors
    assert "LocalOrchestrator" in dosirak("flavor", "list").stdout


@pytest.mark.parametrize(("args", "message"), [
    (["orchestrator", "register", "o2", "--flavor", "nope"], "unknown orchestrator flavor 'nope'; known: local"),
    (["artifact-store", "register", "a2", "--flavor", "local", "--colour=red"], "flavor 'local' has no option"),
    (["artifact-store", "register", "a2", "--flavor", "local", "--path"], "option --path needs a value"),
    (["artifact-store", "register", "default", "--flavor", "local", "--path=/tmp"],
     "artifact-store 'default' already exists with flavor local and options {}; `--replace` redefines it"),
    (["orchestrator", "register", "bad name", "--flavor", "local"], "invalid orchestrator name 'bad name'"),
    (["orchestrator", "delete", "default"], "is used by stack\\(s\\) default"),
    (["stack", "register", "s", "-o", "default", "-a", "missing"], "no artifact-store named 'missing'"),
    (["stack", "set", "nope"], "no stack named 'nope'"),
    (["stack", "describe", "nope"], "no stack named 'nope'"),
    (["stack", "delete", "nope"], "no stack named 'nope'"),
])
def test_bad_stack_input_exits_2_with_a_one_line_error(dosirak: Invoke, args: list[str], message: str) -> None:
    import re

    line = one_line_error(dosirak(*args))
    assert re.search(message, line), line


def test_usage_errors_exit_2(dosirak: Invoke) -> None:
    result = dosirak("stack", "register")
    assert result.exit_code == 2
    assert "Missing argument 'NAME'" in result.stderr
    assert dosirak("no-such-command").exit_code == 2


def test_init_creates_a_project_home_once(dosirak: Invoke, tmp_path: Path) -> None:
    result = dosirak("init", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    home = tmp_path / ".dosirak"
    assert (home / "config.toml").is_file()
    assert (home / "metadata.db").is_file()
    assert "already exists; nothing to do" in dosirak("init", str(tmp_path)).stdout


def test_init_says_in_one_line_that_a_set_dosirak_home_wins(dosirak: Invoke, tmp_path: Path,
                                                             dosirak_home: Path) -> None:
    result = dosirak("init", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    (line,) = result.stderr.splitlines()
    assert line == (f"warning: DOSIRAK_HOME is set ({dosirak_home}) and wins: commands use it, "
                    f"not {tmp_path.resolve() / '.dosirak'}, until you unset it")


def test_init_says_nothing_about_dosirak_home_when_it_is_unset(dosirak: Invoke, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOSIRAK_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    result = dosirak("init", str(tmp_path / "project"))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""


def _showing_commands() -> list[list[str]]:
    """Every stack and component command that shows something, with each argument it can take."""
    import click

    from dosirak.cli.main import COMMANDS, cli
    from tests.stack.planting import PLANTED

    ctx = click.Context(cli)
    writers = {"register", "delete", "set"}
    invocations: list[list[str]] = []
    for group_name in ("stack", "orchestrator", "artifact-store", "model-deployer", "flavor"):
        assert group_name in COMMANDS
        group = cli.get_command(ctx, group_name)
        assert isinstance(group, click.Group)
        readers = set(group.list_commands(ctx)) - writers
        assert readers <= {"list", "describe"}, f"`dosirak {group_name}` has new commands {readers}: cover them here"
        for command in sorted(readers):
            if command == "list":
                invocations.append([group_name, command])
            elif group_name == "stack":
                invocations += [[group_name, command], [group_name, command, "legacy"]]
            else:
                names = ["default"] if group_name != "model-deployer" else []
                names += [name for (ctype, name) in PLANTED if ctype == group_name]
                invocations += [[group_name, command, name] for name in names]
    return [[*args, *extra] for args in invocations for extra in ([], ["--json"])]


def test_no_stack_or_component_command_shows_a_credential_stored_in_clear_text(dosirak: Invoke) -> None:
    import re

    from dosirak.settings import get_settings
    from tests.stack.planting import MARKER, NUMBER, plant_clear_text_credentials

    plant_clear_text_credentials(get_store(), get_settings().metadata_url)
    commands = _showing_commands()
    assert ["artifact-store", "describe", "legacy_s3", "--json"] in commands
    assert ["stack", "describe", "--json"] in commands
    for args in commands:
        result = dosirak(*args)
        assert result.exit_code == 0, (args, result.stderr)
        for output in (result.stdout, result.stderr):
            flat = re.sub(r"[\s│┃|]", "", output)
            assert MARKER not in flat and str(NUMBER) not in flat, (args, output)
    described = dosirak("artifact-store", "describe", "legacy_s3", "--json").json()
    assert described["config"]["storage_options"]["secret"] == "********"
    assert described["config"]["storage_options"]["client_kwargs"]["region_name"] == "eu-west-1"


def test_registering_a_clear_text_credential_is_refused_and_a_reference_is_kept(dosirak: Invoke) -> None:
    refused = one_line_error(dosirak("artifact-store", "register", "s3", "-f", "fsspec", "--path=memory://b",
                                     '--storage_options={"key": "AKIAEXAMPLE", "secret": "hunter2"}'))
    assert "artifact-store 's3': option 'storage_options.key' (and storage_options.secret) holds a credential" in refused
    assert "{env:KEY}" in refused and "hunter2" not in refused and "AKIAEXAMPLE" not in refused
    assert dosirak("artifact-store", "list", "--json").json()[-1]["name"] == "default"
    options = '{"key": "{env:AWS_ACCESS_KEY_ID}", "secret": "{env:AWS_SECRET_ACCESS_KEY}"}'
    registered = dosirak("artifact-store", "register", "s3", "-f", "fsspec", "--path=memory://b",
                         f"--storage_options={options}")
    assert registered.exit_code == 0, registered.stderr
    described = dosirak("artifact-store", "describe", "s3", "--json").json()
    assert described["config"]["storage_options"] == {"key": "{env:AWS_ACCESS_KEY_ID}",
                                                      "secret": "{env:AWS_SECRET_ACCESS_KEY}"}


@pytest.mark.parametrize(("path", "message"), [
    ("/proc/nope", "artifact-store 'x': --path /proc/nope: cannot create it"),
    ("{file}/sub", "artifact-store 'x': --path {file}/sub: {file} is not a directory"),
    ("nosuch://bucket", "--path: protocol 'nosuch' is not one fsspec knows"),
    ("s3://", "--path: 's3://' names no location after '://'"),
])
def test_an_artifact_store_path_that_cannot_be_used_is_refused_at_registration(
    dosirak: Invoke, tmp_path: Path, path: str, message: str
) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    result = dosirak("artifact-store", "register", "x", "--flavor=local", f"--path={path.format(file=file)}")
    assert message.format(file=file) in one_line_error(result)
    assert "x" not in {c["name"] for c in dosirak("artifact-store", "list", "--json").json()}


def test_registering_an_artifact_store_checks_the_directory_and_leaves_no_trace(dosirak: Invoke,
                                                                               tmp_path: Path) -> None:
    result = dosirak("artifact-store", "register", "x", "--flavor=local", f"--path={tmp_path / 'a' / 'b'}")
    assert result.exit_code == 0, result.stderr
    assert list(tmp_path.iterdir()) == []
    remote = dosirak("artifact-store", "register", "s3", "--flavor=fsspec", "--path=s3://bucket/prefix")
    assert remote.exit_code == 0, remote.stderr  # the form only: no bucket is contacted


def test_a_run_on_an_artifact_store_that_cannot_be_used_fails_in_one_line_naming_it(dosirak: Invoke) -> None:
    # registered before registration checked paths, or made unusable since
    get_store().stacks.register_component("artifact-store", "old", "local", {"path": "/proc/nope"})
    assert dosirak("stack", "register", "dev", "-o", "default", "-a", "old").exit_code == 0
    line = one_line_error(dosirak("run", "tests._pipelines.measure:measure", "--stack", "dev"))
    assert line.startswith("error: artifact-store 'old' cannot be used: /proc/nope: cannot create it"), line
    assert dosirak("runs", "list", "--json").json() == []


def test_component_options_take_dashes_or_underscores_and_help_shows_dashes(dosirak: Invoke) -> None:
    assert dosirak("model-deployer", "register", "dashed", "-f", "local", "--port-policy=fail",
                   "--ready-timeout-s", "5").exit_code == 0
    assert dosirak("model-deployer", "register", "under", "-f", "local", "--port_policy=fail").exit_code == 0
    for name in ("dashed", "under"):
        assert dosirak("model-deployer", "describe", name, "--json").json()["config"]["port_policy"] == "fail"
    described = dosirak("model-deployer", "describe", "dashed").stdout
    assert "--port-policy:" in described and "--port_policy" not in described
    assert "--port-policy=fail" in dosirak("model-deployer", "register", "--help").stdout
    unknown = one_line_error(dosirak("model-deployer", "register", "x", "-f", "local", "--port-polcy=fail"))
    assert "has no option(s) --port-polcy; known: --api-keys, --host, --port, --port-policy," in unknown
    invalid = one_line_error(dosirak("model-deployer", "register", "x", "-f", "local", "--port-policy=sometimes"))
    assert "invalid options for flavor 'local': --port-policy: Input should be 'next' or 'fail'" in invalid


def test_a_metadata_store_path_that_cannot_be_used_fails_in_one_line_naming_it(
    dosirak: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dosirak.metadata.store import close_stores
    from dosirak.settings import reset_settings

    close_stores()
    monkeypatch.setenv("DOSIRAK_METADATA_URL", "sqlite:////proc/nope/metadata.db")
    reset_settings()
    line = one_line_error(dosirak("runs", "list"))
    assert "cannot create the directory of the metadata store '/proc/nope/metadata.db'" in line, line


def test_registering_what_already_exists_says_so_carries_on_and_still_sets_the_stack(dosirak: Invoke) -> None:
    first = dosirak("model-deployer", "register", "local_deployer", "--flavor=local")
    assert first.exit_code == 0 and "registered model-deployer 'local_deployer'" in first.stdout
    again = dosirak("model-deployer", "register", "local_deployer", "--flavor=local")
    assert again.exit_code == 0, again.stderr
    assert "already exists with this flavor and these options; nothing to change" in again.stdout
    assert dosirak("stack", "register", "local_stack", "-o", "default", "-a", "default",
                   "-d", "local_deployer").exit_code == 0
    assert get_store().stacks.active_stack_name() == "default"
    stack_again = dosirak("stack", "register", "local_stack", "-o", "default", "-a", "default",
                          "-d", "local_deployer", "--set")
    assert stack_again.exit_code == 0, stack_again.stderr
    assert "stack 'local_stack' already exists with these components; nothing to change" in stack_again.stdout
    assert get_store().stacks.active_stack_name() == "local_stack"


def test_replace_redefines_a_component_and_a_stack(dosirak: Invoke, tmp_path: Path) -> None:
    assert dosirak("model-deployer", "register", "d", "--flavor=local").exit_code == 0
    assert dosirak("model-deployer", "register", "d", "--flavor=local", "--port=3100").exit_code == 2
    replaced = dosirak("model-deployer", "register", "d", "--flavor=local", "--port=3100", "--replace")
    assert replaced.exit_code == 0 and "redefined model-deployer 'd'" in replaced.stdout
    assert get_store().stacks.get_component("model-deployer", "d").config["port"] == 3100
    assert dosirak("stack", "register", "s", "-o", "default", "-a", "default").exit_code == 0
    assert "a stack named 's' already exists with other components; `--replace` (replace=True) redefines it" in \
        one_line_error(dosirak("stack", "register", "s", "-o", "default", "-a", "default", "-d", "d"))
    redefined = dosirak("stack", "register", "s", "-o", "default", "-a", "default", "-d", "d", "--replace")
    assert redefined.exit_code == 0 and "redefined stack 's'" in redefined.stdout
    assert get_store().stacks.get_stack("s").components["model-deployer"].name == "d"
