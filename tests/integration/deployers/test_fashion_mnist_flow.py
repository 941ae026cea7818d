"""The Fashion-MNIST flow end to end on the embedded dataset, with a real served process."""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dosirak import process
from dosirak.deployers import find_model_server, find_prediction_service
from dosirak.metadata.store import get_store
from tests.deployers.conftest import kill_deployments
from tests.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "fashion_mnist"


@pytest.fixture
def example(dosirak_home: Path) -> Iterator[Any]:
    sys.path.insert(0, str(EXAMPLE))
    import run

    run.ensure_stack()
    try:
        yield run
    finally:
        kill_deployments()
        sys.path.remove(str(EXAMPLE))


def _train(port: int) -> Any:
    from pipelines import training_fashion_mnist

    return training_fashion_mnist.run(config={"parameters": {"dataset": "digits", "port": port},
                                              "steps": {"trainer": {"parameters": {"epochs": 3}}}})


def _python_block_with(readme: Path, marker: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(), flags=re.S)
    [block] = [b for b in blocks if marker in b]
    return str(block)


def _run_readme_snippet(capsys: pytest.CaptureFixture[str], url: str | None) -> None:
    """The find_model_server code of both READMEs runs as written against the deployed model."""
    for readme in (EXAMPLE.parents[1] / "README.md", EXAMPLE / "README.md"):
        capsys.readouterr()
        exec(compile(_python_block_with(readme, "find_model_server("), str(readme), "exec"), {})  # noqa: S102
        printed = capsys.readouterr().out
        assert str(url) in printed and re.search(r"\[\d+ \d+\]", printed), printed


def test_train_deploy_predict_redeploy_and_kill(example: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np
    import torch

    import dosirak as dk
    from pipelines import inference_fashion_mnist

    port = free_port()
    training = _train(port)
    deployment = training.steps["model_deployer"].outputs["deployment"].load()
    assert deployment["deployed"] and deployment["url"] == f"http://127.0.0.1:{port}"
    [record] = find_model_server(pipeline_name="training_fashion_mnist", step_name="model_deployer",
                                 model_name="fashion_mnist")
    assert record.run_id == training.id and record.bundle_id is not None and record.model_version_id is not None

    inference = inference_fashion_mnist.run(dataset="digits", count=16)
    predictions = inference.steps["predictor"].outputs["predictions"].load()
    images = inference.steps["inference_loader"].outputs["output"].load()
    net = dk.models.get("fashion_mnist:latest").load()
    with torch.no_grad():
        own = net(torch.from_numpy(images.images.astype("float32") / 255.0).reshape(len(images), -1)).argmax(1)
    expected = [images.classes[i] for i in own.numpy()]
    assert [p["ndarray"] for p in predictions] == expected
    assert [p["image"] for p in predictions] == expected  # the image api resizes 28x28 to itself: same pixels
    _run_readme_snippet(capsys, record.url)

    # redeploy while a client keeps calling: no request may fail
    results: list[str] = []
    stop = threading.Event()

    def client() -> None:
        with find_prediction_service("training_fashion_mnist", "model_deployer", "fashion_mnist") as service:
            while not stop.is_set():
                try:
                    service.predict("predict_ndarray", images.images[:4])
                    results.append(service._client[0].url)
                except Exception as exc:  # noqa: BLE001 - every failure is recorded and fails the test
                    results.append(f"FAILED {type(exc).__name__}: {exc}")

    thread = threading.Thread(target=client)
    thread.start()
    try:
        second = _train(port)
        new = second.steps["model_deployer"].outputs["deployment"].load()
        served = len(results)
        deadline = time.monotonic() + 10
        while len(results) < served + 20 and time.monotonic() < deadline:  # the new service answers too
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
    failures = [r for r in results if r.startswith("FAILED")]
    assert not failures, failures[:3]
    assert new["url"] == deployment["url"] and len(results) >= served + 20  # the same address
    old = get_store().deployments.get_deployment(deployment["deployment_id"])
    assert old.status == "stopped" and old.extra["replaced_by"] == new["deployment_id"]
    assert not process.is_alive(old.pid, old.pid_start)

    # the service process dies: its status turns, and nothing running is found any more
    current = get_store().deployments.get_deployment(new["deployment_id"])
    os.kill(int(current.pid), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while process.is_alive(current.pid, current.pid_start) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert find_model_server(model_name="fashion_mnist") == []
    assert get_store().deployments.get_deployment(current.id).status == "failed"
    assert np.asarray(own).shape == (16,)
