"""The ray orchestrator's cost and its parallelism, against `local` in the same run.

    python benchmarks/ray_orchestrator.py [--runs 3]

Prints JSON. In one process and one fresh home, with a local Ray cluster of 2 CPUs started
once (``ray.init(num_cpus=2)``, as a running cluster would be):
- a chain of 10 trivial steps (caching off) on `ray` and on `local` (``max_parallel=1``),
  alternately: the per-step overhead of Ray over local (target <= 20 ms);
- 8 independent 0.5-second CPU-bound steps on `ray` (target <= 2.6 s wall; one after
  another they take 4 s).
Each figure is the median over --runs repetitions.
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

HERE = Path(__file__).resolve().parent
TARGETS = {"ray_overhead_ms_per_step": 20.0, "ray_8_cpu_steps_s": 2.6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dosirak-bench-ray-") as home:
        os.environ["DOSIRAK_HOME"] = home
        os.environ["DOSIRAK_PROGRESS"] = "off"
        os.environ["RAY_TMPDIR"] = str(Path(home) / "ray")
        # the workers import the steps from here
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
        sys.path.insert(0, str(HERE))
        import ray
        from ray_steps import burn, chain10, eight_burners

        from dosirak.metadata.store import close_stores, get_store

        store = get_store()
        store.stacks.register_component("orchestrator", "serial", "local", {"max_parallel": 1})
        store.stacks.register_stack("serial", {"orchestrator": "serial", "artifact-store": "default"})
        store.stacks.register_component("orchestrator", "cluster", "ray", {})
        store.stacks.register_stack("cluster", {"orchestrator": "cluster", "artifact-store": "default"})
        ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
        try:
            chain10(stack="cluster")  # warm up the workers and imports
            eight_burners(seconds=0.05, stack="cluster")
            times: dict[str, list[float]] = {"chain10_ray": [], "chain10_local": [], "eight_ray": []}
            for _ in range(args.runs):
                for key, stack in (("chain10_ray", "cluster"), ("chain10_local", "serial")):
                    start = time.perf_counter()
                    chain10(stack=stack)
                    times[key].append(time.perf_counter() - start)
                start = time.perf_counter()
                eight_burners(seconds=0.5, stack="cluster")
                times["eight_ray"].append(time.perf_counter() - start)
            start = time.perf_counter()
            burn(0.5)
            one_burn = time.perf_counter() - start
        finally:
            ray.shutdown()
            close_stores()
    med = {k: statistics.median(v) for k, v in times.items()}
    overhead_ms = (med["chain10_ray"] - med["chain10_local"]) / 10 * 1000
    print(json.dumps({
        "runs": args.runs,
        "chain10_ray_s": round(med["chain10_ray"], 3),
        "chain10_local_s": round(med["chain10_local"], 3),
        "ray_overhead_ms_per_step": round(overhead_ms, 1),
        "ray_8_cpu_steps_s": round(med["eight_ray"], 3),
        "one_cpu_step_alone_s": round(one_burn, 3),
        "targets": TARGETS,
        "meets": {"ray_overhead_ms_per_step": overhead_ms <= TARGETS["ray_overhead_ms_per_step"],
                  "ray_8_cpu_steps_s": med["eight_ray"] <= TARGETS["ray_8_cpu_steps_s"]},
        "all_s": {k: [round(t, 3) for t in v] for k, v in times.items()},
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
