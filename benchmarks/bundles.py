"""Model registry and bundle speed, each against its baseline measured in the same run.

    python benchmarks/bundles.py [--runs 15]

Prints JSON. Figures are medians over --runs repetitions:
- model save / load of the Fashion-MNIST MLP (784->512->512->10) with ``dk.models`` vs plain
  ``torch.save(module)`` / ``torch.load(path, weights_only=False)`` of the same module,
  with the ratio (target: within 1.5x). dk's figures include the metadata-store
  transaction and file hashing on save, and the store lookup and size check on load (the
  default for the local store); ``model_load_full_hash_check_*`` adds the SHA-256 check
  done for versions from a bundle;
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


def _times(fn: Callable[[], Any], runs: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def _median_ms(times: list[float]) -> float:
    return round(statistics.median(times) * 1000, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
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

        # interleave dk and plain runs so both see the same machine state
        dk_save, pt_save, dk_load, pt_load, dk_load_verified = [], [], [], [], []
        for _ in range(2):  # warm-up: imports, store creation, page cache
            dk.models.save("fashion_mnist", net)
            torch.save(net, plain)
            dk.models.get("fashion_mnist:latest").load()
            torch.load(plain, weights_only=False)
        for _ in range(args.runs):
            dk_save += _times(lambda: dk.models.save("fashion_mnist", net), 1, warmup=0)
            pt_save += _times(lambda: torch.save(net, plain), 1, warmup=0)
            dk_load += _times(lambda: dk.models.get("fashion_mnist:latest").load(), 1, warmup=0)
            pt_load += _times(lambda: torch.load(plain, weights_only=False), 1, warmup=0)
            dk_load_verified += _times(lambda: dk.models.get("fashion_mnist:latest").load(verify=True), 1, warmup=0)
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

    save_ratio = statistics.median(dk_save) / statistics.median(pt_save)
    load_ratio = statistics.median(dk_load) / statistics.median(pt_load)
    result = {
        "python": sys.version.split()[0], "torch": torch.__version__, "runs": args.runs,
        "model_save_ms": _median_ms(dk_save), "torch_save_ms": _median_ms(pt_save),
        "model_save_ratio": round(save_ratio, 3),
        "model_load_ms": _median_ms(dk_load), "torch_load_ms": _median_ms(pt_load),
        "model_load_ratio": round(load_ratio, 3),
        "model_load_full_hash_check_ms": _median_ms(dk_load_verified),
        "model_load_full_hash_check_ratio": round(statistics.median(dk_load_verified) / statistics.median(pt_load), 3),
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
