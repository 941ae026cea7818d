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
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated

import pytest

import dosirak as dk
from dosirak import get_step_context, pipeline, step
from dosirak.errors import RunFailedError, StackError

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]


def write_entry_point(where: Path) -> None:
    """A distribution in ``where`` whose entry point registers the ``ray`` flavor (a plugin's way)."""
    info = where / "dosirak_ray_flavor-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dosirak-ray-flavor\nVersion: 0\n")
    (info / "entry_points.txt").write_text(
        "[dosirak.orchestrators]\nray = dosirak.orchestrators.ray:RayOrchestrator\n")


@contextmanager
def ray_flavor(where: Path) -> Iterator[None]:
    """Make the ``ray`` flavor findable as any plugin is (an entry point), if this install predates it."""
    from dosirak import plugins

    if plugins.has("orchestrators", "ray"):
        yield
        return
    write_entry_point(where)
    sys.path.append(str(where))
    plugins.clear_cache()
    try:
        yield
    finally:
        sys.path.remove(str(where))
        plugins.clear_cache()


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """A local Ray with 2 CPUs and one ``special`` resource; its workers import this code."""
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="dosirak-ray-test-"))
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        mp.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
        mp.setenv("DOSIRAK_HOME", str(Path(tmp) / "home"))
        mp.setenv("RAY_TMPDIR", str(Path(tmp) / "ray"))
        mp.setenv("RAY_AUTH_MODE", "disabled")  # no token file in ~/.ray for a cluster that lives one module
        stack.enter_context(ray_flavor(Path(tmp)))
        ray.init(num_cpus=2, resources={"special": 1}, include_dashboard=False, configure_logging=False,
                 _temp_dir=str(Path(tmp) / "ray"))
        try:
            yield
        finally:
            ray.shutdown()


@pytest.fixture
def on_ray(cluster: None) -> None:
    from dosirak.metadata.store import get_store

    store = get_store()
    store.stacks.register_component("orchestrator", "cluster", "ray", {})
    store.stacks.register_stack("cluster", {"orchestrator": "cluster", "artifact-store": "default"})
    store.stacks.set_active_stack("cluster")


@step
def numbers() -> list[int]:
    print("made the numbers")
    return [1, 2, 3]


@step
def scaled(values: list[int], k: int = 1) -> tuple[list[int], int]:  # type: ignore[type-arg]
    return [k * v for v in values], os.getpid()


@step
def total(a: list[int], b: list[int]) -> int:
    return sum(a) + sum(b)


@pipeline
def fan(k: int = 2) -> None:
    values = numbers()
    left, _ = scaled(values, k=1)
    right, _ = scaled(values, k=k)
    total(left, right)


def test_steps_run_as_ray_tasks_in_other_processes_and_fan_in(on_ray: None) -> None:
    run = fan(k=2)
    assert run.status == "completed"
    assert run.steps["total"].output.load() == 18
    assert run.steps["scaled"].outputs["output_1"].load() != os.getpid()
    assert "made the numbers" in run.steps["numbers"].logs()
    again = fan(k=2)
    assert {s.status for s in again.steps.values()} == {"cached"}


@step
def breaks() -> int:
    raise ValueError("no luck on the cluster")


@step
def needs_breaks(x: int) -> int:
    return x


@step(retries=2, retry_delay_s=0.0)
def third_time() -> int:
    ctx = get_step_context()
    assert ctx is not None
    if ctx.attempt < 3:
        raise ConnectionError(f"attempt {ctx.attempt}")
    return ctx.attempt


@pipeline(enable_cache=False)
def mixed() -> None:
    needs_breaks(breaks())
    third_time()


def test_a_failing_branch_skips_its_dependants_and_a_retried_sibling_completes(on_ray: None) -> None:
    with pytest.raises(RunFailedError, match="no luck on the cluster") as info:
        mixed()
    steps = info.value.run.steps
    assert {n: s.status for n, s in steps.items()} == {
        "breaks": "failed", "needs_breaks": "skipped", "third_time": "completed"}
    assert steps["third_time"].attempts == 3
    assert 'raise ValueError("no luck on the cluster")' in steps["breaks"].traceback


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


@step(resources={"gpus": 4, "memory": "1GiB"})
def greedy() -> int:
    return 1


@pipeline
def too_big() -> None:
    greedy()


def test_a_request_no_node_can_meet_fails_the_run_before_any_step_starts(on_ray: None) -> None:
    from dosirak import Client

    with pytest.raises(StackError, match=r"step 'greedy' asks for .*GPU=4.*no node of the Ray cluster has"):
        too_big()
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


@step(retries=1, retry_delay_s=0.0)
def dies_once(marker: str) -> int:
    path = Path(marker)
    if not path.exists():
        path.write_text("killed")
        os.kill(os.getpid(), 9)  # the worker dies mid-step
    return 1


@step
def dies_always() -> int:
    os.kill(os.getpid(), 9)
    return 1


@pipeline(enable_cache=False)
def killed(marker: str) -> None:
    dies_once(marker=marker)


@pipeline(enable_cache=False)
def killed_for_good() -> None:
    dies_always()


def test_a_worker_killed_mid_step_is_retried_then_fails_with_the_cause(on_ray: None, tmp_path: Path) -> None:
    run = killed(marker=str(tmp_path / "killed"))
    assert run.steps["dies_once"].status == "completed"
    with pytest.raises(RunFailedError, match="dies_always") as info:
        killed_for_good()
    died = info.value.run.steps["dies_always"]
    error = died.error or ""
    assert "died" in error.lower() or "crash" in error.lower(), error
    assert (died.host, died.worker, died.resources) == (None, None, {"cpus": 1.0})  # it asked; nobody could say where



def test_an_address_where_no_ray_listens_is_one_line_naming_it_and_the_run_is_failed(cluster: None) -> None:
    from dosirak import Client
    from dosirak.metadata.store import get_store
    from tests.ports import free_port

    address = f"127.0.0.1:{free_port()}"
    store = get_store()
    store.stacks.register_component("orchestrator", "nowhere", "ray", {"address": address})
    store.stacks.register_stack("nowhere", {"orchestrator": "nowhere", "artifact-store": "default"})
    ray.shutdown()  # a Ray already running in this process would be used as it is
    with pytest.raises(StackError, match=rf"orchestrator 'nowhere': cannot reach Ray at {address}: .*--address"):
        special(stack="nowhere")
    last = Client().get_pipeline("special").last_run
    assert last is not None and last.status == "failed" and address in (last.error or "")


def test_with_no_address_a_local_ray_is_started_for_the_run_and_stopped_after_it(on_ray: None) -> None:
    ray.shutdown()
    run = fan(k=3)
    assert run.steps["total"].output.load() == 24
    assert run.steps["scaled"].outputs["output_1"].load() != os.getpid()
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
                            stdout=subprocess.DEVNULL, start_new_session=True)
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
