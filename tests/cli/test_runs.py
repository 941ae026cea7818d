"""``dosirak pipeline list``, ``runs list|show|logs`` and ``artifact list|show``, as tables and as --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dosirak.pipelines.views import RunView
from tests._pipelines.experiments import three_runs
from tests._pipelines.measure import measure
from tests.cli.conftest import Invoke, one_line_error


@pytest.fixture
def two_runs() -> tuple[RunView, RunView]:
    return measure(count=3), measure(count=4)


def test_pipeline_list_shows_each_pipeline_with_its_runs(dosirak: Invoke, two_runs: tuple[RunView, RunView]) -> None:
    table = dosirak("pipeline", "list")
    assert table.exit_code == 0
    assert "measure" in table.stdout
    assert dosirak("pipeline", "list", "--json").json() == [
        {"name": "measure", "runs": 2, "last_run": two_runs[1].id, "last_status": "completed"}]


def test_runs_list_is_newest_first(dosirak: Invoke, two_runs: tuple[RunView, RunView]) -> None:
    first, second = two_runs
    rows = dosirak("runs", "list", "--json").json()
    assert [r["id"] for r in rows] == [second.id, first.id]
    assert rows[0]["parameters"] == {"count": 4}
    assert dosirak("runs", "list", "--json", "--status", "failed").json() == []
    table = dosirak("runs", "list", "--pipeline", "measure").stdout
    assert first.id[:8] in table and second.id[:8] in table


def test_runs_show_explains_which_part_of_the_cache_key_changed(
    dosirak: Invoke, two_runs: tuple[RunView, RunView]
) -> None:
    _first, second = two_runs
    shown = dosirak("runs", "show", second.id[:8], "--json").json()
    steps = {s["name"]: s for s in shown["steps"]}
    assert steps["words"]["cache_miss"] == ["its parameters changed"]
    assert steps["lengths"]["cache_miss"] == ["input(s) items changed content"]
    assert steps["tally"]["outputs"]["output"]["type"] == "builtins.int"
    table = dosirak("runs", "show", second.id)
    assert table.exit_code == 0
    assert "cache miss: its parameters changed" in table.stdout


def test_runs_show_names_the_run_and_step_a_cache_hit_came_from(dosirak: Invoke,
                                                               two_runs: tuple[RunView, RunView]) -> None:
    third = measure(count=4)
    steps = {s["name"]: s for s in dosirak("runs", "show", third.id, "--json").json()["steps"]}
    assert steps["words"]["cached_from"] == two_runs[1].steps["words"].id
    assert steps["words"]["cached_from_run"] == {"run_id": two_runs[1].id, "step": "words"}
    assert steps["tally"]["cached_from_run"] == {"run_id": two_runs[1].id, "step": "tally"}
    table = dosirak("runs", "show", third.id).stdout
    assert f"cache hit from run {two_runs[1].id[:8]}" in table
    # the id it names can be looked up
    assert two_runs[1].id in dosirak("runs", "show", two_runs[1].id[:8]).stdout
    logs = dosirak("runs", "logs", third.id, "--step", "tally").stdout
    assert f"(cached: these are the logs of step 'tally' in run {two_runs[1].id[:8]})" in logs


def test_runs_list_of_an_unknown_pipeline_says_so_and_names_the_known_ones(
    dosirak: Invoke, two_runs: tuple[RunView, RunView]
) -> None:
    line = one_line_error(dosirak("runs", "list", "--pipeline", "nosuch"))
    assert "no pipeline named 'nosuch'; known pipelines: measure" in line


def test_runs_show_of_a_failed_run_prints_the_traceback(dosirak: Invoke) -> None:
    from dosirak import pipeline, step
    from dosirak.errors import RunFailedError

    @step
    def crash() -> int:
        raise ZeroDivisionError("cannot divide here")

    @pipeline
    def crashing() -> None:
        crash()

    with pytest.raises(RunFailedError) as info:
        crashing()
    shown = dosirak("runs", "show", info.value.run.id)
    assert "traceback of step crash" in shown.stdout
    assert "ZeroDivisionError: cannot divide here" in shown.stdout
    as_json = dosirak("runs", "show", info.value.run.id, "--json").json()
    assert as_json["status"] == "failed"
    assert "ZeroDivisionError" in as_json["steps"][0]["traceback"]


def test_runs_logs_prints_what_each_step_printed(dosirak: Invoke, two_runs: tuple[RunView, RunView]) -> None:
    _first, second = two_runs
    out = dosirak("runs", "logs", second.id).stdout
    assert "== tally (completed) ==" in out
    assert "tallying 4 numbers" in out
    assert "== words (completed) ==\n(no output)" in out
    only = dosirak("runs", "logs", second.id, "--step", "tally").stdout
    assert "words" not in only and "tallying 4 numbers" in only


def test_unknown_run_or_step_exits_2_with_a_one_line_error(
    dosirak: Invoke, two_runs: tuple[RunView, RunView]
) -> None:
    assert "no run with id 'deadbeef'" in one_line_error(dosirak("runs", "show", "deadbeef"))
    assert "has no step 'nope'; its steps: words, lengths, tally" in one_line_error(
        dosirak("runs", "logs", two_runs[0].id, "--step", "nope"))
    assert "no artifact with id 'deadbeef'" in one_line_error(dosirak("artifact", "show", "deadbeef"))


def test_artifact_list_and_show(dosirak: Invoke, two_runs: tuple[RunView, RunView]) -> None:
    listed = dosirak("artifact", "list", "--json").json()
    assert len(listed) == 8  # words, sizes, longest, tally; twice
    ints = dosirak("artifact", "list", "--json", "--type", "int").json()
    assert {a["name"] for a in ints} == {"longest", "output"}
    sizes = two_runs[0].steps["lengths"].outputs["sizes"]
    shown = dosirak("artifact", "show", sizes.id[:8], "--json").json()
    assert shown["artifact"]["content_hash"] == sizes.content_hash
    roles = {(link["kind"], link["step"], link["run_id"]) for link in shown["links"]}
    assert roles == {("output", "lengths", two_runs[0].id), ("input", "tally", two_runs[0].id)}
    table = dosirak("artifact", "show", sizes.id).stdout
    assert "produced by  step lengths (as 'sizes')" in table
    assert "consumed by  step tally (as 'numbers')" in table


def test_runs_show_says_when_caching_was_off(dosirak: Invoke, two_runs: tuple[RunView, RunView]) -> None:
    result = dosirak("run", "tests._pipelines.measure:measure", "-p", "count=4", "--no-cache")
    assert result.exit_code == 0, result.stderr
    newest = dosirak("runs", "list", "--json").json()[0]
    steps = {s["name"]: s for s in dosirak("runs", "show", newest["id"], "--json").json()["steps"]}
    assert steps["tally"]["cache_miss"] == ["caching is off for this step"]


@pytest.mark.parametrize("command", [("runs", "list"), ("artifact", "list")])
@pytest.mark.parametrize("limit", ["0", "-1", "99999999999999999999999"])
def test_a_limit_outside_what_the_store_can_take_is_a_usage_error(dosirak: Invoke, command: tuple[str, str],
                                                                  limit: str) -> None:
    result = dosirak(*command, "-n", limit)
    assert result.exit_code == 2 and "Invalid value for '-n' / '--limit'" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_artifact_type_filter_takes_wildcards_literally(dosirak: Invoke, two_runs: tuple[RunView, RunView]) -> None:
    assert dosirak("artifact", "list", "--type", "%", "--json").json() == []
    assert dosirak("artifact", "list", "--type", "_", "--json").json() == []
    assert dosirak("artifact", "list", "--type", "int", "--json").json() != []


def test_latest_names_the_newest_run_and_the_newest_artifact(dosirak: Invoke,
                                                             two_runs: tuple[RunView, RunView]) -> None:
    _first, second = two_runs
    assert dosirak("runs", "show", "latest", "--json").json()["id"] == second.id
    assert "tallying 4 numbers" in dosirak("runs", "logs", "latest", "--step", "tally").stdout
    newest = dosirak("artifact", "list", "--json").json()[0]
    assert dosirak("artifact", "show", "latest", "--json").json()["artifact"]["id"] == newest["id"]


def test_latest_without_runs_says_there_are_none(dosirak: Invoke) -> None:
    assert "there are no runs yet" in one_line_error(dosirak("runs", "show", "latest"))
    assert "there are no artifacts yet" in one_line_error(dosirak("artifact", "show", "latest"))


def test_runs_compare_prints_differences_and_the_code_diff_and_json_is_the_apis(dosirak: Invoke,
                                                                               tmp_path: Path) -> None:
    from dosirak.metadata.store import get_store
    from dosirak.pipelines.comparison import compare_runs

    a, b, c = three_runs(tmp_path)
    shown = dosirak("runs", "compare", a.id[:8], b.id[:8], c.id[:8])
    assert shown.exit_code == 0, shown.stderr
    text = shown.stdout
    assert "Parameters (differences first)" in text and "score.loss" in text and "cache hit" in text
    assert "code of step score changed" in text
    assert '+        dk.log_metric("loss", 0.5 / (epoch + 1), step=epoch)' in text
    assert "input score.values differs" in text
    printed = dosirak("runs", "compare", a.id, b.id, "--json").json()
    assert printed == json.loads(json.dumps(compare_runs(get_store(), [a.id, b.id])))


def test_runs_compare_needs_two_known_runs(dosirak: Invoke, tmp_path: Path) -> None:
    a, _, _ = three_runs(tmp_path)
    assert "compare needs at least 2 runs" in one_line_error(dosirak("runs", "compare", a.id))
    assert "no run with id 'deadbeef'" in one_line_error(dosirak("runs", "compare", a.id, "deadbeef"))


def test_runs_show_lists_the_metrics_the_steps_logged(dosirak: Invoke, tmp_path: Path) -> None:
    a, _, _ = three_runs(tmp_path)
    text = dosirak("runs", "show", a.id).stdout
    assert "score.loss" in text and "0.333333" in text
    (metric,) = dosirak("runs", "show", a.id, "--json").json()["metrics"]
    assert metric["key"] == "score.loss" and metric["points"] == 3 and metric["latest_step"] == 2


def _bar_columns(line: str) -> range:
    track = line.split("|")[1]
    marked = [i for i, c in enumerate(track) if c != " "]
    return range(marked[0], marked[-1] + 1)


def test_runs_show_says_where_each_step_ran_and_draws_parallel_branches_side_by_side(
        dosirak: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import socket

    from tests._pipelines.parallel import parallel, use_two_workers

    use_two_workers()
    run = parallel()
    steps = {s["name"]: s for s in dosirak("runs", "show", run.id, "--json").json()["steps"]}
    assert steps["left_branch"]["host"] == socket.gethostname()
    assert steps["left_branch"]["resources"] == {"cpus": 1.0, "memory": 256 * 1024.0**2}
    assert steps["right_branch"]["resources"] == {}
    assert {steps["left_branch"]["worker"], steps["right_branch"]["worker"]} == {
        f"pid {os.getpid()} thread dosirak-worker-1", f"pid {os.getpid()} thread dosirak-worker-2"}
    monkeypatch.setenv("COLUMNS", "100")
    shown = dosirak("runs", "show", run.id)
    assert shown.exit_code == 0
    text = shown.stdout
    assert "cpus=1, memory=256.0 MiB" in text and "dosirak-worker-2" in text
    chart = text[text.index("\ntimeline\n"):].splitlines()
    rows = {line.split(" ", 1)[0]: line for line in chart if "|" in line}
    assert set(rows) == {"source", "left_branch", "right_branch", "join"}
    assert all(len(line) <= 100 for line in chart)  # the width it was given (not a terminal: 100 columns)
    assert set(rows["left_branch"].split("|")[1].strip()) == {"#"}  # plain ASCII off a terminal
    left, right, join = (_bar_columns(rows[n]) for n in ("left_branch", "right_branch", "join"))
    assert len(set(left) & set(right)) >= 0.8 * min(len(left), len(right))  # side by side on the axis
    assert join.start >= max(left.stop, right.stop) - 1  # the join after both
    assert "0" in chart[-2] and "ms" in chart[-2]  # the axis' times
