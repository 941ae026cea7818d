"""The ``local`` deployer: ``dosirak serve`` as a detached process on this machine.

A deployment is a row in the metadata store first, then a process: the deployer starts
``dosirak serve TARGET`` in its own session (so it outlives the pipeline that deployed it),
with its output in ``DOSIRAK_HOME/deployments/<id>/serve.log``, records its PID together
with the PID's kernel start time, and waits for ``/readyz``.

Each service runs 2 workers where there are 2 or more cores (:func:`default_workers`),
unless the request or the deployer's config says otherwise: with one worker, a crashed
worker is an outage of seconds (every request fails until it has restarted and loaded the
model); with two, the other answers meanwhile. With ``api_key_env`` on the request (or
the deployer's ``api_keys`` option, a ``{env:NAME}`` reference) the service requires the
API keys held by that environment variable (``dosirak serve --api-key-env``): the
variable passes to the service through its environment, and only its name is recorded.

Replacing a deployment of the same name keeps its address and never drops a request.
Every service listens on a control socket, ``DOSIRAK_HOME/deployments/<id>/control.sock``
(:mod:`dosirak.serving.handover`). When the requested port is held by the live deployment
being replaced, and that deployment's process is the one recorded (PID and start time)
and serves the control socket itself, the deployer takes the old server's listening
socket from it and starts the new service on that very socket (``dosirak serve --fd``):
both accept from one queue while the new one loads (its workers accept only once loaded),
the deployer asks the new one's control socket until it is ready, the store switches to it
in one transaction, and only then is the old one sent SIGTERM: it stops accepting, answers
what it has already accepted, and exits; connections still queued go to the new one. No
``SO_REUSEPORT``: no other process can bind the port meanwhile. When the socket cannot be
taken over (an old deployment without a control socket, a port held by another process or
deployment), the new service starts on the next free port as before, and clients that look
the service up (:func:`~dosirak.deployers.discovery.find_model_server`, the
:class:`~dosirak.deployers.prediction_service.PredictionService` handle) follow the switch.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import suppress
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from dosirak import process
from dosirak.deployers.base import BaseDeployer, DeploymentRequest
from dosirak.errors import (
    ConfigError,
    DeploymentError,
    DeploymentStartError,
    PortInUseError,
    SocketHandoverError,
)
from dosirak.metadata.records import DeploymentRecord
from dosirak.metadata.store import get_store
from dosirak.metadata.timeutil import utcnow
from dosirak.serving import handover
from dosirak.serving.handover import is_ready
from dosirak.settings import child_environment, get_settings
from dosirak.stack.credentials import reference_name
from dosirak.statuses import LIVE_DEPLOYMENT_STATUSES, SERVING_DEPLOYMENT_STATUSES

if TYPE_CHECKING:
    from dosirak.metadata.store import MetadataStore

log = logging.getLogger(__name__)

_PORT_SCAN = 100
# Runs in a short-lived interpreter: starts the server in a new session and prints its PID, so
# the server is never a child of the deploying process (no zombie, no stray Popen to reap).
_LAUNCHER = (
    "import json, subprocess, sys\n"
    "a = json.loads(sys.argv[1])\n"
    "log = open(a['log'], 'ab', buffering=0)\n"
    "p = subprocess.Popen(a['argv'], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,\n"
    "                     cwd=a['cwd'], start_new_session=True, close_fds=True, pass_fds=a['fds'])\n"
    "print(p.pid)\n"
)


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` now (as ``dosirak serve`` binds it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str) -> int:
    """A port the kernel says is free now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def default_workers() -> int | None:
    """Workers of a deployment that names none: 2 where this process may use 2+ cores, else None.

    None leaves the choice to the service's own ``workers`` option.
    """
    from dosirak.serving.server import cpu_count

    return 2 if cpu_count() >= 2 else None


def _check_api_keys(env_name: str | None) -> None:
    """Refuse (ConfigError) a deployment whose key variable is unset or holds no usable key, before it starts."""
    if env_name:
        from dosirak.serving.auth import read_keys

        read_keys(env_name)


