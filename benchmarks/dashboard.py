"""Dashboard speed: `dosirak up` readiness, and every page and API list call over a big store.

Seeds a fresh home with 1,000 runs of a 10-step pipeline (10,000 step runs, 10,000
artifacts, their input/output links) and their logged metrics (10 metrics per run, one per
step, of 1,000 points each: 10,000,000 points with their summaries, written straight into
the store's tables in one transaction), and a model with versions, aliases and their
history; starts the dashboard with ``dosirak up`` as a user would, and times each page and
API call over real HTTP (keep-alive, sequential): the run, pipeline, compare and model
pages and the metrics API behind their charts among them. The in-run baseline is
``/api/v1/health``: the cost of the HTTP stack alone; each median is also given as a
multiple of it.

    python benchmarks/dashboard.py [--runs 1000] [--steps 10] [--metrics 10] [--points 1000] [--repeat 30]

Prints one JSON document; exits 1 if a median exceeds the 150 ms target or ``up`` the 1 s one.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PAGE_TARGET_MS = 150.0
UP_TARGET_S = 1.0


def seed(home: Path, runs: int, steps: int) -> dict[str, Any]:
    """Write ``runs`` runs of a ``steps``-step chain into the store in bulk, as the engine records them."""
    import numpy as np

    from dosirak.metadata import tables
    from dosirak.metadata.store import get_store

    store = get_store()
    names = [f"step_{i:02d}" for i in range(steps)]
    dag = {"steps": [{"name": n, "inputs": ({"data": {"step": names[i - 1], "output": "output"}} if i else {}),
                      "outputs": ["output"], "parameters": {"scale": i}} for i, n in enumerate(names)]}
    t0 = datetime.now(UTC) - timedelta(days=30)
    started = time.perf_counter()
    run_rows, step_rows, art_rows, io_rows = [], [], [], []
    last_run = None
    for r in range(runs):
        run_id = str(uuid.uuid4())
        last_run = run_id
        start = t0 + timedelta(minutes=40 * r)
        failed_at = steps - 3 if r % 17 == 5 else None
        status = "failed" if failed_at is not None else "completed"
        run_rows.append({"id": run_id, "name": f"bench-{r:04d}", "pipeline_id": 1, "status": status,
                         "parameters": {"epochs": r % 5 + 1, "lr": 0.001}, "config": {}, "dag": dag,
                         "stack_name": "default", "orchestrator": "local", "start_time": start,
                         "end_time": start + timedelta(seconds=steps * 3), "hostname": "bench", "pid": 1,
                         "pid_start": None, "heartbeat_at": start, "error": None, "extra": {}})
        previous = None
        for i, n in enumerate(names):
            sid = str(uuid.uuid4())
            s_status = ("completed" if failed_at is None or i < failed_at else
                        "failed" if i == failed_at else "skipped")
            s_start = start + timedelta(seconds=i * 3)
            step_rows.append({"id": sid, "run_id": run_id, "name": n, "step_type": f"bench.{n}", "status": s_status,
                              "parameters": {"scale": i}, "cache_key": uuid.uuid4().hex + uuid.uuid4().hex[:32],
                              "cache_parts": {"source": "x"}, "cache_enabled": True, "cached_from": None,
                              "source_code": f"def {n}(data):\n    return data\n",
                              "start_time": s_start if s_status != "skipped" else None,
                              "end_time": s_start + timedelta(seconds=2.5), "attempts": 1, "logs_uri": None,
                              "error": "boom" if s_status == "failed" else None,
                              "traceback": "Traceback ...\nValueError: boom" if s_status == "failed" else None,
                              "extra": {}})
            if previous is not None and s_status != "skipped":
                io_rows.append({"step_run_id": sid, "name": "data", "kind": "input", "artifact_id": previous})
            if s_status == "completed":
                aid = str(uuid.uuid4())
                art_rows.append({"id": aid, "uri": str(home / "artifacts" / run_id / n / "output"),
                                 "type": "numpy.ndarray",
                                 "materializer": "dosirak.artifacts.materializers.numpy:NumpyMaterializer",
                                 "materializer_version": "1", "content_hash": uuid.uuid4().hex * 2, "size": 8_000_128,
                                 "producer_step_run_id": sid, "name": "output", "created_at": s_start,
                                 "summary": {"shape": [1000, 1000], "dtype": "float64"}, "extra": {}})
                io_rows.append({"step_run_id": sid, "name": "output", "kind": "output", "artifact_id": aid})
                previous = aid
    with store.sql.write() as cur:
        cur.execute("INSERT INTO pipelines (id, name, created_at, extra) VALUES (:id, :name, :created_at, :extra)",
                    {"id": 1, "name": "bench", "created_at": t0, "extra": {}})
        for table, rows in ((tables.PIPELINE_RUNS, run_rows), (tables.STEP_RUNS, step_rows),
                            (tables.ARTIFACTS, art_rows), (tables.STEP_RUN_IO, io_rows)):
            cur.executemany(table.insert_sql(), [table.row(r) for r in rows])
    # the latest run's artifacts get real files: a 1000x1000 float64 array (8 MB) to preview
    for row in art_rows[-steps:]:
        if row["uri"].startswith(str(home / "artifacts" / last_run)):
            Path(row["uri"]).mkdir(parents=True, exist_ok=True)
            buf = io.BytesIO()
            np.save(buf, np.random.default_rng(0).normal(size=(1000, 1000)))
            Path(row["uri"], "array.npy").write_bytes(buf.getvalue())
    store.close()
    return {"runs": len(run_rows), "step_runs": len(step_rows), "artifacts": len(art_rows),
            "io_links": len(io_rows), "seconds": round(time.perf_counter() - started, 2),
            "latest_run": last_run, "step_ids": [s["id"] for s in step_rows[-steps:]],
            "run_ids": [r["id"] for r in run_rows[-3:]],
            "artifact_id": art_rows[-1]["id"]}


METRIC_NAMES = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "grad_norm", "precision", "recall", "f1",
                "auc")


def seed_metrics(store_url: str, metrics: int, points: int) -> dict[str, Any]:
    """Log ``metrics`` series of ``points`` points on each run (metric i on the run's step i), with summaries.

    Rows go straight into the ``metrics`` and ``metric_summaries`` tables (as described in
    :mod:`dosirak.metadata.tables`) through one SQLite transaction, streamed (never all in memory).
    """
    import sqlite3

    import numpy as np

    from dosirak.metadata import tables

    started = time.perf_counter()
    path = store_url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA cache_size = -262144")  # 256 MiB: the series index stays in memory while it grows
    step_runs = conn.execute(
        "SELECT s.id, s.run_id, s.name, r.start_time FROM step_runs s JOIN pipeline_runs r ON r.id = s.run_id "
        "WHERE s.status IN ('completed', 'failed') ORDER BY r.start_time, s.name").fetchall()
    names = [METRIC_NAMES[i % len(METRIC_NAMES)] + ("" if i < len(METRIC_NAMES) else f"_{i}") for i in range(metrics)]
    rng = np.random.default_rng(0)
    steps = np.arange(points)
    point_columns = ("step_run_id", "name", "step", "number", "wall_time")
    summary_columns = tables.METRIC_SUMMARIES.column_names
    insert_points = (f"INSERT INTO {tables.METRICS.name} ({', '.join(point_columns)}) "
                     f"VALUES ({', '.join('?' * len(point_columns))})")
    insert_summaries = (f"INSERT INTO {tables.METRIC_SUMMARIES.name} ({', '.join(summary_columns)}) "
                        f"VALUES ({', '.join('?' * len(summary_columns))})")
    summaries: list[tuple[Any, ...]] = []
    count = 0

    def rows() -> Any:
        nonlocal count
        for n, (sid, run_id, step_name, _start) in enumerate(step_runs):
            index = int(step_name.rsplit("_", 1)[1])
            if index >= metrics:
                continue
            name = names[index]
            values = (np.exp(-steps / (200 + n % 97)) + rng.normal(0, 0.02, points)).round(5)
            wall = 1.7e9 + n * 60 + steps * 0.05
            listed = values.tolist()
            summaries.append((sid, name, run_id, listed[-1], points - 1, float(values.min()), float(values.max()),
                              points))
            count += points
            yield from zip([sid] * points, [name] * points, steps.tolist(), listed, wall.tolist(), strict=True)

    with conn:
        conn.executemany(insert_points, rows())
        conn.executemany(insert_summaries, summaries)  # filled while the points streamed in
    conn.close()
    return {"metric_series": len(summaries), "metric_points": count,
            "metric_seconds": round(time.perf_counter() - started, 2)}


def seed_model(home: Path, versions: int, run_ids: list[str]) -> str:
    """A model with ``versions`` versions (metrics, a run each), two aliases moved a few times."""
    from dosirak.metadata.store import get_store

    store = get_store()
    name = "bench_model"
    for v in range(versions):
        store.models.create_model_version(
            name, framework="pickle", place=lambda version, _id: str(home / "models" / name / str(version)),
            files={"model.pkl": {"size": 1, "sha256": "0" * 64}},
            metrics={"accuracy": 0.8 + v / 1000, "loss": 0.5 - v / 1000}, run_id=run_ids[v % len(run_ids)])
    for v in range(1, versions + 1, max(versions // 5, 1)):
        store.models.set_model_alias(name, "staging", v, actor="bench")
        store.models.set_model_alias(name, "production", max(v - 1, 1), actor="bench")
    store.close()
    return name


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOSIRAK_HOME": str(home)}
    env.pop("DOSIRAK_DASHBOARD_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "dosirak.cli.main", *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def state_of(home: Path) -> dict[str, Any]:
    return json.loads((home / "run" / "dashboard.json").read_text())  # type: ignore[no-any-return]


def time_up(home: Path, repeat: int) -> dict[str, Any]:
    """`dosirak up` until it returns (the dashboard answers), and until the first /runs page is served."""
    ready, first_page = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        out = cli(home, "up", "--port", "0")
        ready.append(time.perf_counter() - started)
        if out.returncode != 0:
            raise SystemExit(f"dosirak up failed: {out.stderr}")
        state = state_of(home)
        conn = http.client.HTTPConnection("127.0.0.1", state["port"], timeout=10)
        conn.request("GET", "/runs")
        conn.getresponse().read()
        first_page.append(time.perf_counter() - started)
        conn.close()
        cli(home, "down")
    return {"ready_s_median": round(statistics.median(ready), 3), "ready_s_all": [round(x, 3) for x in ready],
            "first_page_s_median": round(statistics.median(first_page), 3)}


def measure(port: int, paths: list[str], repeat: int, baseline_ms: float | None = None) -> dict[str, dict[str, float]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    out: dict[str, dict[str, float]] = {}
    for path in paths:
        times = []
        for i in range(repeat + 2):
            started = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200:
                raise SystemExit(f"GET {path} answered {response.status}: {body[:300]!r}")
            if i >= 2:  # two warm-up requests
                times.append(elapsed)
        times.sort()
        out[path] = {"median_ms": round(statistics.median(times), 2),
                     "p90_ms": round(times[int(len(times) * 0.9) - 1], 2), "bytes": len(body)}
        if baseline_ms:
            out[path]["x_baseline"] = round(statistics.median(times) / baseline_ms, 1)
    conn.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--metrics", type=int, default=10, help="metric series per run (one per step)")
    parser.add_argument("--points", type=int, default=1000, help="points per metric series")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--up-repeat", type=int, default=5)
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]  # other work on the machine slows every figure: report it
    with tempfile.TemporaryDirectory(prefix="dosirak-bench-dashboard-") as tmp:
        home = Path(tmp)
        os.environ["DOSIRAK_HOME"] = str(home)  # the seeding store; the dashboard gets it explicitly too
        seeded = seed(home, args.runs, args.steps)
        seeded.update(seed_metrics(f"sqlite:///{home / 'metadata.db'}", args.metrics, args.points))
        model = seed_model(home, 20, seeded["run_ids"])
        cli(home, "up", "--port", "0")  # first start fills the template cache, as any first use would
        cli(home, "down")
        up = time_up(home, args.up_repeat)
        out = cli(home, "up", "--port", "0")
        if out.returncode != 0:
            raise SystemExit(out.stderr)
        port = state_of(home)["port"]
        run, steps, art = seeded["latest_run"], seeded["step_ids"], seeded["artifact_id"]
        try:
            baseline = measure(port, ["/api/v1/health"], args.repeat)
            base_ms = baseline["/api/v1/health"]["median_ms"]
            pair = ",".join(seeded["run_ids"][-2:])
            metric = f"step_00.{METRIC_NAMES[0]}"
            charts = {
                "pages": measure(port, [f"/runs/{run}", "/pipelines/bench", f"/compare?runs={pair}",
                                        f"/models/{model}"], args.repeat, base_ms),
                "api": measure(port, [
                    f"/api/runs/{run}/metrics", f"/api/runs/{run}/metrics/step_00/{METRIC_NAMES[0]}",
                    f"/api/runs/{run}/metrics/step_00/{METRIC_NAMES[0]}?max_points=200",
                    f"/api/runs/{run}/metrics/step_00/{METRIC_NAMES[0]}?after_step={args.points - 10}",
                    "/api/pipelines/bench/runs-table", f"/api/pipelines/bench/runs-table?sort=metric:{metric}&order=asc",
                    f"/api/pipelines/bench/runs-table?filter=metric:{metric}%3C0.5&sort=param:epochs",
                    "/api/pipelines/bench/runs-table?offset=950",
                    f"/api/pipelines/bench/metric-trend?metric={metric}",
                    f"/api/pipelines/bench/metric-trend?metric={metric}&x=param:epochs",
                    f"/api/compare?runs={pair}", f"/api/v1/models/{model}",
                ], args.repeat, base_ms),
            }
            pages = measure(port, [
                "/", "/pipelines", "/pipelines/bench", "/pipelines/bench?offset=950", "/runs", "/runs?offset=500",
                "/runs?status=failed", f"/runs/{run}", f"/runs/{run}/live", f"/steps/{steps[3]}", "/artifacts",
                "/artifacts?offset=9000", f"/artifacts/{art}", "/stacks", "/models", "/bundles", "/deployments", "/api",
            ], args.repeat)
            api = measure(port, [
                "/api/v1/pipelines", "/api/v1/pipelines/bench", "/api/v1/pipelines/bench/runs", "/api/v1/runs",
                "/api/v1/runs?limit=500", "/api/v1/runs?offset=950", f"/api/v1/runs/{run}",
                f"/api/v1/runs/{run}/steps", f"/api/v1/steps/{steps[3]}", "/api/v1/artifacts",
                "/api/v1/artifacts?offset=9000", f"/api/v1/artifacts/{art}", f"/api/v1/artifacts/{art}/preview",
                "/api/v1/stacks", "/api/v1/components", "/api/v1/models", "/api/v1/bundles", "/api/v1/deployments",
                "/api/v1/overview", "/api/v1/openapi.json",
            ], args.repeat)
        finally:
            cli(home, "down")
    machine = {"cpus": os.cpu_count(), "loadavg_1m_at_start": load_at_start, "loadavg_1m_at_end": os.getloadavg()[0]}
    worst = max([*pages.values(), *api.values(), *charts["pages"].values(), *charts["api"].values()],
                key=lambda r: r["median_ms"])
    result = {
        "machine": machine,
        "store": {k: v for k, v in seeded.items() if k not in ("latest_run", "step_ids", "artifact_id", "run_ids")},
        "up": up,
        "baseline_health": baseline["/api/v1/health"],
        "pages": pages,
        "api": api,
        "metrics_and_charts": charts,
        "worst_median_ms": worst["median_ms"],
        "targets": {"page_median_ms": PAGE_TARGET_MS, "up_ready_s": UP_TARGET_S},
        "within_targets": worst["median_ms"] <= PAGE_TARGET_MS and up["ready_s_median"] <= UP_TARGET_S,
    }
    print(json.dumps(result, indent=2))
    sys.exit(0 if result["within_targets"] else 1)


if __name__ == "__main__":
    main()
