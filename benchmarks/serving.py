"""Serving throughput and latency: dosirak vs plain Starlette + uvicorn, in one run.

    python benchmarks/serving.py [--duration 15] [--warmup 3] [--slice 3] [--rounds 3] [--profile]
                                 [--compare-with CHECKOUT]

Prints JSON. Each server runs pinned to CPU 0 (``taskset -c 0``) with one worker; the load
generator, ``wrk -t1``, is pinned to CPU 1, on loopback. Servers, in turn:

1. ``dosirak``: ``dosirak serve benchmarks/serving_service.py:FashionMNIST --workers 1``
   (batchable api, adaptive batching);
2. ``baseline``: plain Starlette + uvicorn (uvloop, httptools) running the same model per
   request, no batching (orjson parse, ``np.asarray``, ``torch.inference_mode``);
3. ``floor``: the same Starlette + uvicorn returning a constant: the HTTP floor.

The model: the Fashion-MNIST MLP (784-512-512-10, ReLU), seed 0; one 28x28 float32 image
per request as JSON, at concurrency 1, 16 and 64, and 32 images per request at 16. Every
point: ``--warmup`` seconds of load, then ``--duration`` seconds measured. Also cold start
(launch -> first 200 on /readyz) and RSS per worker; ``--profile`` adds py-spy profiles of
the dosirak worker at concurrency 64 and at 16 with 32 images (self time by function, grouped).

This machine is shared and noisy: the same CPU work takes from 1x to 1.75x as long from one
second to the next, and one 15 s sample per point swings by 10-20 %. So the three servers
run side by side (idle but for the one under load), each point's measured seconds are cut
into ``--slice``-second slices that the servers take in turn, and the whole sequence runs
``--rounds`` times (each round starting with the next server). Every figure is the median
over rounds, the summary's ratios are taken between those medians, and each round's own
summary is printed too (``summary_per_round``).

``--compare-with CHECKOUT`` measures a change: a fourth server, ``dosirak_before``, runs the
same service with the dosirak of another checkout (``PYTHONPATH=CHECKOUT/src``, e.g. a
``git worktree add /tmp/before HEAD~1``), side by side with the others, and
``comparison`` gives every point's figures after vs before (ratios of requests/s, also
paired slice by slice, and latencies in ms).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
POINTS = [("c1", 1, 1), ("c16", 16, 1), ("c64", 64, 1), ("c16_x32", 16, 32)]
SERVER_CPU, LOAD_CPU = "0", "1"

# ------------------------------------------------------------------ baselines (ASGI apps)


def _baseline_app(with_model: bool) -> Any:
    import numpy as np
    import orjson
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    sys.path.insert(0, str(HERE))
    if with_model:
        import torch
        from serving_service import build_model

        model = build_model()

    async def predict(request: Request) -> Response:
        data = orjson.loads(await request.body())
        x = torch.from_numpy(np.asarray(data, dtype=np.float32))
        with torch.inference_mode():
            y = model(x).numpy()
        return Response(orjson.dumps(y, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json")

    async def constant(request: Request) -> Response:
        await request.body()
        return Response(b"[[0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0]]", media_type="application/json")

    async def ready(request: Request) -> Response:
        return Response(b'{"status":"ready"}', media_type="application/json")

    routes = [Route("/predict_ndarray", predict if with_model else constant, methods=["POST"]),
              Route("/readyz", ready)]
    return Starlette(routes=routes)


def baseline_app() -> Any:
    """Factory for uvicorn: the per-request model server."""
    return _baseline_app(True)


def floor_app() -> Any:
    """Factory for uvicorn: the constant-answer server."""
    return _baseline_app(False)


# ------------------------------------------------------------------ harness


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _command(kind: str, port: int) -> list[str]:
    pin = ["taskset", "-c", SERVER_CPU]
    if kind in ("dosirak", "dosirak_before"):
        dosirak = str(Path(sys.executable).with_name("dosirak"))
        return [*pin, dosirak, "serve", str(HERE / "serving_service.py") + ":FashionMNIST",
                "--port", str(port), "--workers", "1"]
    factory = "serving:baseline_app" if kind == "baseline" else "serving:floor_app"
    return [*pin, sys.executable, "-m", "uvicorn", "--factory", factory, "--app-dir", str(HERE),
            "--port", str(port), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
            "--log-level", "warning"]


def _get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return int(response.status)
    except Exception:
        return 0


def _start(kind: str, before: Path | None = None) -> tuple[subprocess.Popen[bytes], int, float]:
    port = _free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")  # one core for every server
    if kind == "dosirak_before" and before is not None:
        env["PYTHONPATH"] = str(before / "src")  # imported before the installed (this checkout's) dosirak
    launched = time.perf_counter()
    process = subprocess.Popen(_command(kind, port), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    deadline = time.monotonic() + 60
    while _get_status(f"http://127.0.0.1:{port}/readyz") != 200:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{kind} did not start: {process.stderr.read().decode()[-2000:] if process.stderr else ''}")
        time.sleep(0.01)
    return process, port, time.perf_counter() - launched


def _worker_pids(process: subprocess.Popen[bytes]) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(process.pid)], capture_output=True, text=True).stdout
    children = [int(p) for p in out.split()]
    workers = []
    for pid in children:  # dosirak: supervisor -> worker; taskset execs, so process.pid is the server
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"dosirak.serving.worker" in cmd:
            workers.append(pid)
    return workers or [process.pid]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("{body}", "rb"); wrk.body = f:read("*a"); f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  local q = {{}}
  for i = 0, 999 do q[#q + 1] = string.format("%d", latency:percentile((i + 0.5) / 10)) end
  io.write(string.format('RESULT {{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, '
    .. '"write": %d, "status": %d, "timeout": %d, "quantiles_us": [%s]}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout, table.concat(q, ",")))
end
"""


