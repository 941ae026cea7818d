"""Two independent 1-second steps on the `local` orchestrator: parallel branches vs one after another.

    python benchmarks/parallel_branches.py [--runs 3] [--seconds 1.0]

Prints JSON. In one process and one fresh home, the same pipeline (two independent steps that
each sleep ``--seconds``, caching off) runs on a stack whose local orchestrator has
``max_parallel=2`` and on one with ``max_parallel=1``, alternately; each figure is the median
wall time of the whole run (``pipeline()`` call to its return) over ``--runs`` repetitions.
Target: parallel <= 1.3 x seconds, sequential about 2 x seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

TARGET_PARALLEL_S = 1.3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dosirak-bench-parallel-") as home:
        os.environ["DOSIRAK_HOME"] = home
        os.environ["DOSIRAK_PROGRESS"] = "off"
        from dosirak import pipeline, step
        from dosirak.metadata.store import close_stores, get_store

        @step
        def wait(seconds: float, branch: int) -> int:
            time.sleep(seconds)
            return branch

        @pipeline(enable_cache=False, name="bench_parallel_branches")
        def two_branches(seconds: float = 1.0) -> None:
            wait(seconds=seconds, branch=1)
            wait(seconds=seconds, branch=2)

        store = get_store()
        for name, limit in (("parallel", 2), ("sequential", 1)):
            store.stacks.register_component("orchestrator", name, "local", {"max_parallel": limit})
            store.stacks.register_stack(name, {"orchestrator": name, "artifact-store": "default"})
        two_branches(seconds=0.0, stack="parallel")  # warm up: imports, the store's first writes
        times: dict[str, list[float]] = {"parallel": [], "sequential": []}
        for _ in range(args.runs):
            for name in times:
                start = time.perf_counter()
                run = two_branches(seconds=args.seconds, stack=name)
                times[name].append(time.perf_counter() - start)
                assert run.status == "completed"
        close_stores()
    parallel = statistics.median(times["parallel"])
    sequential = statistics.median(times["sequential"])
    target = TARGET_PARALLEL_S * args.seconds
    print(json.dumps({
        "step_seconds": args.seconds,
        "runs": args.runs,
        "parallel_s": round(parallel, 3),
        "sequential_s": round(sequential, 3),
        "speedup": round(sequential / parallel, 2),
        "parallel_target_s": target,
        "parallel_meets_target": parallel <= target,
        "all_s": {k: [round(t, 3) for t in v] for k, v in times.items()},
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
