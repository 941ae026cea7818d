"""Runs of one pipeline whose code changes between them, for comparisons: three runs, from two files.

The pipeline is written to a file, imported and run; a second version of the file changes
the ``score`` step's code (it logs another loss); a third run of the first version takes
every step from the cache.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

SOURCE = '''
import dosirak as dk
from dosirak import pipeline, step


@step
def make(n: int = 3) -> list[int]:
    return list(range(n))


@step
def score(values: list[int], lr: float = 0.1) -> float:
    for epoch in range(3):
        dk.log_metric("loss", {loss} / (epoch + 1), step=epoch)
    return float(sum(values)) * lr


@pipeline
def experiment(n: int = 3, lr: float = 0.1) -> None:
    score(make(n=n), lr=lr)
'''


def _load(path: Path, loss: float) -> Any:
    path.write_text(SOURCE.format(loss=loss))
    spec = importlib.util.spec_from_file_location(f"experiment_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def three_runs(where: Path) -> tuple[Any, Any, Any]:
    """(first run, a run with changed code and another input, a rerun of the first: all cache hits)."""
    first = _load(where / "v1.py", 1.0).experiment
    second = _load(where / "v2.py", 0.5).experiment
    a = first(n=3)
    b = second(n=4)
    c = first(n=3)
    return a, b, c


__all__ = ["three_runs"]
