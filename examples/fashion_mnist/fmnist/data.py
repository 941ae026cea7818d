"""The Fashion-MNIST data: download (checksummed, resumable, cached atomically) or the offline default.

Fashion-MNIST is four gzip files in the IDX format. :func:`load_fashion_mnist` finds them in
``data_dir`` (files a user already has) or downloads them from ``base_url`` into the cache,
resuming a ``.part`` file left by an interrupted download, checking each file's MD5, and
renaming it into place only when complete. :func:`load_digits_28` is the embedded default
that works with no network: scikit-learn's 8×8 digits, scaled to 28×28.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dosirak.artifacts.materializers.base import Materializer
from dosirak.artifacts.materializers.registry import register

log = logging.getLogger(__name__)

MIRROR = "https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
#: file name -> MD5 (the checksums published with the dataset)
FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DIGIT_CLASSES = [f"digit {d}" for d in range(10)]


class DatasetUnavailableError(RuntimeError):
    """The dataset could not be found locally nor downloaded."""


@dataclass
class Split:
    """Images (``uint8``, N×28×28), integer labels, and the human name of each class."""

    images: np.ndarray
    labels: np.ndarray
    classes: list[str] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return int(self.labels.shape[0])


class SplitMaterializer(Materializer):
    """A :class:`Split` as one ``split.npz`` (no pickle)."""

    version = "1"

    def save(self, obj: Split, path: Path) -> None:
        with open(path / "split.npz", "wb") as fh:
            np.savez(fh, images=obj.images, labels=obj.labels, classes=np.array(obj.classes),
                     source=np.array(obj.source))

    def load(self, path: Path, data_type: type | None) -> Split:
        with np.load(path / "split.npz", allow_pickle=False) as data:
            return Split(data["images"], data["labels"], [str(c) for c in data["classes"]], str(data["source"]))

    def summary(self, obj: Split) -> dict[str, Any]:
        return {"samples": len(obj), "shape": list(obj.images.shape), "source": obj.source}


register(Split, SplitMaterializer)


def read_idx(path: Path) -> np.ndarray:
    """Read one gzip'd IDX file (unsigned bytes) into an array of its declared shape."""
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise DatasetUnavailableError(f"{path} is not an unsigned-byte IDX file")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape).copy()


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, target: Path, md5: str | None, *, timeout_s: float = 5.0, progress: bool = True) -> Path:
    """Download ``url`` to ``target``: resume a ``.part`` file, check the MD5, rename into place."""
    import httpx
    from tqdm import tqdm

    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        with httpx.stream("GET", url, headers=headers, timeout=timeout_s, follow_redirects=True) as resp:
            if resp.status_code == 416:  # the part file is already complete
                pass
            elif resp.status_code not in (200, 206):
                raise DatasetUnavailableError(f"GET {url} answered {resp.status_code}")
            else:
                if resp.status_code == 200:
                    have = 0  # the server ignored the range: start over
                total = int(resp.headers.get("content-length") or 0) + have
                with open(part, "ab" if have else "wb") as fh, tqdm(
                    total=total or None, initial=have, unit="B", unit_scale=True, desc=target.name,
                    disable=not progress, leave=False,
                ) as bar:
                    for chunk in resp.iter_bytes(1 << 16):
                        fh.write(chunk)
                        bar.update(len(chunk))
    except httpx.HTTPError as exc:
        raise DatasetUnavailableError(f"cannot download {url}: {type(exc).__name__}: {exc}") from exc
    if md5 is not None and (got := _md5(part)) != md5:
        part.unlink()
        raise DatasetUnavailableError(f"{url}: checksum mismatch (md5 {got}, expected {md5}); the partial file "
                                      "was removed, run again to download it afresh")
    os.replace(part, target)
    return target


def load_fashion_mnist(
    data_dir: Path | None, cache_dir: Path, base_url: str = MIRROR, *, checksums: dict[str, str] | None = None,
    timeout_s: float = 5.0,
) -> tuple[Split, Split]:
    """The train and test splits, from ``data_dir``, the cache, or a download into the cache."""
    sums = FILES if checksums is None else checksums
    paths: dict[str, Path] = {}
    for name, md5 in sums.items():
        given = data_dir / name if data_dir is not None else None
        cached = cache_dir / name
        if given is not None and given.is_file():
            paths[name] = given
        elif cached.is_file():
            paths[name] = cached
        else:
            log.info("downloading %s%s", base_url, name)
            paths[name] = download(base_url.rstrip("/") + "/" + name, cached, md5, timeout_s=timeout_s)
    names = list(sums)
    source = f"fashion_mnist ({paths[names[0]].parent})"
    train = Split(read_idx(paths[names[0]]), read_idx(paths[names[1]]).astype(np.int64), FASHION_CLASSES, source)
    test = Split(read_idx(paths[names[2]]), read_idx(paths[names[3]]).astype(np.int64), FASHION_CLASSES, source)
    return train, test


def load_digits_28(test_fraction: float = 0.2, seed: int = 0) -> tuple[Split, Split]:
    """scikit-learn's embedded 8×8 digits, scaled to 28×28 ``uint8`` images (works offline)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = (digits.images * (255.0 / 16.0)).astype(np.uint8)
    images = np.stack([np.asarray(Image.fromarray(img).resize((28, 28), Image.Resampling.BILINEAR))
                       for img in small])
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    cut = int(len(labels) * (1 - test_fraction))
    tr, te = order[:cut], order[cut:]
    source = "embedded digits (scikit-learn 8x8, scaled to 28x28)"
    return (Split(images[tr], labels[tr], DIGIT_CLASSES, source), Split(images[te], labels[te], DIGIT_CLASSES, source))


__all__ = ["FASHION_CLASSES", "FILES", "MIRROR", "DatasetUnavailableError", "Split", "SplitMaterializer",
           "download", "load_digits_28", "load_fashion_mnist", "read_idx"]
