"""What a crashed worker costs: ``kill -9`` of one worker under load, with 1 and with 2 workers.

    python benchmarks/worker_crash.py [--workers 1 2] [--connections 50] [--duration 8] [--kill-at 2]
                                      [--service benchmarks/serving_service.py:FashionMNIST] [--rounds 1]
                                      [--new-connections]

Prints JSON. For each worker count (and round): starts ``dosirak serve SERVICE --workers N``
on 127.0.0.1 in a DOSIRAK_HOME of its own, waits for ``/readyz``, then runs a closed-loop
load of ``--connections`` keep-alive HTTP/1.1 connections (an asyncio client, one request
in flight per connection, reconnecting at once after an error) posting one 28x28 image as
JSON for ``--duration`` seconds (``--new-connections``: one connection per request, as
clients without a pool do, so connections also reach a restarted worker). At ``--kill-at`` seconds it sends SIGKILL to one worker
(a child of the server process, found in ``/proc``). It counts

* ``non_200``: answers other than 200, by status (503 while the restarted worker loads);
* ``connection_errors``: requests that got no answer, by kind (``reset``, ``closed``: the
  connection ended before the answer, ``refused``, ``timeout`` after 10 s);
* ``longest_gap_without_200_s``: the longest time during which no request got a 200;
* ``failures_window_s``: from the kill to the last failed request;
* ``readyz_not_200_s``: how long ``/readyz``, polled every 50 ms on a fresh connection,
  answered something else than 200 (what a load balancer's readiness probe would see).

The load generator shares the machine with the server (2 cores here), so the request rate
is the pair's, not the server's; the failure counts and gaps are what this measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_SERVICE = f"{HERE / 'serving_service.py'}:FashionMNIST"
REQUEST_TIMEOUT_S = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return int(response.status)
    except Exception:  # noqa: BLE001 - not listening yet, or 503
        return 0


def _children(pid: int) -> list[int]:
    """The direct children of ``pid`` (Linux ``/proc``)."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _worker_pids(server_pid: int) -> list[int]:
    return [pid for pid in _children(server_pid)
            if b"dosirak.serving.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def _start(service: str, workers: int, home: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    command = [str(Path(sys.executable).with_name("dosirak")), "serve", service, "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers)]
    env = dict(os.environ, DOSIRAK_HOME=str(home))
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while not (_status(f"http://127.0.0.1:{port}/readyz") == 200 and len(_worker_pids(process.pid)) == workers):
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            raise RuntimeError(f"dosirak serve did not become ready:\n{log.read_text()[-3000:]}")
        time.sleep(0.02)
    return process, port


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class Tally:
    """What the connections saw: 200 times, other statuses, errors and their times."""

    def __init__(self) -> None:
        self.ok_times: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.failure_times: list[float] = []
        self.not_ready_s = 0.0

    def failed(self, now: float, kind: str | None = None, status: int | None = None) -> None:
        if kind is not None:
            self.errors[kind] += 1
        if status is not None:
            self.statuses[status] += 1
        self.failure_times.append(now)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, close, chunked = 0, False, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = value == b"chunked"
        elif name == b"connection":
            close = value == b"close"
    if chunked:
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")  # no trailers are sent
    elif length:
        await reader.readexactly(length)
    return status, close


async def _connection(port: int, request: bytes, tally: Tally, stop_at: float) -> None:
    loop = asyncio.get_running_loop()
    writer: asyncio.StreamWriter | None = None
    reader: asyncio.StreamReader | None = None
    while loop.time() < stop_at:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                assert reader is not None
                writer.write(request)
                status, close = await _read_response(reader)
        except (ConnectionResetError, BrokenPipeError):
            tally.failed(loop.time(), kind="reset")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            tally.failed(loop.time(), kind="closed")
        except ConnectionRefusedError:
            tally.failed(loop.time(), kind="refused")
        except TimeoutError:
            tally.failed(loop.time(), kind="timeout")
        else:
            if status == 200:
                tally.ok_times.append(loop.time())
            else:
                tally.failed(loop.time(), status=status)
            if not close:
                continue
        if writer is not None:
            writer.close()
        writer = reader = None