def _wrk(port: int, concurrency: int, seconds: float, script: Path) -> dict[str, Any]:
    command = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s",
               "--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}/predict_ndarray"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    return dict(json.loads(line[len("RESULT "):]))


def _points(ports: dict[str, int], concurrency: int, images: int, args: argparse.Namespace,
            scripts: dict[int, Path]) -> dict[str, dict[str, Any]]:
    """One load point on every server: a warm-up each, then measured slices taken in turn.

    The ``--duration`` seconds each server gets are cut into slices of about ``--slice``
    seconds, alternating between the servers, so that a slow spell of the machine lands on
    all of them alike. Rates are summed over a server's slices; its latency percentiles come
    from the pooled per-slice latency distributions (1,000 quantiles each, weighted by count).
    """
    script = scripts[images]
    if args.warmup > 0:
        for port in ports.values():
            _wrk(port, concurrency, args.warmup, script)
    cuts = max(1, round(args.duration / args.slice))
    raws: dict[str, list[dict[str, Any]]] = {kind: [] for kind in ports}
    for _ in range(cuts):
        for kind, port in ports.items():
            raws[kind].append(_wrk(port, concurrency, args.duration / cuts, script))
    return {kind: _pooled(runs, concurrency, images) for kind, runs in raws.items()}


def _pooled(runs: list[dict[str, Any]], concurrency: int, images: int) -> dict[str, Any]:
    requests = sum(r["requests"] for r in runs)
    seconds = sum(r["duration_us"] for r in runs) / 1e6
    errors = sum(r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"] for r in runs)
    weighted = sorted((q, r["requests"] / len(r["quantiles_us"])) for r in runs for q in r["quantiles_us"])

    def quantile(p: float) -> float:
        target, seen = p * sum(w for _, w in weighted), 0.0
        for value, weight in weighted:
            seen += weight
            if seen >= target:
                return value
        return weighted[-1][0] if weighted else 0.0

    rps = requests / seconds
    return {"concurrency": concurrency, "images_per_request": images, "requests_per_s": round(rps, 1),
            "images_per_s": round(rps * images, 1), "p50_ms": round(quantile(0.50) / 1000, 3),
            "p99_ms": round(quantile(0.99) / 1000, 3), "errors": errors, "slices": len(runs),
            "slice_rps": [round(r["requests"] / r["duration_us"] * 1e6, 1) for r in runs]}


def _profile(pid: int, port: int, args: argparse.Namespace, scripts: dict[int, Path], *, concurrency: int = 64,
             images: int = 1) -> dict[str, Any]:
    """Self time by function of the dosirak worker under one load point, grouped into where it goes."""
    out = Path(tempfile.mkdtemp()) / "profile.txt"
    seconds = max(3, round(args.duration))
    py_spy = Path(sys.executable).with_name("py-spy")
    spy = subprocess.Popen(["taskset", "-c", LOAD_CPU, str(py_spy) if py_spy.exists() else "py-spy", "record", "--pid", str(pid), "--format", "raw",
                            "--rate", "250", "--duration", str(seconds), "--threads", "--idle", "-o", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wrk(port, concurrency, seconds, scripts[images])
    spy.wait(timeout=60)
    groups: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        if "dosirak-lifeline" in frames[0]:  # blocked reading the supervisor pipe, never busy
            continue
        if "dosirak-batch" in frames[0]:
            group = "model thread: " + ("idle" if "_call_sync" not in stack
                                        else "torch forward" if "forward" in stack else "concat/split")
        else:
            group = _classify(stack)
        if group is None:
            continue
        groups[group] += count
        leaves[frames[-1][:90]] += count
        total += count
    model = {k: v for k, v in groups.items() if k.startswith("model thread")}
    loop = {k: v for k, v in groups.items() if not k.startswith("model thread")}
    loop_total, model_total = max(1, sum(loop.values())), max(1, sum(model.values()))
    return {
        "samples": total,
        "event_loop_thread_percent": {k: round(100 * v / loop_total, 1) for k, v in sorted(loop.items(), key=lambda kv: -kv[1])},
        "model_thread_percent": {k: round(100 * v / model_total, 1) for k, v in sorted(model.items(), key=lambda kv: -kv[1])},
        "top_self_frames_percent": {k: round(100 * v / max(1, total), 1) for k, v in leaves.most_common(12)},
    }


def _classify(stack: str) -> str | None:
    if "dosirak-api" in stack.split(";")[0] or "ThreadPoolExecutor" in stack.split(";")[0]:
        return None
    if stack.rsplit(";", 1)[-1].startswith("Runner.run ("):  # uvloop waiting in C, below asyncio.run
        return "event loop idle (select)"
    rules = [
        ("decode (JSON parse + checks)", ("_from_json", "_from_fixed_lists", "validate (dosirak")),
        ("encode response (orjson)", ("encode (dosirak",)),
        ("batcher (queue, futures, wakeups)", ("batching.py",)),
        ("metrics (prometheus)", ("prometheus_client", "serving/metrics.py")),
        ("dosirak request handler", ("_handle_api",)),
        ("uvicorn + httptools protocol", ("httptools_impl", "uvicorn")),
        ("event loop idle (select)", ("select (", "_run_once", "run_forever")),
    ]
    for name, needles in rules:
        if any(n in stack for n in needles):
            return name
    return "other"


def _images(rng: Any, count: int) -> Any:
    """Fashion-MNIST-like images: pixels k/255, about 55% background zeros (~5.4 KB of JSON each)."""
    import numpy as np

    pixels = rng.integers(1, 256, size=(count, 28, 28)) / 255.0
    pixels[rng.random((count, 28, 28)) < 0.55] = 0.0
    return pixels.astype(np.float32)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import orjson

    workdir = Path(tempfile.mkdtemp(prefix="dosirak-bench-"))
    rng = np.random.default_rng(0)
    scripts: dict[int, Path] = {}
    for images in sorted({p[2] for p in POINTS}):
        body = workdir / f"body{images}.json"
        body.write_bytes(orjson.dumps(_images(rng, images), option=orjson.OPT_SERIALIZE_NUMPY))
        script = workdir / f"post{images}.lua"
        script.write_text(_LUA.replace("{body}", str(body)).replace("{{", "{").replace("}}", "}"))
        scripts[images] = script
    results: dict[str, Any] = {"config": {"duration_s": args.duration, "warmup_s": args.warmup, "rounds": args.rounds,
                                          "server_cpu": SERVER_CPU, "load_cpu": LOAD_CPU,
                                          "body_bytes_1_image": (workdir / "body1.json").stat().st_size}}
    kinds = ["dosirak", "baseline", "floor"] + (["dosirak_before"] if args.compare_with else [])
    if args.compare_with:
        results["config"]["compare_with"] = str(args.compare_with)
    rounds: list[dict[str, Any]] = []
    for number in range(args.rounds):
        # each point is measured on every server in turn, and each round starts one server later
        order = kinds[number % len(kinds):] + kinds[:number % len(kinds)]
        entries = _measure_round(order, args, scripts, profile=args.profile and number == 0)
        rounds.append({"summary": _summary(entries), "load_avg_after": os.getloadavg()[0], **entries})
        print(f"round {number + 1}/{args.rounds}: {json.dumps(rounds[-1]['summary'])}", file=sys.stderr, flush=True)
    for kind in kinds:
        results[kind] = _median_entry([r[kind] for r in rounds])
    results["summary"] = _summary(results)
    results["summary_per_round"] = [r["summary"] for r in rounds]
    results["rounds"] = rounds
    return results


def _measure_round(order: list[str], args: argparse.Namespace, scripts: dict[int, Path], *,
                   profile: bool) -> dict[str, dict[str, Any]]:
    """One round: start every server, measure each point on each server back to back, stop them.

    The servers are started one after another (cold start is timed alone) and then stay up
    together, idle while another is measured; so the two servers a ratio compares are
    measured seconds apart, not minutes, and a slow spell of the machine shifts both.
    """
    started: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    entries: dict[str, dict[str, Any]] = {kind: {} for kind in order}
    try:
        for kind in order:
            process, port, cold = _start(kind, args.compare_with)
            started[kind] = (process, port)
            entries[kind]["cold_start_s"] = round(cold, 3)
        for name, concurrency, images in POINTS:
            ports = {kind: started[kind][1] for kind in order if kind != "floor" or images == 1}
            for kind, point in _points(ports, concurrency, images, args, scripts).items():
                entries[kind][name] = point
        for kind, (process, port) in started.items():
            workers = _worker_pids(process)
            entries[kind]["rss_mib_per_worker"] = _rss_mib(workers[0])
            if kind in ("dosirak", "dosirak_before"):
                entries[kind]["rss_mib_supervisor"] = _rss_mib(process.pid)
                if profile and kind == "dosirak":
                    entries[kind]["profile_c64"] = _profile(workers[0], port, args, scripts)
                    entries[kind]["profile_c16_x32"] = _profile(workers[0], port, args, scripts,
                                                                concurrency=16, images=32)
    finally:
        for kind, (process, _port) in started.items():
            entries[kind]["exit_status_after_sigterm"] = _stop(process)
    return {kind: entries[kind] for kind in ("dosirak", "baseline", "floor", "dosirak_before") if kind in entries}


def _stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM the server's process group; its exit status (SIGKILL after 40 s)."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return process.returncode


_SETTINGS = ("concurrency", "images_per_request")


def _median_entry(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Per figure, the median over rounds (errors: their sum; a profile: the first round's)."""
    merged: dict[str, Any] = {}
    for key, first in entries[0].items():
        values = [e[key] for e in entries]
        if isinstance(first, dict) and "requests_per_s" in first:
            merged[key] = {k: sum(p[k] for p in values) if k == "errors" else first[k] if k in _SETTINGS
                           else [rps for p in values for rps in p[k]] if k == "slice_rps"
                           else round(statistics.median(p[k] for p in values), 3) for k in first}
        elif isinstance(first, int | float) and key != "exit_status_after_sigterm":
            merged[key] = round(statistics.median(values), 3)
        elif key == "exit_status_after_sigterm":
            merged[key] = sorted(set(values))
        else:
            merged[key] = first
    return merged


def _comparison(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """Every point after vs before: requests/s ratios, p50/p99 in ms (before -> after); cold start, RSS.

    ``rps_after_vs_before`` divides the two servers' figures; ``rps_paired_ratio_median``
    is the median, over every slice of every round, of the ratio between the two servers'
    slices taken one after the other: the machine's slow spells, which last seconds, cancel
    out of it.
    """
    out: dict[str, Any] = {}
    for name, _, _ in POINTS:
        a, b = after[name], before[name]
        paired = [x / y for x, y in zip(a["slice_rps"], b["slice_rps"], strict=True)]
        out[name] = {"rps_after_vs_before": round(a["requests_per_s"] / b["requests_per_s"], 3),
                     "rps_paired_ratio_median": round(statistics.median(paired), 3),
                     "p50_ms": [b["p50_ms"], a["p50_ms"]], "p99_ms": [b["p99_ms"], a["p99_ms"]],
                     "errors": [b["errors"], a["errors"]]}
    for key in ("cold_start_s", "rss_mib_per_worker"):
        out[key] = [before[key], after[key]]
    return out


def _summary(r: dict[str, Any]) -> dict[str, Any]:
    d, b, f = r["dosirak"], r["baseline"], r["floor"]
    rps_ratio = d["c64"]["requests_per_s"] / b["c64"]["requests_per_s"]
    img_ratio = d["c16_x32"]["images_per_s"] / b["c16_x32"]["images_per_s"]
    p50_delta = d["c1"]["p50_ms"] - b["c1"]["p50_ms"]
    compared = {"comparison": _comparison(d, r["dosirak_before"])} if "dosirak_before" in r else {}
    return {
        **compared,
        "c64_rps_vs_baseline": round(rps_ratio, 2),
        "c64_rps_vs_floor": round(d["c64"]["requests_per_s"] / f["c64"]["requests_per_s"], 3),
        "baseline_c64_rps_vs_floor": round(b["c64"]["requests_per_s"] / f["c64"]["requests_per_s"], 3),
        "c64_p99_ms": d["c64"]["p99_ms"],
        "c64_p99_baseline_ms": b["c64"]["p99_ms"],
        "c1_p50_delta_ms": round(p50_delta, 3),
        "x32_images_per_s_vs_baseline": round(img_ratio, 2),
        "targets_met": {
            "c64_rps_at_least_2x_baseline": rps_ratio >= 2.0,
            "c64_p99_at_most_30ms_and_baseline": d["c64"]["p99_ms"] <= min(30.0, b["c64"]["p99_ms"]),
            "c64_zero_errors": d["c64"]["errors"] == 0,
            "c1_p50_within_0.2ms": p50_delta <= 0.2,
            "x32_images_at_least_2x_baseline": img_ratio >= 2.0,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per point")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds before each point")
    parser.add_argument("--slice", type=float, default=3.0,
                        help="seconds per measured slice; the servers take turns slice by slice")
    parser.add_argument("--rounds", type=int, default=3,
                        help="times every server is measured, in rotating order; figures are medians over rounds")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the dosirak worker at c=64 and at c=16 with 32 images (first round)")
    parser.add_argument("--compare-with", type=Path, default=None, metavar="CHECKOUT",
                        help="also serve with the dosirak of CHECKOUT (its src/ on PYTHONPATH), as 'dosirak_before'")
    args = parser.parse_args()
    print(json.dumps(run(args), indent=2))


if __name__ == "__main__":
    main()
