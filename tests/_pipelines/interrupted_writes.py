"""Pipelines that a test kills with SIGKILL in the middle of writing an artifact.

* ``slow_write``: ``prepare`` finishes, then ``slow_blob``'s output is written 64 KiB at a
  time, slowly (about a minute in all), so the test can kill the process mid-write.
* ``hooked_write``: ``published``'s output is published, then its output hook writes the
  file named by ``DOSIRAK_TEST_HOOK_MARKER`` and blocks, so the test can kill the process
  between publishing the output and recording it.
* ``quick``: one tiny step, the "next run".
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Any

from dosirak import pipeline, step
from dosirak.artifacts.materializers.base import Materializer
from dosirak.artifacts.materializers.registry import register

CHUNK = 64 * 1024


class SlowBlob:
    """``chunks`` blocks of 64 KiB, written with ``pause`` seconds between blocks."""

    def __init__(self, chunks: int, pause: float) -> None:
        self.chunks = chunks
        self.pause = pause


class SlowBlobMaterializer(Materializer):
    version = "1"

    def save(self, obj: Any, path: Path) -> None:
        with open(path / "blob.bin", "wb") as fh:
            for _ in range(obj.chunks):
                fh.write(b"\0" * CHUNK)
                fh.flush()
                time.sleep(obj.pause)

    def load(self, path: Path, data_type: type | None) -> Any:
        return SlowBlob((path / "blob.bin").stat().st_size // CHUNK, 0.0)


register(SlowBlob, SlowBlobMaterializer)


class BlockAfterPublish:
    """An output hook that says it was called, then never returns."""

    def on_output_published(self, value: Any, *, artifact_id: str, output_name: str) -> None:
        Path(os.environ["DOSIRAK_TEST_HOOK_MARKER"]).write_text(artifact_id)
        while True:
            time.sleep(0.05)


@step
def prepare() -> list[int]:
    return list(range(1000))


@step
def slow_blob(numbers: list[int], chunks: int = 1000, pause: float = 0.05) -> SlowBlob:
    return SlowBlob(chunks, pause)


@step
def published(numbers: list[int]) -> Annotated[bytes, BlockAfterPublish()]:
    return b"y" * (256 * 1024)


@step
def tiny() -> int:
    return 1


@pipeline(enable_cache=False)
def slow_write() -> None:
    slow_blob(prepare())


@pipeline(enable_cache=False)
def hooked_write() -> None:
    published(prepare())


@pipeline(enable_cache=False)
def quick() -> None:
    tiny()
