"""The ray orchestrator on real Ray clusters started by the tests: ``ray.init(num_cpus=2)`` in this
process, and two nodes on loopback (``ray start --head`` and a second ``ray start``)."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import pytest

import dosirak as dk
from dosirak import pipeline, step
from dosirak.errors import RunFailedError, StackError
from tests.integration.cli.test_run import ctrl_c_as_on_a_terminal
from tests.integration.orchestrators.conftest import ROOT, ray_flavor, write_entry_point

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def on_ray(cluster: str) -> None:
    from dosirak.metadata.store import get_store

    store = get_store()
    store.stacks.register_component("orchestrator", "cluster", "ray", {})
    store.stacks.register_stack("cluster", {"orchestrator": "cluster", "artifact-store": "default"})
    store.stacks.set_active_stack("cluster")


def cli_run(target: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``dosirak run TARGET`` in another process (this test's home; the tests package importable)."""
    env = {**os.environ, "DOSIRAK_PROGRESS": "off", "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    return subprocess.run([sys.executable, "-m", "dosirak.cli.main", "run", target, *args], capture_output=True,
                          text=True, timeout=180, env=env, cwd=ROOT)


def test_a_request_no_node_can_meet_is_one_line_exit_2_and_the_run_is_failed_before_any_step_starts(
        cluster: str, dosirak_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dosirak import Client
    from dosirak.metadata.store import get_store

    monkeypatch.setenv("DOSIRAK_HOME", str(dosirak_home))  # not the cluster's: the one this test reads
    stacks = get_store().stacks
    stacks.register_component("orchestrator", "cluster", "ray", {"address": cluster})
    stacks.register_stack("cluster", {"orchestrator": "cluster", "artifact-store": "default"})
    done = cli_run("tests._pipelines.orchestrated:too_big", "--stack", "cluster")
    assert done.returncode == 2, (done.stdout, done.stderr)
    (line,) = done.stderr.splitlines()
    assert re.fullmatch(r"error: step 'greedy' asks for CPU=1, GPU=4, memory=1\.0GiB, which no node of the Ray "
                        r"cluster has \(nodes: CPU=2, GPU=0, memory=\S+\); lower @step\(resources=\.\.\.\) "
                        r"or add a node that has them", line), line
    run = Client().get_pipeline("too_big").last_run
    assert run is not None and run.status == "failed"
    assert "GPU=4" in (run.error or "")
    assert run.steps["greedy"].status == "skipped"


@step(resources={"special": 1, "cpus": 1})
def on_the_special_node() -> str:
    return str(ray.get_runtime_context().get_node_id())


@pipeline(enable_cache=False)
def special() -> None:
    on_the_special_node()


def test_a_custom_resource_is_the_tasks_request(on_ray: None) -> None:
    run = special()
    (node,) = [n for n in ray.nodes() if n["Resources"].get("special")]
    assert run.steps["on_the_special_node"].output.load() == node["NodeID"]


@step
def who_runs_me() -> list[str]:
    context = ray.get_runtime_context()
    return [context.get_worker_id(), context.get_node_id()]


@pipeline(enable_cache=False)
def where_ran() -> None:
    on_the_special_node()
    who_runs_me()


def test_each_step_run_records_its_ray_worker_node_and_the_resources_its_task_asked_for(on_ray: None) -> None:
    import socket

    from dosirak.metadata.store import get_store

    run = where_ran()
    steps = {s.name: s for s in get_store().runs.get_steps(run.id)}
    worker_id, node_id = run.steps["who_runs_me"].output.load()
    assert steps["who_runs_me"].worker == f"ray worker {worker_id} node {node_id}"
    assert steps["who_runs_me"].resources == {"cpus": 1.0}  # Ray's default request, said in dosirak's names
    assert steps["on_the_special_node"].resources == {"cpus": 1.0, "special": 1.0}
    special_node = run.steps["on_the_special_node"].output.load()
    assert re.fullmatch(rf"ray worker [0-9a-f]{{16,}} node {special_node}", steps["on_the_special_node"].worker or "")
    (address,) = {n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]}
    assert {s.host for s in steps.values()} == {f"{socket.gethostname()} ({address})"}


