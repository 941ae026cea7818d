"""The example's dataset loading: download from a local HTTP server, resume, checksums, fallback."""

from __future__ import annotations

import gzip
import hashlib
import struct
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fashion_mnist"
sys.path.insert(0, str(EXAMPLE))

from fmnist import data  # noqa: E402


def _idx(array: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


class _RangeHandler(SimpleHTTPRequestHandler):
    """Serves files, honouring ``Range: bytes=N-`` (enough to test resuming)."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        start = int(self.headers.get("Range", "bytes=0-")[6:].split("-")[0] or 0)
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    root = tmp_path / "mirror"
    root.mkdir()
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte.gz": rng.integers(0, 255, (20, 28, 28)),
              "train-labels-idx1-ubyte.gz": rng.integers(0, 10, (20,)),
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 255, (5, 28, 28)),
              "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, (5,))}
    sums = {}
    for name, array in arrays.items():
        payload = _idx(array)
        (root / name).write_bytes(payload)
        sums[name] = hashlib.md5(payload, usedforsecurity=False).hexdigest()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_RangeHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", sums, root
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_downloads_checks_and_caches_the_four_files(mirror: tuple[str, dict[str, str], Path], tmp_path: Path) -> None:
    url, sums, _ = mirror
    cache = tmp_path / "cache"
    train, test = data.load_fashion_mnist(None, cache, url, checksums=sums)
    assert train.images.shape == (20, 28, 28) and test.labels.shape == (5,)
    assert train.classes[9] == "Ankle boot"
    assert sorted(p.name for p in cache.iterdir()) == sorted(sums)  # no .part left


def test_resumes_a_partial_download(mirror: tuple[str, dict[str, str], Path], tmp_path: Path) -> None:
    url, sums, root = mirror
    name = "train-images-idx3-ubyte.gz"
    full = (root / name).read_bytes()
    target = tmp_path / "cache" / name
    target.parent.mkdir()
    target.with_name(name + ".part").write_bytes(full[:100])
    data.download(url + name, target, sums[name], progress=False)
    assert target.read_bytes() == full


def test_a_checksum_mismatch_is_refused_and_nothing_cached(mirror: tuple[str, dict[str, str], Path],
                                                          tmp_path: Path) -> None:
    url, sums, _ = mirror
    name = "t10k-labels-idx1-ubyte.gz"
    target = tmp_path / "cache" / name
    with pytest.raises(data.DatasetUnavailableError, match="checksum mismatch"):
        data.download(url + name, target, "0" * 32, progress=False)
    assert not target.exists() and not target.with_name(name + ".part").exists()


def test_an_unreachable_url_without_fallback_is_a_clear_error(tmp_path: Path) -> None:
    from fmnist.steps import importer

    with pytest.raises(data.DatasetUnavailableError, match="cannot download http://127.0.0.1:9/.*data_dir"):
        importer(dataset="fashion_mnist", base_url="http://127.0.0.1:9/", fallback=False, timeout_s=2.0)


def test_an_unreachable_url_falls_back_to_the_embedded_digits(capsys: pytest.CaptureFixture[str]) -> None:
    from fmnist.steps import importer

    train, test = importer(dataset="fashion_mnist", base_url="http://127.0.0.1:9/", timeout_s=2.0)
    assert "falling back to the embedded offline dataset" in capsys.readouterr().out
    assert train.images.shape[1:] == (28, 28) and train.images.dtype == np.uint8
    assert len(train) + len(test) == 1797 and test.classes[3] == "digit 3"
