"""``dosirak serve``: a supervisor running N worker processes on one shared socket.

The supervisor binds the port, then starts workers (``python -m dosirak.serving.worker``)
that inherit the listening socket, so the kernel spreads connections among them. It
never imports the user's code, so it stays small. It

* splits the CPU: each worker gets ``OMP_NUM_THREADS = cores // workers`` (unless set);
* restarts a worker that dies after the service was up, with a growing delay if it keeps
  dying, and logs it;
* exits with :data:`EXIT_SERVICE_FAILED` (3), after an ERROR line naming the cause, when the
  service never came up: a worker could not import or construct it, or workers died
  :data:`MAX_FAILURES_BEFORE_READY` times in a row before any was ready (with ``reload``
  it keeps waiting for a fix instead);
* gives each worker the read end of a "lifeline" pipe whose write end only the supervisor
  holds: when the supervisor dies, even by SIGKILL, the workers read EOF and stop;
* keeps ``/readyz`` at 503 until every worker has run the service's ``__init__``; after
  that, ``/readyz`` stays 200 while at least one worker is ready, so a crashed worker
  does not take the whole server out of a load balancer;
* starts a worker that replaces one while others serve with ``--load-first``: it runs the
  service's ``__init__`` before it accepts a connection, so the ready workers take every
  request meanwhile instead of the newcomer answering 503 until it has loaded;
* on SIGTERM or SIGINT, stops the workers gracefully (each finishes its in-flight
  requests), then returns 0;
* with ``reload=True``, restarts the workers when a ``.py`` file near the service changes;
* with a control socket (``control_path``), answers whether it is ready and hands its
  listening socket to a successor of the same user (:mod:`dosirak.serving.handover`);
  started on such an inherited socket (``fd``), every worker loads the service before it
  accepts, so the server it replaces keeps answering until this one is ready.

Use :func:`serve` from Python (bundles do); ``dosirak serve`` calls it.
"""

from __future__ import annotations

import logging
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from dosirak.errors import ConfigError, SocketHandoverError
from dosirak.serving import auth, metrics
from dosirak.serving.handover import answer, check_listening, open_control
from dosirak.serving.protocol import DEFAULT_HEAD_LIMITS, HeadLimits
from dosirak.serving.worker import EXIT_LOAD_FAILED
from dosirak.settings import child_environment

logger = logging.getLogger(__name__)