def test_an_address_where_no_ray_listens_is_one_line_exit_2_naming_it_and_the_run_is_failed() -> None:
    from dosirak import Client
    from dosirak.metadata.store import get_store
    from tests.ports import free_port

    address = f"127.0.0.1:{free_port()}"
    stacks = get_store().stacks
    stacks.register_component("orchestrator", "nowhere", "ray", {"address": address})
    stacks.register_stack("nowhere", {"orchestrator": "nowhere", "artifact-store": "default"})
    done = cli_run("tests._pipelines.orchestrated:cached_chain", "--stack", "nowhere")
    assert done.returncode == 2, (done.stdout, done.stderr)
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: orchestrator 'nowhere': cannot reach Ray at {address}: ") and "--address" in line
    last = Client().get_pipeline("cached_chain").last_run
    assert last is not None and last.status == "failed" and address in (last.error or "")


@step
def where_it_runs() -> int:
    return os.getpid()


@pipeline(enable_cache=False)
def one_step() -> None:
    where_it_runs()


def test_with_no_address_a_local_ray_is_started_for_the_run_and_stopped_after_it(on_ray: None) -> None:
    ray.shutdown()
    run = one_step()
    assert run.steps["where_it_runs"].output.load() != os.getpid()
    assert not ray.is_initialized()


def test_the_address_option_must_name_a_ray_cluster() -> None:
    from dosirak.errors import FlavorError
    from dosirak.orchestrators.ray import RayOrchestrator

    for bad in ("http://x:1", "host", "ray://h:99999", "a@b:1"):
        with pytest.raises(FlavorError, match="is not a Ray address"):
            RayOrchestrator.validate_config({"address": bad})
    for good in ("auto", "ray://head.internal:10001", "10.0.0.5:6379"):
        assert RayOrchestrator.validate_config({"address": good}) == {"address": good}


def _ray_start(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``ray start ... --block`` in its own process group (stopped by that group's id)."""
    ray_cli = str(Path(sys.executable).with_name("ray"))
    head = ["--include-dashboard=false"] if "--head" in args else []
    return subprocess.Popen([ray_cli, "start", "--block", "--disable-usage-stats", *head,
                             "--node-ip-address=127.0.0.1", *args], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # what the group started and left behind
    except ProcessLookupError:
        pass
    if proc.stderr is not None:
        proc.stderr.close()


@step(resources={"second_node": 1})
def where_am_i() -> float:
    me = ray.get_runtime_context().get_node_id()
    (node,) = [n for n in ray.nodes() if n["NodeID"] == me]
    return float(node["Resources"].get("second_node", 0.0))


@pipeline(enable_cache=False)
def placed() -> None:
    where_am_i()


@pytest.fixture
def ray_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    with ray_flavor(tmp_path):
        yield


def test_a_step_asking_for_a_custom_resource_runs_on_the_node_that_has_it(ray_plugin: None, tmp_path: Path) -> None:
    from dosirak.metadata.store import get_store
    from tests.ports import free_port

    if ray.is_initialized():
        ray.shutdown()
    port = free_port()
    short = Path(tempfile.mkdtemp(prefix="dkray-"))  # Ray's socket paths must stay under 108 bytes
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]), "RAY_TMPDIR": str(short),
           "RAY_AUTH_MODE": "disabled"}  # a cluster on loopback for one test: no token file in ~/.ray
    head = _ray_start("--head", f"--port={port}", "--num-cpus=1", f"--temp-dir={short / 'head'}", env=env)
    second: subprocess.Popen[bytes] | None = None
    try:
        address = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:  # the head answers once its GCS listens
            assert head.poll() is None, head.stderr.read() if head.stderr else ""
            try:
                subprocess.run([str(Path(sys.executable).with_name("ray")), "status", f"--address={address}"],
                               env=env, check=True, capture_output=True, timeout=60)
                break
            except subprocess.CalledProcessError:
                assert time.monotonic() < deadline, "the head node never came up"
                time.sleep(0.5)
        second = _ray_start(f"--address={address}", "--num-cpus=1", f"--resources={json.dumps({'second_node': 1})}",
                            env=env)
        store = get_store()
        store.stacks.register_component("orchestrator", "two_nodes", "ray", {"address": address})
        store.stacks.register_stack("two_nodes", {"orchestrator": "two_nodes", "artifact-store": "default"})
        store.stacks.set_active_stack("two_nodes")
        deadline = time.monotonic() + 120
        while True:  # until the second node has joined, the step's request is one no node meets
            try:
                run = placed()
                break
            except StackError:
                assert second.poll() is None, second.stderr.read() if second.stderr else ""
                assert time.monotonic() < deadline, "the second node never joined"
                time.sleep(1)
        assert run.steps["where_am_i"].output.load() == 1.0
    finally:
        if second is not None:
            _stop(second)
        _stop(head)
        shutil.rmtree(short, ignore_errors=True)