def tail(path: str | Path | None, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file ("" when there is none)."""
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return "".join(deque(fh, maxlen=lines)).rstrip()
    except OSError:
        return ""


class LocalDeployer(BaseDeployer):
    """Serves bundles as detached local processes; see the module docstring.

    Example::

        dosirak model-deployer register local_deployer --flavor=local
        dosirak stack register local_stack -a default -o default -d local_deployer --set
    """

    flavor: ClassVar[str] = "local"
    config_model: ClassVar[str | None] = "dosirak.deployers.configs:LocalDeployerConfig"

    @cached_property
    def options(self) -> dict[str, Any]:
        """The config over the defaults of :class:`~dosirak.deployers.configs.LocalDeployerConfig`.

        Read on first use, so that a deployer made only to refresh or list deployments never
        imports pydantic.
        """
        return {**self.config_defaults(), **self.config}

    @staticmethod
    def _store() -> MetadataStore:
        return get_store()

    # -- deploy -----------------------------------------------------------------------
    def deploy(self, request: DeploymentRequest) -> DeploymentRecord:
        key_env = request.api_key_env or self._configured_key_env()
        _check_api_keys(key_env)
        store = self._store()
        # only this flavor's deployments: a SageMaker endpoint of the same name is not a process to replace
        listed = store.deployments.list_deployments(name=request.name, statuses=LIVE_DEPLOYMENT_STATUSES)
        previous = [d for d in (self.refresh(r) for r in listed if r.flavor == self.flavor)
                    if d.status in SERVING_DEPLOYMENT_STATUSES]
        host = request.host or str(self.options["host"])
        wanted = int(self.options["port"] if request.port is None else request.port)
        # the replaced deployment's port, when it is the one asked for (or any was: port 0)
        holder = next((d for d in previous if d.host == host and d.port and wanted in (d.port, 0)), None)
        inherited = self._take_over(holder, host, int(holder.port or 0)) if holder is not None else None
        port = int(holder.port or 0) if holder is not None and inherited is not None else self._choose_port(
            host, wanted, held_by_us={d.port for d in previous if d.host == host})
        workers = request.workers or self.options["workers"] or default_workers()
        config = {"target": request.target, "workers": workers, "cwd": request.cwd,
                  "timeout_s": request.timeout_s, "requested_port": wanted, "api_key_env": key_env}
        try:
            record = store.deployments.create_deployment(
                name=request.name, deployer=self.name, flavor=self.flavor, status="starting", host=host, port=port,
                url=f"http://{host}:{port}", bundle_id=request.bundle_id, model_name=request.model_name,
                model_version_id=request.model_version_id, pipeline_name=request.pipeline_name,
                run_id=request.run_id, step_name=request.step_name, config=config, extra=dict(request.extra),
            )
            record = self._launch(record, inherited)
        finally:
            if inherited is not None:
                inherited.close()  # the new server holds its own reference now (or failed, and the old one serves on)
        record = store.deployments.switch_deployments(record.id, [d.id for d in previous])
        for old in previous:
            self._terminate(old)
            store.deployments.update_deployment(old.id, status="stopped", stopped_at=_now())
            log.info("deployment %s (%s) replaced by %s at %s", old.id[:8], old.url, record.id[:8], record.url)
        log.info("deployment %s serves %s at %s (docs: %s/docs)", record.id[:8], request.target, record.url,
                 record.url)
        return record

    def _configured_key_env(self) -> str | None:
        """The variable named by the ``api_keys`` option (``{env:NAME}``), or None."""
        value = self.options["api_keys"]
        if not value:
            return None
        name = reference_name(value)
        if name is None:
            raise ConfigError(f"model-deployer '{self.name}': option 'api_keys' must name the environment variable "
                              "holding the keys, written {env:NAME}, never the keys themselves")
        return name

    def _choose_port(self, host: str, wanted: int, held_by_us: set[int | None]) -> int:
        if wanted == 0:
            return free_port(host)
        if port_is_free(host, wanted):
            return wanted
        taken = {d.port for d in self._store().deployments.list_deployments(statuses=LIVE_DEPLOYMENT_STATUSES) if d.host == host}
        if wanted not in held_by_us and self.options["port_policy"] == "fail":
            raise PortInUseError(
                f"port {wanted} on {host} is in use by another process; pass another port (port=... on the "
                f"model_deployer step), stop that process, or use a deployer that picks the next free port "
                f"(its default): `dosirak model-deployer register local_deployer --flavor=local --port-policy=next`")
        for candidate in range(wanted + 1, min(wanted + _PORT_SCAN, 65536)):
            if candidate not in taken and port_is_free(host, candidate):
                if wanted not in held_by_us:
                    log.warning("port %d on %s is in use; deploying on port %d instead", wanted, host, candidate)
                return candidate
        raise PortInUseError(f"no free port in {wanted}..{wanted + _PORT_SCAN - 1} on {host}; pass another port")

    def _take_over(self, holder: DeploymentRecord, host: str, port: int) -> socket.socket | None:
        """The listening socket of ``holder``, the live deployment being replaced; None when it cannot be taken.

        Taken only from the process recorded for it (PID and start time), through the
        control socket in its own deployment directory, served by that very PID.
        """
        path = self._control_path(holder.id)
        if not handover.available() or holder.pid is None or holder.pid_start is None or not path.is_socket():
            log.info("deployment %s cannot hand its port %d over (no control socket); the new one takes another",
                     holder.id[:8], port)
            return None
        if not process.is_alive(holder.pid, holder.pid_start):
            return None
        try:
            sock = handover.take_socket(path, pid=holder.pid, host=host, port=port)
        except (OSError, SocketHandoverError) as exc:
            log.warning("cannot take port %d over from deployment %s (%s); the new one takes another port",
                        port, holder.id[:8], exc)
            return None
        log.info("took over %s:%d from deployment %s", host, port, holder.id[:8])
        return sock

    @staticmethod
    def _control_path(deployment_id: str) -> Path:
        return get_settings().deployments_root / deployment_id / "control.sock"

    def _launch(self, record: DeploymentRecord, inherited: socket.socket | None = None) -> DeploymentRecord:
        """Start the recorded service, wait until it is ready; on failure mark it failed and raise.

        With ``inherited``, the service serves that listening socket (``--fd``), which the
        server it replaces also serves: readiness is then asked on the new one's control
        socket, as ``/readyz`` may be answered by either.
        """
        store = self._store()
        settings = get_settings()
        log_dir = settings.deployments_root / record.id
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / "serve.log"
        cfg = record.config
        control = self._control_path(record.id)
        argv = [sys.executable, "-m", "dosirak.cli.main", "serve", str(cfg["target"]), "--control-socket", str(control)]
        fds = [inherited.fileno()] if inherited is not None else []
        argv += ["--fd", str(fds[0])] if fds else ["--host", str(record.host), "--port", str(record.port)]
        if cfg.get("workers"):
            argv += ["--workers", str(cfg["workers"])]
        if cfg.get("api_key_env"):
            argv += ["--api-key-env", str(cfg["api_key_env"])]  # the keys pass through the environment
        env = child_environment({"DOSIRAK_HOME": str(settings.home), "DOSIRAK_METADATA_URL": settings.metadata_url,
                                 "PYTHONUNBUFFERED": "1"})
        spec = json.dumps({"argv": argv, "log": str(log_path), "cwd": cfg.get("cwd") or None, "fds": fds})
        try:
            launched = subprocess.run([sys.executable, "-c", _LAUNCHER, spec], env=env, capture_output=True,
                                      text=True, timeout=30, check=True, pass_fds=fds)
            pid = int(launched.stdout.strip())
        except (subprocess.SubprocessError, ValueError, OSError) as exc:
            detail = getattr(exc, "stderr", "") or exc
            store.deployments.update_deployment(record.id, status="failed", error=f"cannot start: {detail}", stopped_at=_now())
            raise DeploymentStartError(f"cannot start `dosirak serve` for deployment {record.id[:8]}: {detail}") from exc
        record = store.deployments.update_deployment(record.id, pid=pid, pid_start=process.start_time(pid), log_path=str(log_path),
                                         started_at=utcnow(), status="starting", error=None, stopped_at=None)
        timeout = float(cfg.get("timeout_s") or self.options["ready_timeout_s"])
        try:
            self._wait_ready(record, timeout, control if inherited is not None else None)
        except DeploymentStartError as exc:
            self._terminate(record)
            store.deployments.update_deployment(record.id, status="failed", error=str(exc), stopped_at=_now())
            raise
        return store.deployments.update_deployment(record.id, status="running")

    def _wait_ready(self, record: DeploymentRecord, timeout: float, control: Path | None = None) -> None:
        """Until ``record``'s server is ready: ``/readyz`` answers 200, or with ``control`` its control socket says so."""
        import httpx

        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                if not process.is_alive(record.pid, record.pid_start):
                    # `dosirak serve` exits (status 3) when its service cannot be loaded
                    raise DeploymentStartError(
                        f"deployment {record.id[:8]}: `dosirak serve {record.config['target']}` exited before it was "
                        f"ready; last lines of {record.log_path}:\n{tail(record.log_path)}")
                if control is not None:
                    if record.pid is not None and is_ready(control, pid=record.pid):
                        return
                else:
                    with suppress(httpx.HTTPError):  # not listening yet
                        if client.get(f"{record.url}/readyz").status_code == 200:
                            return
                if time.monotonic() >= deadline:
                    raise DeploymentStartError(
                        f"deployment {record.id[:8]}: {record.url} was not ready within {timeout:g} s "
                        f"(raise timeout_s if the model is slow to load); last lines of {record.log_path}:\n"
                        f"{tail(record.log_path)}")
                time.sleep(0.1)

    # -- life cycle -------------------------------------------------------------------
    def refresh(self, record: DeploymentRecord) -> DeploymentRecord:
        if record.status not in LIVE_DEPLOYMENT_STATUSES or process.is_alive(record.pid, record.pid_start):
            return record
        if record.status == "stopping":
            return self._store().deployments.update_deployment(record.id, status="stopped", stopped_at=_now())
        reused = record.pid is not None and process.is_alive(record.pid)
        why = (f"process {record.pid} is gone; its PID now belongs to another process" if reused
               else f"process {record.pid} exited or was killed")
        if not reused and record.pid:
            _kill_group(record.pid)  # its workers may outlive a killed supervisor
        last = tail(record.log_path, 5)
        error = f"{why}; last lines of {record.log_path}:\n{last}" if last else why
        log.warning("deployment %s was %s but %s: marked failed", record.id[:8], record.status, why)
        return self._store().deployments.update_deployment(record.id, status="failed", error=error, stopped_at=_now())

    def stop(self, deployment_id: str) -> DeploymentRecord:
        store = self._store()
        record = self.refresh(store.deployments.get_deployment(deployment_id))
        if record.status not in LIVE_DEPLOYMENT_STATUSES:
            return record
        store.deployments.update_deployment(record.id, status="stopping")
        self._terminate(record)
        log.info("deployment %s stopped", record.id[:8])
        return store.deployments.update_deployment(record.id, status="stopped", stopped_at=_now())

    def start(self, deployment_id: str) -> DeploymentRecord:
        store = self._store()
        record = self.refresh(store.deployments.get_deployment(deployment_id))
        if record.status in LIVE_DEPLOYMENT_STATUSES:
            raise DeploymentError(f"deployment {record.id[:8]} is already {record.status} at {record.url}")
        others = [d for d in (self.refresh(r) for r in store.deployments.list_deployments(name=record.name, statuses=LIVE_DEPLOYMENT_STATUSES)
                              if r.flavor == self.flavor) if d.id != record.id]
        if others:
            raise DeploymentError(f"deployment {others[0].id[:8]} of '{record.name}' is {others[0].status} at "
                                  f"{others[0].url}; stop it first, or deploy again to replace it")
        _check_api_keys(record.config.get("api_key_env"))
        port = self._choose_port(str(record.host), int(record.port or 0), held_by_us=set())
        record = store.deployments.update_deployment(record.id, port=port, url=f"http://{record.host}:{port}")
        return self._launch(record)

    def delete(self, deployment_id: str) -> DeploymentRecord:
        """Stop a deployment if needed and forget it (its log directory too)."""
        record = self.stop(deployment_id)
        deleted = self._store().deployments.delete_deployment(record.id)
        shutil.rmtree(get_settings().deployments_root / record.id, ignore_errors=True)
        return deleted

    def logs(self, deployment_id: str, *, follow: bool = False) -> Iterator[str]:
        record = self._store().deployments.get_deployment(deployment_id)
        if not record.log_path or not Path(record.log_path).exists():
            raise DeploymentError(f"deployment {record.id[:8]} has no log yet (status {record.status})")
        with open(record.log_path, encoding="utf-8", errors="replace") as fh:
            while True:
                line = fh.readline()
                if line:
                    yield line
                    continue
                if not follow or not process.is_alive(record.pid, record.pid_start):
                    return
                time.sleep(0.2)

    def _terminate(self, record: DeploymentRecord) -> None:
        """SIGTERM the deployment's process group (in-flight requests finish), SIGKILL after the timeout.

        Only a process that is really the recorded one (same PID *and* start time) is signalled.
        """
        pid = record.pid
        if not pid or not process.is_alive(pid, record.pid_start):
            return
        if record.pid_start is None:
            log.warning("deployment %s has no recorded start time; not signalling PID %d", record.id[:8], pid)
            return
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + float(self.options["stop_timeout_s"])
        while process.is_alive(pid, record.pid_start) and time.monotonic() < deadline:
            time.sleep(0.05)
        _kill_group(pid)


def _signal_group(pid: int, sig: int) -> None:
    with suppress(ProcessLookupError):  # already gone
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def _kill_group(pgid: int) -> None:
    """SIGKILL what is left of a deployment's session (workers of a supervisor that died).

    A process group id cannot be reused while any member lives, so this reaches only the
    processes the deployment started.
    """
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _now() -> Any:
    return utcnow()


__all__ = ["LocalDeployer", "default_workers", "free_port", "port_is_free", "tail"]
