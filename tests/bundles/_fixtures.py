"""A Fashion-MNIST-shaped service and model, shared by the bundle tests."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from tests.ports import free_port  # noqa: F401 - re-exported for the bundle tests

SERVICE_SOURCE = '''
import numpy as np
import dosirak as dk


@dk.service(name="fashion_mnist")
class FashionMNIST:
    model = dk.model_ref("fashion_mnist:latest")

    def __init__(self) -> None:
        import torch

        self.torch = torch
        self.net = self.model.load()

    @dk.api(batchable=True, max_batch_size=32, max_latency_ms=5)
    def predict(self, images: np.ndarray) -> np.ndarray:
        with self.torch.no_grad():
            return self.net(self.torch.from_numpy(np.asarray(images, dtype=np.float32))).numpy()
'''


def make_mlp(seed: int = 0) -> Any:
    import torch

    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(784, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10),
    )


#: The smallest service: one JSON api, no model (bundles of it build in milliseconds).
ECHO_SERVICE = '''
import dosirak as dk


@dk.service(name="echo")
class Echo:
    @dk.api
    def echo(self, text: str) -> str:
        return text
'''


def build_echo_bundle(directory: Path) -> Path:
    """Build the echo service in ``directory`` into the current home's bundle store; its path."""
    from dosirak.bundles.builder import build
    from dosirak.bundles.spec import make_spec

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "service.py").write_text(ECHO_SERVICE)
    return Path(build(make_spec(service="service.py:Echo"), base_dir=directory).path)


def write_service(directory: Path, source: str = SERVICE_SOURCE) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "service.py").write_text(source, encoding="utf-8")
    return directory


def wait_ready(url: str, proc: subprocess.Popen[Any], timeout_s: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout_s}s")


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