SLOW_SCRIPT = '''
import sys
import time
from pathlib import Path

from dosirak import pipeline, step
from dosirak.metadata.store import get_store


@step
def first() -> int:
    return 1


@step
def slow(x: int, marker: str = "") -> int:
    Path(marker).write_text("started")
    time.sleep(300)
    return x


@pipeline(enable_cache=False)
def slowpipe(marker: str = "") -> None:
    slow(first(), marker=marker)


if __name__ == "__main__":
    store = get_store()
    store.stacks.register_component("orchestrator", "cluster", "ray", {})
    store.stacks.register_stack("cluster", {"orchestrator": "cluster", "artifact-store": "default"})
    store.stacks.set_active_stack("cluster")
    slowpipe(marker=sys.argv[1])
'''


def test_ctrl_c_cancels_the_running_task_records_the_run_cancelled_and_stops_the_local_ray(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dosirak import Client

    if ray.is_initialized():
        ray.shutdown()
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    script = tmp_path / "slow_on_ray.py"  # its steps live in __main__: they travel by value
    script.write_text(SLOW_SCRIPT)
    marker = tmp_path / "started"
    short = Path(tempfile.mkdtemp(prefix="dkray-"))
    plugin = tmp_path / "plugin"  # the flavor's entry point for the child (dosirak's own wins if it has one)
    plugin.mkdir()
    write_entry_point(plugin)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(plugin)]),
           "RAY_TMPDIR": str(short), "DOSIRAK_PROGRESS": "plain"}
    proc = subprocess.Popen([sys.executable, str(script), str(marker)], env=env, stderr=subprocess.PIPE, text=True,
                            stdout=subprocess.DEVNULL, start_new_session=True, preexec_fn=ctrl_c_as_on_a_terminal)
    try:
        deadline = time.monotonic() + 180
        while not marker.exists():  # the slow step runs in a Ray worker
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the slow step never started"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
        else:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # anything of the run's Ray left behind
            except ProcessLookupError:
                pass
        shutil.rmtree(short, ignore_errors=True)
    assert "step slow cancelled" in err, err
    assert re.search(r"^run slowpipe-\S+ cancelled by the user during step 'slow'", err, re.M), err
    run = Client().get_pipeline("slowpipe").last_run
    assert run is not None and run.status == "cancelled"
    assert {n: s.status for n, s in run.steps.items()} == {"first": "completed", "slow": "cancelled"}


@step
def logs_on_a_worker(k: int = 1) -> Annotated[int, "pid"]:
    for i in range(200):
        dk.log_metric("value", float(k), step=i)
    dk.log_metadata({"k": k})
    dk.log_metadata({"made_by": "worker"}, artifact="pid")
    return os.getpid()


@step
def logs_then_breaks(x: int) -> None:
    dk.log_metrics({"before": 1.0, "also": math.inf}, step=0)
    raise ValueError("broke after logging")


@pipeline(enable_cache=False)
def logged_on_ray() -> None:
    logs_then_breaks(logs_on_a_worker(k=1))
    logs_on_a_worker(k=2)


def test_points_logged_in_ray_tasks_are_recorded_by_the_driving_process(on_ray: None) -> None:
    from dosirak.metadata.store import get_store

    with pytest.raises(RunFailedError, match="broke after logging") as info:
        logged_on_ray()
    steps = info.value.run.steps
    metrics = get_store().metrics
    for name, k in (("logs_on_a_worker", 1), ("logs_on_a_worker_2", 2)):
        series = metrics.series(steps[name].id, "value")
        assert series.total == 200 and {v for _, v, _ in series.points} == {float(k)}, name
        assert metrics.logged_metadata("step", steps[name].id) == {"k": k}
        assert metrics.logged_metadata("artifact", steps[name].outputs["pid"].id) == {"made_by": "worker"}
    assert steps["logs_on_a_worker"].outputs["pid"].load() != os.getpid()  # logged in another process
    failed = steps["logs_then_breaks"]
    assert failed.status == "failed"  # and it keeps what it logged
    assert [p[:2] for p in metrics.series(failed.id, "also").points] == [(0, math.inf)]
    assert metrics.series(failed.id, "before").total == 1
