"""What logging metrics from a step costs, measured against the same work without logging in the same run.

    python benchmarks/metrics_logging.py [--runs 7] [--points 100000]

Prints JSON. Figures are medians over --runs repetitions:
- ``log_metric_us_per_call``: one ``dk.log_metric(name, value, step=i)`` inside a running
  step, amortised over --points calls (the buffering alone; writing is the driving
  process's background flush, measured next). ``log_metrics_us_per_metric`` the same
  through ``dk.log_metrics`` with 4 metrics a call;
- ``run_with_logging_s`` / ``run_without_logging_s``: a whole pipeline run (one step that
  loops --points times over the same small computation), once logging a point each
  iteration, once not; each repetition runs both back to back (which goes first
  alternates), so ``extra_s`` (median of the per-pair differences, everything included:
  the buffering, the background flushes and the final write of every point and its
  summary to the metadata store) and ``ratio`` (median of per-pair ratios) compare runs
  that saw the same machine state.

Targets: <= 20 us per call, <= 1 s extra for a run logging 100,000 points.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGETS = {"log_metric_us_per_call": 20.0, "extra_s": 1.0}


def measure(runs: int, points: int) -> dict[str, Any]:
    import dosirak as dk
    from dosirak import pipeline, step
    from dosirak.metadata.store import get_store
    from dosirak.pipelines.metrics import MetricLog, activate, deactivate

    @step
    def train(iterations: int, log: bool) -> float:
        total = 0.0
        for i in range(iterations):
            total += (i % 7) * 0.5  # the "work" of one batch
            if log:
                dk.log_metric("loss", total / (i + 1), step=i)
        return total

    @pipeline(enable_cache=False, name="bench_metrics_logging")
    def training(iterations: int = 1000, log: bool = True) -> None:
        train(iterations=iterations, log=log)

    def per_call() -> tuple[float, float]:
        metric_log = MetricLog("bench", "bench")
        token = activate(metric_log)
        try:
            start = time.perf_counter()
            for i in range(points):
                dk.log_metric("loss", 0.5, step=i)
            single = (time.perf_counter() - start) / points
            metric_log.take(everything=True)
            values = {"loss": 0.5, "accuracy": 0.9, "lr": 0.001, "grad_norm": 1.5}
            start = time.perf_counter()
            for i in range(points // 4):
                dk.log_metrics(values, step=i)
            many = (time.perf_counter() - start) / (points // 4 * 4)
        finally:
            deactivate(token)
        return single * 1e6, many * 1e6

    training(iterations=1000, log=True)  # warm: store open, first-run paths, the flush thread
    training(iterations=1000, log=False)
    calls = [per_call() for _ in range(runs)]
    pairs: list[tuple[float, float]] = []
    for r in range(runs):
        order = (True, False) if r % 2 == 0 else (False, True)
        took: dict[bool, float] = {}
        for log in order:
            start = time.perf_counter()
            run = training(iterations=points, log=log)
            took[log] = time.perf_counter() - start
            assert run.status == "completed"
        pairs.append((took[True], took[False]))
    last = training(iterations=points, log=True)
    stored = get_store().metrics.series(last.steps["train"].id, "loss", max_points=10).total
    assert stored == points, f"{stored} of {points} points were stored"
    return {
        "points": points,
        "runs": runs,
        "log_metric_us_per_call": round(statistics.median(c[0] for c in calls), 3),
        "log_metrics_us_per_metric": round(statistics.median(c[1] for c in calls), 3),
        "run_with_logging_s": round(statistics.median(p[0] for p in pairs), 3),
        "run_without_logging_s": round(statistics.median(p[1] for p in pairs), 3),
        "extra_s": round(statistics.median(p[0] - p[1] for p in pairs), 3),
        "ratio": round(statistics.median(p[0] / p[1] for p in pairs), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--points", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dosirak-bench-metrics-") as home:
        os.environ["DOSIRAK_HOME"] = str(Path(home))
        os.environ.pop("DOSIRAK_METADATA_URL", None)
        import logging

        logging.disable(logging.INFO)  # the run's progress lines are not what is measured
        result = measure(args.runs, args.points)
        from dosirak.metadata.store import close_stores

        close_stores()
    result["targets"] = TARGETS
    result["meets_targets"] = (result["log_metric_us_per_call"] <= TARGETS["log_metric_us_per_call"]
                               and result["extra_s"] <= TARGETS["extra_s"])
    result["cpu_count"] = os.cpu_count()
    result["python"] = sys.version.split()[0]
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
