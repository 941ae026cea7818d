"""The ray orchestrator: each step a Ray task, started as soon as the steps it depends on finished.

``dosirak orchestrator register cluster --flavor=ray [--address=auto|ray://HOST:10001]``.
The driving process keeps the metadata store: it prepares each step (the cache), sends its
:class:`~dosirak.pipelines.invocation.StepInvocation` to a Ray task that computes it with
the artifact store (which every node must reach: a shared directory, or S3), and records
the task's result. A step's ``resources`` (``cpus``, ``gpus``, ``memory``, custom ones)
are its task's request; a request no node of the cluster can meet stops the run before any
step starts. With no address a local Ray is started for the run and stopped after it; an
already initialised Ray (``ray.init`` called by the caller) is used as it is. A task whose
worker dies is retried up to the step's ``retries``, then the step fails with the cause.
Each step run records where it ran: the node's hostname and address, the Ray worker and
node ids (``ray worker ID node ID``), and the resources its task asked for.
Ctrl-C cancels the running tasks and records them cancelled.
"""

from __future__ import annotations

import logging
import re
import socket
from typing import TYPE_CHECKING, Any, ClassVar

from dosirak.errors import MissingExtraError, StackError, WorkerLostError
from dosirak.orchestrators.base import BaseOrchestrator
from dosirak.pipelines import logs
from dosirak.pipelines.invocation import Placement, StepInvocation, StepResult, compute, failure
from dosirak.pipelines.run import ActiveRun
from dosirak.pipelines.step_runner import begin, ready, record, record_cancelled

if TYPE_CHECKING:
    from dosirak.pipelines.dag import StepNode

log = logging.getLogger(__name__)

#: how often the driving thread wakes while waiting for tasks
_WAKE_S = 0.5
#: how long to try to open a connection to a configured Ray address
_PROBE_S = 5.0
#: the PID in the text of Ray's error about a dead worker
_WORKER_PID = re.compile(r"Worker PID: (\d+)")
#: dosirak's resource names -> Ray's node resource names
_NODE_NAMES = {"cpus": "CPU", "gpus": "GPU", "memory": "memory"}


class RayOrchestrator(BaseOrchestrator):
    """Runs every step as a Ray task on a Ray cluster (or a local Ray started for the run)."""

    flavor: ClassVar[str] = "ray"
    config_model: ClassVar[str | None] = "dosirak.stack.configs:RayOrchestratorConfig"

    def run_dag(self, run: ActiveRun) -> None:
        ray = _import_ray()
        started = self._connect(ray)
        try:
            _check_resources(ray, run)
            tasks = _Tasks(ray, run)
            with logs.driving():
                try:
                    tasks.run()
                except KeyboardInterrupt:
                    tasks.cancel_running()
                    raise
        finally:
            if started:
                ray.shutdown()

    def _connect(self, ray: Any) -> bool:
        """Join the configured cluster (or start a local Ray); True if this run must stop it."""
        if ray.is_initialized():
            return False
        address = self.config.get("address")
        if address and address != "auto":
            self._probe(address)
        try:
            ray.init(address=address, runtime_env=self.config.get("runtime_env"), include_dashboard=False,
                     log_to_driver=True, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
            where = f"at {address}" if address else "locally"
            raise StackError(f"orchestrator '{self.name}': cannot reach Ray {where}: {exc}; check --address "
                             "(`ray status` on the head node shows it) or leave it unset to start Ray locally"
                             ) from None
        return True

    def _probe(self, address: str) -> None:
        """Raise StackError at once when nothing listens at ``address`` (Ray itself waits minutes)."""
        host, _, port = address.removeprefix("ray://").rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=_PROBE_S).close()
        except OSError as exc:
            raise StackError(f"orchestrator '{self.name}': cannot reach Ray at {address}: {exc.strerror or exc}; "
                             "start the cluster (`ray start --head`) or fix --address") from None


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingExtraError("the ray orchestrator needs Ray: `pip install 'dosirak[ray]'`") from None
    return ray


def _request(node: StepNode) -> dict[str, Any]:
    """The Ray task options asking for ``node``'s resources (1 CPU unless it says otherwise)."""
    wanted = node.step.options.resources
    options: dict[str, Any] = {"num_cpus": wanted.get("cpus", 1.0)}
    if "gpus" in wanted:
        options["num_gpus"] = wanted["gpus"]
    if "memory" in wanted:
        options["memory"] = wanted["memory"]
    custom = {k: v for k, v in wanted.items() if k not in _NODE_NAMES}
    if custom:
        options["resources"] = custom
    return options


def _check_resources(ray: Any, run: ActiveRun) -> None:
    """Raise StackError when a step asks for more than any node of the cluster has."""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    for node in run.dag.nodes:
        wanted = {_NODE_NAMES.get(k, k): v for k, v in node.step.options.resources.items() if v > 0}
        wanted.setdefault("CPU", 1.0)
        if any(all(have.get(k, 0.0) >= v for k, v in wanted.items()) for have in nodes):
            continue
        asked = ", ".join(f"{k}={_amount(k, v)}" for k, v in sorted(wanted.items()))
        largest = "; ".join(", ".join(f"{k}={_amount(k, have.get(k, 0.0))}" for k in sorted(wanted))
                            for have in nodes) or "no live node"
        raise StackError(f"step '{node.name}' asks for {asked}, which no node of the Ray cluster has "
                         f"(nodes: {largest}); lower @step(resources=...) or add a node that has them")


