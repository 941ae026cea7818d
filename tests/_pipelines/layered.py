"""The README's shape of parameters: a pipeline parameter passed on to a step that a config file also sets."""

from __future__ import annotations

from dosirak import pipeline, step


@step
def load(count: int = 1000) -> int:
    return count


@step
def fit(count: int, l2: float = 0.1, shuffle: bool = False) -> float:
    return count * l2 if not shuffle else -count * l2


@pipeline(enable_cache=False)
def train(count: int = 1000, l2: float = 0.1, verbose: bool = False) -> None:
    fit(load(count=count), l2=l2, shuffle=False)


#: The README's config.yaml: a pipeline parameter, and the step parameter the pipeline passes l2 to.
CONFIG = {"parameters": {"count": 2000}, "steps": {"fit": {"parameters": {"l2": 0.5, "shuffle": True}}}}