SAGEMAKER_PORT = 8080
#: Exit status of ``dosirak serve`` when the service never came up (see the module docstring).
EXIT_SERVICE_FAILED = 3
#: Worker deaths in a row, before any worker was ready, after which the supervisor gives up.
MAX_FAILURES_BEFORE_READY = 3
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass
class _Worker:
    slot: int
    process: subprocess.Popen[bytes]
    status_fd: int
    lifeline_fd: int
    started: float
    loaded: bool = False
    ready: bool = False
    stopping: bool = False
    buffer: bytes = b""
    messages: list[str] = field(default_factory=list)


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask, so ``taskset`` is honoured)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def adopt_socket(fd: int) -> socket.socket:
    """The listening TCP socket inherited as file descriptor ``fd`` (``dosirak serve --fd``); ConfigError if it is not one."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise ConfigError(f"--fd {fd}: not an open socket ({exc.strerror}); pass the number of an inherited "
                          "listening TCP socket") from exc
    try:
        check_listening(sock)
    except SocketHandoverError as exc:
        sock.detach()  # not ours to close
        raise ConfigError(f"--fd {fd}: {exc}; pass the number of an inherited listening TCP socket") from exc
    sock.set_inheritable(True)
    return sock


def bind_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket for ``host:port`` that child processes can inherit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port") from exc
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


class Supervisor:
    """Runs and watches the worker processes of one server. See the module docstring."""

    def __init__(
        self,
        spec: str,
        *,
        sock: socket.socket,
        workers: int | None,
        base_dir: Path | None = None,
        env: dict[str, str] | None = None,
        reload: bool = False,
        graceful_timeout_s: float = 30.0,
        log_level: str = "INFO",
        head_limits: HeadLimits = DEFAULT_HEAD_LIMITS,
        control_path: Path | None = None,
        load_first: bool = False,
    ) -> None:
        self.spec = spec
        self.control_path = control_path
        self.control: socket.socket | None = None
        self.load_first = load_first
        self.head_limits = head_limits
        self.sock = sock
        self.requested_workers = workers
        self.target = workers or 1
        self.base_dir = base_dir
        self.extra_env = dict(env or {})
        self.reload = reload
        self.graceful_timeout_s = graceful_timeout_s
        self.log_level = log_level
        self.state_dir = Path(tempfile.mkdtemp(prefix="dosirak-serve-"))
        self.ready_file = self.state_dir / "ready"
        self.metrics_dir = self.state_dir / "metrics"
        self.metrics_dir.mkdir()
        self.workers: dict[int, _Worker] = {}
        self.selector = selectors.DefaultSelector()
        self.stopping = False
        self.service_name = ""
        self._crashes: dict[int, int] = {}
        self._restart_at: dict[int, float] = {}
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._all_ready_logged = False
        self._mtimes: dict[Path, float] = {}
        self.exit_status = 0
        self._ever_ready = False
        self._failures_before_ready = 0
        self._last_failure = ""

    # ---------------------------------------------------------------- workers
    def _worker_env(self) -> dict[str, str]:
        threads = str(max(1, cpu_count() // self.target))
        overrides = {name: threads for name in _THREAD_VARS if name not in self.extra_env}
        base = child_environment()
        for name in _THREAD_VARS:
            if name in base:
                overrides.pop(name, None)  # the operator chose; keep it
        overrides.update(self.extra_env)
        overrides["PROMETHEUS_MULTIPROC_DIR"] = str(self.metrics_dir)
        return child_environment(overrides)

    def _start(self, slot: int) -> None:
        read_fd, write_fd = os.pipe()
        lifeline_r, lifeline_w = os.pipe()  # the worker reads EOF when this process dies
        command = [
            sys.executable, "-m", "dosirak.serving.worker",
            "--spec", self.spec, "--fd", str(self.sock.fileno()), "--pipe", str(write_fd),
            "--lifeline", str(lifeline_r),
            "--ready-file", str(self.ready_file), "--graceful-timeout", str(self.graceful_timeout_s),
            "--log-level", self.log_level,
            "--max-header-bytes", str(self.head_limits.max_bytes), "--max-headers", str(self.head_limits.max_fields),
        ]
        if self.base_dir is not None:
            command += ["--base-dir", str(self.base_dir)]
        if self.load_first or any(w.ready for w in self.workers.values()):
            command.append("--load-first")  # others serve meanwhile: accept only once loaded
        try:
            process = subprocess.Popen(command, pass_fds=(self.sock.fileno(), write_fd, lifeline_r),
                                       env=self._worker_env())
        except BaseException:
            for fd in (read_fd, lifeline_w):
                os.close(fd)
            raise
        finally:
            os.close(write_fd)
            os.close(lifeline_r)
        os.set_blocking(read_fd, False)
        worker = _Worker(slot, process, read_fd, lifeline_w, time.monotonic())
        self.workers[slot] = worker
        self.selector.register(read_fd, selectors.EVENT_READ, slot)
        logger.debug("started worker %d (pid %d)", slot, process.pid)

    def _on_status(self, worker: _Worker) -> None:
        try:
            data = os.read(worker.status_fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.selector.unregister(worker.status_fd)
            os.close(worker.status_fd)
            worker.status_fd = -1
            return
        worker.buffer += data
        *lines, worker.buffer = worker.buffer.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace")
            if line.startswith("loaded"):
                worker.loaded = True
                fields = dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)
                self.service_name = fields.get("name", self.service_name)
                if self.requested_workers is None and worker.slot == 0 and not self.stopping:
                    self.target = max(1, int(fields.get("workers", "1")))
                    self._fill()
            elif line == "ready":
                worker.ready = True
                self._ever_ready = True
                self._failures_before_ready = 0
                self._crashes.pop(worker.slot, None)
            elif line.startswith("failed"):
                self._last_failure = line[len("failed "):]
                # before any worker was ready, the exit line (status 3) says it once
                level = logging.ERROR if self._ever_ready or self.reload else logging.DEBUG
                logger.log(level, "worker %d (pid %d) could not load the service: %s", worker.slot,
                           worker.process.pid, self._last_failure)

    def _fill(self) -> None:
        for slot in range(self.target):
            if slot not in self.workers and slot not in self._restart_at:
                self._start(slot)

    def _reap(self) -> None:
        now = time.monotonic()
        for slot, worker in list(self.workers.items()):
            code = worker.process.poll()
            if code is None:
                continue
            if worker.status_fd >= 0:
                self._on_status(worker)  # a last "failed" line may still sit in the pipe
            if worker.status_fd >= 0:
                self.selector.unregister(worker.status_fd)
                os.close(worker.status_fd)
            os.close(worker.lifeline_fd)
            del self.workers[slot]
            metrics.mark_worker_dead(worker.process.pid, self.metrics_dir)
            if self.stopping or worker.stopping:
                continue
            if not worker.ready and not self._ever_ready and not self.reload:
                self._failures_before_ready += 1
                if code == EXIT_LOAD_FAILED or self._failures_before_ready >= MAX_FAILURES_BEFORE_READY:
                    self._give_up(worker, code)
                    return
            crashes = self._crashes.get(slot, 0) + 1
            self._crashes[slot] = crashes
            delay = min(10.0, 0.5 * 2 ** (crashes - 1)) if crashes > 1 else 0.0
            logger.warning("worker %d (pid %d) exited with status %s; restarting it%s", slot,
                           worker.process.pid, code, f" in {delay:.1f} s" if delay else "")
            self._restart_at[slot] = now + delay
        for slot, when in list(self._restart_at.items()):
            if now >= when and not self.stopping:
                del self._restart_at[slot]
                self._start(slot)

    def _give_up(self, worker: _Worker, code: int) -> None:
        cause = self._last_failure or f"worker exited with status {code} before it was ready"
        if code != EXIT_LOAD_FAILED:
            cause = f"{self._failures_before_ready} workers in a row died before the service was ready " \
                    f"(last: pid {worker.process.pid}, status {code}); {cause}"
        logger.error("the service could not be loaded, so dosirak serve exits with status %d: %s",
                     EXIT_SERVICE_FAILED, cause)
        self.exit_status = EXIT_SERVICE_FAILED
        self.stopping = True

    def _update_ready(self) -> None:
        if self._all_ready_logged:  # up once: one ready worker serves while others restart
            ready = not self.stopping and any(w.ready for w in self.workers.values())
        else:
            ready = (
                not self.stopping
                and len(self.workers) >= self.target
                and all(w.ready for w in self.workers.values())
            )
        if ready and not self.ready_file.exists():
            self.ready_file.touch()
            if not self._all_ready_logged:
                self._all_ready_logged = True
                host, port = self.sock.getsockname()[:2]
                logger.info("service '%s' ready on http://%s:%d with %d worker(s)", self.service_name,
                            host, port, self.target)
        elif not ready and self.ready_file.exists():
            self.ready_file.unlink(missing_ok=True)

    # ------------------------------------------------------------------ reload
    def _watched_files(self) -> list[Path]:
        target = self.spec.rpartition(":")[0]
        root = (self.base_dir or Path.cwd()) / target
        directory = root.parent if root.suffix == ".py" else (self.base_dir or Path.cwd())
        return [p for p in directory.rglob("*.py") if ".venv" not in p.parts][:2000]

    def _changed(self) -> bool:
        changed = False
        for path in self._watched_files():
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue
            if self._mtimes.get(path, mtime) != mtime:
                changed = True
            self._mtimes[path] = mtime
        return changed

    def _restart_all(self) -> None:
        logger.info("source changed; restarting the workers")
        for worker in list(self.workers.values()):
            worker.stopping = True
            worker.process.send_signal(signal.SIGTERM)
        self._wait_exit(self.graceful_timeout_s + 5)
        self._reap()
        self._fill()

    # ------------------------------------------------------------------- main
    def request_stop(self, *_: object) -> None:
        """Begin a graceful stop (signal-safe)."""
        self.stopping = True
        with suppress(OSError):
            os.write(self._wake_w, b"x")

    def _wait_exit(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for worker in list(self.workers.values()):
            remaining = max(0.0, deadline - time.monotonic())
            try:
                worker.process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                logger.warning("worker pid %d did not stop in time; killing it", worker.process.pid)
                worker.process.kill()
                worker.process.wait()

    def _open_control(self) -> None:
        if self.control_path is None:
            return

        try:
            self.control = open_control(self.control_path)
        except OSError as exc:
            raise ConfigError(f"cannot listen on the control socket {self.control_path} ({exc.strerror or exc}); "
                              "pass another --control-socket path") from exc
        self.selector.register(self.control, selectors.EVENT_READ, "control")

    def _close_control(self) -> None:
        if self.control is None:
            return
        self.selector.unregister(self.control)
        self.control.close()
        self.control = None
        if self.control_path is not None:
            self.control_path.unlink(missing_ok=True)

    def _on_control(self) -> None:
        if self.control is not None:
            answer(self.control, self.sock, ready=not self.stopping and self.ready_file.exists())

    def run(self) -> int:
        """Start the workers and supervise them until asked to stop; return the exit status."""
        try:
            self._open_control()
            self._start(0)
            if self.requested_workers is not None:
                self._fill()
            if self.reload:
                self._changed()
            next_reload_check = time.monotonic() + 1.0
            while not self.stopping:
                for key, _ in self.selector.select(timeout=0.25):
                    if key.data is None:
                        os.read(self._wake_r, 512)
                    elif key.data == "control":
                        self._on_control()
                    elif key.data in self.workers:
                        self._on_status(self.workers[key.data])
                self._reap()
                self._update_ready()
                if self.reload and time.monotonic() >= next_reload_check:
                    next_reload_check = time.monotonic() + 1.0
                    if self._changed():
                        self._restart_all()
            self._close_control()  # a successor takes the socket from a server that stays, not from one leaving
            if not self.exit_status:
                logger.info("stopping: draining in-flight requests")
            self.ready_file.unlink(missing_ok=True)
            for worker in self.workers.values():
                if worker.process.poll() is None:
                    worker.process.send_signal(signal.SIGTERM)
            self._wait_exit(self.graceful_timeout_s + 5)
        finally:
            for worker in self.workers.values():
                if worker.process.poll() is None:
                    worker.process.kill()
                    worker.process.wait()
                os.close(worker.lifeline_fd)
            self._close_control()
            self.sock.close()  # this process's reference: a successor that took the socket keeps it open
            self.selector.close()
            os.close(self._wake_r)
            os.close(self._wake_w)
            shutil.rmtree(self.state_dir, ignore_errors=True)
        if not self.exit_status:
            logger.info("stopped")
        return self.exit_status


def serve(
    spec: str,
    *,
    host: str = "127.0.0.1",
    port: int = 3000,
    workers: int | None = None,
    base_dir: Path | None = None,
    env: dict[str, str] | None = None,
    reload: bool = False,
    graceful_timeout_s: float = 30.0,
    log_level: str = "INFO",
    access: auth.AccessPolicy | None = None,
    head_limits: HeadLimits = DEFAULT_HEAD_LIMITS,
    fd: int | None = None,
    control_path: Path | None = None,
) -> int:
    """Serve a service until SIGTERM/SIGINT; return the process exit status.

    0 after a clean stop; :data:`EXIT_SERVICE_FAILED` when the service could not be loaded.

    Args:
        spec: ``path/to/file.py:Class`` or ``module:Class`` (see
            :func:`~dosirak.serving.service.load_service`).
        host: Address to listen on.
        port: TCP port.
        workers: Worker processes; None takes the service's ``workers`` option.
        base_dir: Directory ``spec``'s path is relative to, e.g. a bundle's source dir.
        env: Extra environment variables for the workers (e.g. the bundle directory).
        reload: Restart the workers when a ``.py`` file next to the service changes.
        graceful_timeout_s: How long in-flight requests may take to finish at shutdown.
        log_level: Log level of the workers.
        access: API keys the apis require (:class:`~dosirak.serving.auth.AccessPolicy`);
            None serves anyone who can reach ``host``.
        head_limits: Largest request head (bytes, header fields) the workers read; larger
            ones are answered 431 (:mod:`dosirak.serving.protocol`).
        fd: Serve the inherited listening socket with this file descriptor instead of
            binding ``host:port`` (e.g. one taken from the server this one replaces); the
            workers then load the service before they accept.
        control_path: Answer readiness and hand the listening socket to a successor on
            this Unix socket (:mod:`dosirak.serving.handover`).

    Example::

        from dosirak.serving.server import serve
        serve("service.py:FashionMNIST", port=3000, workers=2)
    """
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    sock = bind_socket(host, port) if fd is None else adopt_socket(fd)
    env = {**(env or {}), **auth.worker_env(access)}
    supervisor = Supervisor(spec, sock=sock, workers=workers, base_dir=base_dir, env=env, reload=reload,
                            graceful_timeout_s=graceful_timeout_s, log_level=log_level, head_limits=head_limits,
                            control_path=control_path, load_first=fd is not None)
    previous = {sig: signal.signal(sig, supervisor.request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    bound = sock.getsockname()
    logger.info("dosirak serve: listening on http://%s:%d", bound[0], bound[1])
    auth.log_exposure(host, access)
    try:
        return supervisor.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


__all__ = ["EXIT_SERVICE_FAILED", "MAX_FAILURES_BEFORE_READY", "SAGEMAKER_PORT", "Supervisor", "adopt_socket", "bind_socket", "cpu_count", "serve"]