async def _load(port: int, body: bytes, args: argparse.Namespace, victim: int) -> tuple[Tally, float, float]:
    connections, duration, kill_at = args.connections, args.duration, args.kill_at
    keep = b"close" if args.new_connections else b"keep-alive"
    request = (b"POST /predict_ndarray HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Connection: %s\r\nContent-Length: %d\r\n\r\n" % (keep, len(body))) + body
    loop = asyncio.get_running_loop()
    tally = Tally()
    started = loop.time()
    stop_at = started + duration

    async def kill() -> float:
        await asyncio.sleep(kill_at)
        os.kill(victim, signal.SIGKILL)
        return loop.time()

    async def probe() -> None:
        probe_request = b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        while (now := loop.time()) < stop_at:
            status = 0
            try:
                async with asyncio.timeout(1.0):
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.write(probe_request)
                    status, _ = await _read_response(reader)
                    writer.close()
            except (OSError, TimeoutError, asyncio.IncompleteReadError):
                pass
            await asyncio.sleep(0.05)
            if status != 200:
                tally.not_ready_s += loop.time() - now

    killer = asyncio.create_task(kill())
    prober = asyncio.create_task(probe())
    await asyncio.gather(*(_connection(port, request, tally, stop_at) for _ in range(connections)))
    await prober
    return tally, started, await killer


def _measure(args: argparse.Namespace, workers: int, body: bytes, workdir: Path) -> dict[str, Any]:
    home = workdir / f"home-{workers}"
    home.mkdir(exist_ok=True)
    process, port = _start(args.service, workers, home, workdir / f"serve-{workers}.log")
    try:
        before = _worker_pids(process.pid)
        tally, started, killed_at = _run_load(port, body, args, victim=before[0])
        deadline = time.monotonic() + 60
        while len(set(_worker_pids(process.pid)) - set(before)) < 1 or _status(f"http://127.0.0.1:{port}/readyz") != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the killed worker was not replaced within 60 s")
            time.sleep(0.05)
    finally:
        _stop(process)
    ok = sorted(tally.ok_times)
    edges = [started, *ok, started + args.duration]
    gap = max(b - a for a, b in zip(edges, edges[1:], strict=False))
    after = [t for t in tally.failure_times if t >= killed_at]
    failed = sum(tally.statuses.values()) + sum(tally.errors.values())
    return {
        "workers": workers,
        "requests": len(ok) + failed,
        "ok": len(ok),
        "ok_per_s_before_kill": round(sum(1 for t in ok if t < killed_at) / (killed_at - started), 1),
        "failed": failed,
        "non_200": {str(k): v for k, v in sorted(tally.statuses.items())},
        "connection_errors": dict(sorted(tally.errors.items())),
        "longest_gap_without_200_s": round(gap, 3),
        "failures_window_s": round(max(after) - killed_at, 3) if after else 0.0,
        "failures_before_kill": len(tally.failure_times) - len(after),
        "readyz_not_200_s": round(tally.not_ready_s, 2),
    }


def _run_load(port: int, body: bytes, args: argparse.Namespace, victim: int) -> tuple[Tally, float, float]:
    try:
        import uvloop

        factory: Any = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(_load(port, body, args, victim))


def run(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import orjson

    rng = np.random.default_rng(0)
    image = rng.integers(1, 256, size=(1, 28, 28)) / 255.0
    image[rng.random((1, 28, 28)) < 0.55] = 0.0
    body = orjson.dumps(image.astype(np.float32), option=orjson.OPT_SERIALIZE_NUMPY)
    workdir = Path(tempfile.mkdtemp(prefix="dosirak-crash-bench-"))
    try:
        results = []
        for number in range(args.rounds):
            for workers in args.workers:
                result = _measure(args, workers, body, workdir)
                result["round"] = number + 1
                print(json.dumps(result), file=sys.stderr, flush=True)
                results.append(result)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "service": args.service,
        "connections": args.connections,
        "duration_s": args.duration,
        "kill_at_s": args.kill_at,
        "new_connections": args.new_connections,
        "cpus": len(os.sched_getaffinity(0)),
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of load")
    parser.add_argument("--kill-at", type=float, default=2.0, help="seconds into the load")
    parser.add_argument("--service", default=DEFAULT_SERVICE)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--new-connections", action="store_true", help="one connection per request")
    args = parser.parse_args()
    if not 0 < args.kill_at < args.duration or args.connections < 1 or min(args.workers) < 1:
        parser.error("need 0 < --kill-at < --duration, --connections >= 1 and --workers >= 1")
    print(json.dumps(run(args), indent=2))


if __name__ == "__main__":
    main()
