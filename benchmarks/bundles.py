"""Model registry and bundle speed, each against its baseline measured in the same run.

    python benchmarks/bundles.py [--runs 21]

Prints JSON. Figures are medians over --runs repetitions:
- model save / load of the Fashion-MNIST MLP (784->512->512->10) with ``dk.models`` vs plain
  ``torch.save(module)`` / ``torch.load(path, weights_only=False)`` of the same module, in
  the same warm process. Each repetition times one dk call and one torch call back to back
  (which goes first alternates), so each pair
  sees the same machine state; ``*_ratio`` is the median of the per-pair ratios (target:
  within 1.5x) and ``*_ratio_of_medians`` the ratio of the two medians. dk's figures
  include the metadata-store transaction and file hashing on save, and the store lookup
  and size check on load (the default for the local store);
  ``model_load_full_hash_check_*`` adds the SHA-256 check done for versions from a bundle;
  ``model_save_ratio_vs_new_file`` compares with ``torch.save`` to a new file each time (as
  a registry keeps every version), which on some filesystems is cheaper than overwriting;
- bundle build time and size (directory and exported archive) for that model's bundle;
- bundle verify throughput (SHA-256 of every file against the MANIFEST), on the
  Fashion-MNIST bundle and on a ~200 MB bundle where per-file overhead does not dominate
  (target: >= 500 MB/s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TARGETS = {"model_save_ratio": 1.5, "model_load_ratio": 1.5, "verify_mb_per_s": 500.0}

SERVICE = '''
import numpy as np
import dosirak as dk


@dk.service(name="{name}")
class Service:
    model = dk.model_ref("{name}:latest")

    def __init__(self) -> None:
        self.net = self.model.load()

    @dk.api(batchable=True)
    def predict(self, images: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.net(torch.from_numpy(images.astype("float32"))).numpy()
'''


def _median_ms(times: list[float]) -> float:
    return round(statistics.median(times) * 1000, 3)


def _once(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _pair(dk_fn: Callable[[], Any], base_fn: Callable[[], Any], dk_first: bool) -> tuple[float, float]:
    """One timing of each, back to back, in the given order: (dk seconds, baseline seconds)."""
    if dk_first:
        dk_s = _once(dk_fn)
        return dk_s, _once(base_fn)
    base_s = _once(base_fn)
    return _once(dk_fn), base_s


def _ratios(dk_times: list[float], base_times: list[float]) -> tuple[float, float]:
    """(median of the per-pair ratios, ratio of the medians)."""
    per_pair = statistics.median(d / b for d, b in zip(dk_times, base_times, strict=True))
    return per_pair, statistics.median(dk_times) / statistics.median(base_times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dosirak-bench-") as tmp:
        root = Path(tmp)
        os.environ["DOSIRAK_HOME"] = str(root / "home")
        import torch

        import dosirak as dk
        from dosirak.bundles.archive import export_bundle
        from dosirak.bundles.builder import build
        from dosirak.bundles.manifest import verify
        from dosirak.bundles.spec import make_spec

        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 512), torch.nn.ReLU(),
                                  torch.nn.Linear(512, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10))
        plain = root / "plain.pt"

        # pairs of dk and plain runs, so both sides of a ratio see the same machine state
        def dk_save_fn() -> Any:
            return dk.models.save("fashion_mnist", net)

        def pt_save_fn() -> None:
            torch.save(net, plain)

        saved = iter(range(10**6))

        def pt_save_new_file_fn() -> None:
            # as a model registry does: every version is a new file, none is overwritten
            torch.save(net, root / f"plain-{next(saved)}.pt")

        def dk_load_fn() -> Any:
            return dk.models.get("fashion_mnist:latest").load()

        def dk_load_verified_fn() -> Any:
            return dk.models.get("fashion_mnist:latest").load(verify=True)

        def pt_load_fn() -> Any:
            return torch.load(plain, weights_only=False)

        dk_save, pt_save, dk_load, pt_load, dk_load_verified, pt_load_2 = [], [], [], [], [], []
        dk_save_2, pt_save_new = [], []
        for _ in range(3):  # warm-up: imports, store creation, page cache
            dk_save_fn(), pt_save_fn(), pt_save_new_file_fn(), dk_load_fn(), dk_load_verified_fn(), pt_load_fn()
        for i in range(args.runs):
            for dk_fn, pt_fn, dk_out, pt_out in ((dk_save_fn, pt_save_fn, dk_save, pt_save),
                                                 (dk_save_fn, pt_save_new_file_fn, dk_save_2, pt_save_new),
                                                 (dk_load_fn, pt_load_fn, dk_load, pt_load),
                                                 (dk_load_verified_fn, pt_load_fn, dk_load_verified, pt_load_2)):
                dk_s, pt_s = _pair(dk_fn, pt_fn, dk_first=i % 2 == 0)
                dk_out.append(dk_s)
                pt_out.append(pt_s)
        check = torch.randn(2, 1, 28, 28)
        assert torch.equal(dk.models.get("fashion_mnist:latest").load()(check), net.eval()(check))  # noqa: S101

        service_dir = root / "svc"
        service_dir.mkdir()
        (service_dir / "service.py").write_text(SERVICE.format(name="fashion_mnist"))
        spec = make_spec(service="service.py:Service", models=["fashion_mnist:latest"])
        build(spec, base_dir=service_dir)  # warm-up: imports the service once
        build_times = []
        record = None
        for _ in range(max(3, args.runs // 3)):
            start = time.perf_counter()
            record = build(spec, base_dir=service_dir)
            build_times.append(time.perf_counter() - start)
        assert record is not None  # noqa: S101
        bundle_dir = Path(record.path)
        archive_bytes = export_bundle(record.tag, root / "fm.bundle").stat().st_size
        fm_verify = [verify(bundle_dir) for _ in range(args.runs)]

        big = torch.nn.Linear(7000, 7000)  # ~196 MB of float32 weights
        dk.models.save("big", big)
        (service_dir / "big_service.py").write_text(SERVICE.format(name="big"))
        big_record = build(make_spec(service="big_service.py:Service", name="big", include=["big_service.py"]),
                           base_dir=service_dir)
        big_verify = [verify(Path(big_record.path)) for _ in range(max(3, args.runs // 3))]

    def throughput(reports: list[Any]) -> float:
        return round(statistics.median(r.mb_per_s for r in reports), 1)

    save_ratio, save_ratio_of_medians = _ratios(dk_save, pt_save)
    save_new_ratio, _ = _ratios(dk_save_2, pt_save_new)
    load_ratio, load_ratio_of_medians = _ratios(dk_load, pt_load)
    verified_ratio, _ = _ratios(dk_load_verified, pt_load_2)
    result = {
        "python": sys.version.split()[0], "torch": torch.__version__, "runs": args.runs,
        "model_save_ms": _median_ms(dk_save), "torch_save_ms": _median_ms(pt_save),
        "model_save_ratio": round(save_ratio, 3), "model_save_ratio_of_medians": round(save_ratio_of_medians, 3),
        "torch_save_new_file_ms": _median_ms(pt_save_new),
        "model_save_ratio_vs_new_file": round(save_new_ratio, 3),
        "model_load_ms": _median_ms(dk_load), "torch_load_ms": _median_ms(pt_load),
        "model_load_ratio": round(load_ratio, 3), "model_load_ratio_of_medians": round(load_ratio_of_medians, 3),
        "model_load_full_hash_check_ms": _median_ms(dk_load_verified),
        "model_load_full_hash_check_ratio": round(verified_ratio, 3),
        "bundle_build_ms": _median_ms(build_times),
        "bundle_size_bytes": record.size, "bundle_archive_bytes": archive_bytes,
        "verify_fashion_mnist_mb_per_s": throughput(fm_verify),
        "verify_fashion_mnist_ms": _median_ms([r.seconds for r in fm_verify]),
        "verify_mb_per_s": throughput(big_verify),
        "verify_big_bytes": big_verify[0].bytes,
        "targets": TARGETS,
        "meets": {"model_save_ratio": save_ratio <= TARGETS["model_save_ratio"],
                  "model_load_ratio": load_ratio <= TARGETS["model_load_ratio"],
                  "verify_mb_per_s": throughput(big_verify) >= TARGETS["verify_mb_per_s"]},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
