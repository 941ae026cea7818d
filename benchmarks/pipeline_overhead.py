"""Pipeline engine overhead, measured against plain function calls in the same run.

    python benchmarks/pipeline_overhead.py [--runs 15]

Prints JSON. Every figure is a median over --runs repetitions, each against its baseline
measured in the same process (or, for whole-process figures, the same machine minute):
- chain10 uncached / cached: framework overhead per step vs calling the 10 functions;
- numpy 10 MB fan-out (1 producer, 4 consumers): overhead / (np.save + np.load) of the array,
  where np.save writes a new file each time as the artifact store does (overwriting one
  file over and over is much cheaper on some filesystems; that ratio is reported too);
- whole processes: `python chain10.py`, `python -c "import dosirak"`, `dosirak --help`, each
  also as a ratio to a bare `python -c pass`; and whether chain10 imported torch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TARGETS = {"chain10_uncached_ms_per_step": 5.0, "chain10_cached_ms_per_step": 2.0, "numpy_fanout_ratio": 3.0,
           "chain10_process_s": 0.5, "import_dosirak_s": 0.15, "dosirak_help_s": 0.25}


def _median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def in_process(runs: int) -> dict[str, float]:
    sys.path.insert(0, str(HERE))
    from chain10 import add_one

    from dosirak import pipeline, step

    @pipeline(enable_cache=False, name="bench_chain10")
    def chain_uncached(start: int = 0) -> None:
        value = add_one(start)
        for _ in range(9):
            value = add_one(value)

    @pipeline(enable_cache=True, name="bench_chain10_cached")
    def chain_cached(start: int = 0) -> None:
        value = add_one(start)
        for _ in range(9):
            value = add_one(value)

    def plain_chain() -> None:
        value = add_one.func(0)
        for _ in range(9):
            value = add_one.func(value)

    chain_uncached()  # warm: store open, entry points, first-run paths
    chain_cached()
    plain = _median_time(plain_chain, runs)
    uncached = _median_time(chain_uncached, runs)
    cached = _median_time(chain_cached, runs)

    @step
    def produce() -> np.ndarray:
        return np.random.default_rng(0).random(2_621_440, dtype=np.float32)  # 10 MiB

    @step
    def consume(arr: np.ndarray) -> float:
        return float(arr[::4096].sum())

    @pipeline(enable_cache=False, name="bench_numpy_fanout")
    def fanout() -> None:
        arr = produce()
        for _ in range(4):
            consume(arr)

    def plain_fanout() -> None:
        arr = produce.func()
        for _ in range(4):
            consume.func(arr)

    fanout()
    arr = produce.func()
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(10**6))

        def save_load_new_file() -> None:
            # like an artifact: a new file each time (the pipeline keeps every run's output)
            path = Path(tmp) / f"a{next(counter)}.npy"
            np.save(path, arr)
            np.load(path)

        def save_load_same_file() -> None:
            np.save(Path(tmp) / "same.npy", arr)
            np.load(Path(tmp) / "same.npy")

        io_time = _median_time(save_load_new_file, runs)
        io_same_file = _median_time(save_load_same_file, runs)
    plain_f = _median_time(plain_fanout, runs)
    piped_f = _median_time(fanout, runs)
    return {
        "chain10_plain_ms": plain * 1e3,
        "chain10_uncached_ms": uncached * 1e3,
        "chain10_uncached_ms_per_step": (uncached - plain) / 10 * 1e3,
        "chain10_cached_ms": cached * 1e3,
        "chain10_cached_ms_per_step": (cached - plain) / 10 * 1e3,
        "numpy_np_save_load_ms": io_time * 1e3,
        "numpy_np_save_load_same_file_ms": io_same_file * 1e3,
        "numpy_fanout_ratio_vs_same_file": (piped_f - plain_f) / io_same_file,
        "numpy_fanout_plain_ms": plain_f * 1e3,
        "numpy_fanout_pipeline_ms": piped_f * 1e3,
        "numpy_fanout_ratio": (piped_f - plain_f) / io_time,
    }


def _process_time(cmd: list[str], runs: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def whole_process(runs: int, env: dict[str, str]) -> dict[str, float | bool]:
    exe = sys.executable
    dosirak = str(Path(exe).with_name("dosirak"))
    bare = _process_time([exe, "-c", "pass"], runs, env)
    chain = _process_time([exe, str(HERE / "chain10.py")], runs, env)
    imp = _process_time([exe, "-c", "import dosirak"], runs, env)
    helptime = _process_time([dosirak, "--help"], runs, env)
    probe = subprocess.run(
        [exe, "-c", f"import runpy, sys; sys.argv=['chain10']; runpy.run_path({str(HERE / 'chain10.py')!r}, "
                    "run_name='__main__'); print('torch' in sys.modules)"],
        check=True, env=env, capture_output=True, text=True)
    return {
        "bare_python_s": bare,
        "chain10_process_s": chain,
        "chain10_process_ratio_to_bare": chain / bare,
        "import_dosirak_s": imp,
        "import_dosirak_ratio_to_bare": imp / bare,
        "dosirak_help_s": helptime,
        "dosirak_help_ratio_to_bare": helptime / bare,
        "chain10_imported_torch": probe.stdout.strip().splitlines()[-1] == "True",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dosirak-bench-") as home:
        env = {**os.environ, "DOSIRAK_HOME": home}
        # as on a normal install, Python may cache bytecode (some CI images set this variable)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["DOSIRAK_HOME"] = home
        results: dict[str, object] = {"runs": args.runs}
        results.update(in_process(args.runs))
        results.update(whole_process(args.runs, env))
    results["targets"] = TARGETS
    results["met"] = {k: results[k] <= v for k, v in TARGETS.items()}  # type: ignore[operator]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