def _amount(name: str, value: float) -> str:
    if name == "memory":
        return f"{value / 1024**3:.1f}GiB"
    return f"{value:g}"


def _asked(node: StepNode) -> dict[str, float]:
    """What ``node``'s task asks Ray for, in dosirak's names (``cpus`` is 1 unless the step says)."""
    return {"cpus": 1.0, **node.step.options.resources}


def _compute_task(invocation: StepInvocation) -> StepResult:
    """What a Ray worker runs: compute the step with the artifact store named in the invocation.

    The result says where: this node's hostname and address, the Ray worker and node ids.
    """
    try:
        result = compute(invocation)
    except Exception as exc:  # noqa: BLE001 - e.g. the artifact store cannot be opened there
        result = failure(exc, 1)
    result.placement = _ray_placement(_asked(invocation.node))
    return result


def _ray_placement(resources: dict[str, float]) -> Placement:
    """Where this Ray task runs: ``HOST (NODE_IP)`` and ``ray worker WORKER_ID node NODE_ID``.

    Never fails the step it describes: what Ray cannot say is left out.
    """
    host = socket.gethostname()
    try:
        ray = _import_ray()
        context = ray.get_runtime_context()
        address = str(ray.util.get_node_ip_address())
    except Exception:  # noqa: BLE001 - the step's result matters more than where it ran
        log.debug("could not tell which Ray worker this is", exc_info=True)
        return Placement(host=host, resources=resources)
    return Placement(host=f"{host} ({address})" if address and address != host else host,
                     worker=f"ray worker {context.get_worker_id()} node {context.get_node_id()}",
                     resources=resources)


def _worker_died(ray: Any) -> tuple[type[BaseException], ...]:
    """Ray's errors saying the process running a task died (killed, out of memory, its node gone)."""
    names = ("WorkerCrashedError", "OutOfMemoryError", "NodeDiedError", "LocalRayletDiedError")
    return tuple(getattr(ray.exceptions, n) for n in names if hasattr(ray.exceptions, n))


def _lost(step_name: str, attempts: int, exc: BaseException) -> WorkerLostError:
    """The one-line error of a step whose worker died in every attempt (Ray's long text is its cause)."""
    pid = _WORKER_PID.search(str(exc))
    which = f" (last: pid {pid.group(1)})" if pid else ""
    each = f"in each of its {attempts} attempts" if attempts > 1 else "mid-step"
    lost = WorkerLostError(
        f"step '{step_name}': the Ray worker running it died {each}{which}: {type(exc).__name__} (killed, out of "
        f"memory, or its node was lost); ask for the memory it needs (@step(resources={{\"memory\": \"4GiB\"}})) "
        f"or for more retries (@step(retries=N)); `ray logs` on the node says why it died")
    lost.__cause__ = exc
    return lost


class _Tasks:
    """Drives one run on Ray: a task per step once its upstream ended; results recorded in this thread."""

    def __init__(self, ray: Any, run: ActiveRun) -> None:
        self.ray = ray
        self.active = run
        self.waiting = list(run.dag.nodes)
        self.running: dict[Any, StepInvocation] = {}  # object ref -> invocation
        self.remote = ray.remote(_compute_task)

    def run(self) -> None:
        while self.waiting or self.running:
            self.start_ready()
            if self.running:
                self.collect()

    def start_ready(self) -> None:
        run = self.active
        started = True
        while started:
            started = False
            for node in ready(run, self.waiting, len(self.waiting)):
                started = True
                self.waiting.remove(node)
                prepared = begin(run, node)
                if prepared is None:
                    continue
                task = self.remote.options(**_request(node), max_retries=node.step.options.retries,
                                           retry_exceptions=False, name=f"dosirak:{node.name}")
                self.running[task.remote(prepared)] = prepared

    def collect(self) -> None:
        ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=_WAKE_S)
        for ref in ready:
            invocation = self.running.pop(ref)
            attempts = invocation.node.step.options.retries + 1
            try:
                result: StepResult = self.ray.get(ref)
            except _worker_died(self.ray) as exc:  # in its last attempt (Ray retried it ``retries`` times)
                result = failure(_lost(invocation.name, attempts, exc), attempts)
                if self.active.artifact_store.size(invocation.log_uri) is not None:
                    result.logs_uri = invocation.log_uri  # what it wrote before it died (a local store's is live)
                result.placement = Placement(resources=_asked(invocation.node))  # it could not say where
            except self.ray.exceptions.RayError as exc:
                result = failure(exc, attempts)
                result.placement = Placement(resources=_asked(invocation.node))
            self.active.outcomes[invocation.name] = record(self.active, invocation, result)

    def cancel_running(self) -> None:
        """Ctrl-C: cancel every running task and record its step cancelled."""
        for ref, invocation in list(self.running.items()):
            try:
                self.ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - it may have just finished
                log.debug("could not cancel the task of step '%s'", invocation.name, exc_info=True)
            record_cancelled(self.active, invocation)
        if self.running:
            self.active.interrupted = next(iter(self.running.values())).name
        self.running.clear()


__all__ = ["RayOrchestrator"]
