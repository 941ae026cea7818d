"""The Fashion-MNIST example's bundle as a real image (CPU PyTorch from the wheelhouse), served as SageMaker does."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from dosirak.bundles.builder import build_from_file
from dosirak.bundles.builders import ImageBuilder
from dosirak.bundles.container import build_image
from dosirak.metadata.records import ImageRecord
from tests.integration.bundles.conftest import Container, start

pytestmark = [pytest.mark.integration, pytest.mark.slow]
torch = pytest.importorskip("torch")

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "fashion_mnist"
ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"


@pytest.fixture
def fashion_image(image_builder: ImageBuilder) -> Iterator[tuple[ImageRecord, object, float]]:
    import dosirak as dk

    torch.manual_seed(7)
    net = torch.nn.Sequential(torch.nn.Linear(28 * 28, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    dk.models.save("fashion_mnist", net, labels={"dataset": "fashion_mnist"})
    bundle = build_from_file(EXAMPLE / "dosirak.yaml")
    started = time.perf_counter()
    image = build_image(bundle.tag, image=f"localhost/dosirak-test-fashion-mnist:{uuid.uuid4().hex[:8]}")
    seconds = time.perf_counter() - started
    try:
        yield image, net, seconds
    finally:
        image_builder.remove(image.reference)


def test_the_example_image_serves_both_apis_through_invocations(
        fashion_image: tuple[ImageRecord, object, float], containers: list[Container]) -> None:
    from PIL import Image

    image, net, seconds = fashion_image
    print(f"fashion_mnist image {image.reference}: {image.size / 1e6:.0f} MB, built in {seconds:.0f} s")  # noqa: T201
    assert "torch" in (Path(image.extra["context"]) / "wheels" / "requirements.txt").read_text()
    container = start(containers, image.reference, "serve", port_env="SAGEMAKER_BIND_TO_PORT")
    container.wait_ping()
    images = np.random.default_rng(3).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    with torch.no_grad():
        expected = net(torch.from_numpy(images.astype(np.float32) / 255.0).reshape(5, -1)).argmax(1).numpy()  # type: ignore[operator]
    body = io.BytesIO()
    np.save(body, images)
    answer = httpx.post(container.url + "/invocations", content=body.getvalue(), timeout=60,
                        headers={ATTRIBUTES: "api=predict_ndarray", "content-type": "application/x-npy"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == expected.tolist()
    png = io.BytesIO()
    Image.fromarray(images[0]).save(png, format="PNG")
    label = httpx.post(container.url + "/invocations", content=png.getvalue(), timeout=60,
                       headers={ATTRIBUTES: "api=predict_image", "content-type": "image/png"})
    assert label.status_code == 200, label.text
    assert label.json() == _example_classes()[int(expected[0])]
    default = httpx.post(container.url + "/invocations", json=images[:2].tolist(), timeout=60)
    assert default.json() == expected[:2].tolist()  # no attribute: the first api, predict_ndarray


def _example_classes() -> list[str]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("fashion_mnist_example_service", EXAMPLE / "service.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.FASHION_CLASSES)
