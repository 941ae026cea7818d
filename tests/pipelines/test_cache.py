"""Cache keys: a code change, a parameter change or an input change misses; nothing else does."""

from __future__ import annotations

import importlib.util
import itertools
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from dosirak.pipelines import cache

_counter = itertools.count()

_TEMPLATE = '''
from dosirak import pipeline, step

calls = []


@step{decorator}
def produce(n: int = 1) -> int:
    calls.append("produce")
    {body}


@step
def consume(x: int) -> int:
    calls.append("consume")
    return x + 1


@pipeline(name="{pipeline_name}")
def cached(n: int = 1) -> None:
    consume(produce(n=n))
'''


def load_version(tmp_path: Path, *, decorator: str = "", body: str = "return abs(n)",
                 pipeline_name: str = "cached") -> ModuleType:
    """Write one version of the pipeline's source to its own file and import it."""
    name = f"cache_version_{next(_counter)}"
    path = tmp_path / f"{name}.py"
    path.write_text(_TEMPLATE.format(decorator=decorator, body=body, pipeline_name=pipeline_name))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _forget_versions() -> object:
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("cache_version_"):
            del sys.modules[name]


def statuses(run: object) -> dict[str, str]:
    return {name: s.status for name, s in run.steps.items()}  # type: ignore[attr-defined]


def test_unchanged_rerun_hits_and_relinks_the_same_artifacts(tmp_path: Path) -> None:
    v1 = load_version(tmp_path)
    first = v1.cached(n=2)
    second = v1.cached(n=2)
    assert statuses(first) == {"produce": "completed", "consume": "completed"}
    assert statuses(second) == {"produce": "cached", "consume": "cached"}
    assert v1.calls == ["produce", "consume"]
    assert second.steps["produce"].cached_from == first.steps["produce"].id
    assert second.steps["consume"].output.id == first.steps["consume"].output.id  # re-linked, not copied
    assert second.steps["consume"].output.load() == 3


def test_a_code_change_misses(tmp_path: Path) -> None:
    load_version(tmp_path).cached(n=2)
    v2 = load_version(tmp_path, body="return abs(n) * 10")
    run = v2.cached(n=2)
    assert statuses(run) == {"produce": "completed", "consume": "completed"}
    assert run.steps["consume"].output.load() == 21


def test_a_code_change_that_keeps_the_output_only_reruns_that_step(tmp_path: Path) -> None:
    load_version(tmp_path).cached(n=2)
    v2 = load_version(tmp_path, body="return abs(n) + 0  # refactored")
    run = v2.cached(n=2)
    assert statuses(run) == {"produce": "completed", "consume": "cached"}
    assert v2.calls == ["produce"]


def test_a_parameter_change_misses_and_changes_downstream_inputs(tmp_path: Path) -> None:
    v1 = load_version(tmp_path)
    v1.cached(n=2)
    run = v1.cached(n=3)
    assert statuses(run) == {"produce": "completed", "consume": "completed"}
    parts = run.steps["consume"].record.cache_parts
    assert set(parts) == {"source", "parameters", "inputs", "materializers"}


def test_an_input_with_the_same_content_hits_even_when_upstream_reran(tmp_path: Path) -> None:
    v1 = load_version(tmp_path)
    v1.cached(n=2)
    run = v1.cached(n=-2)  # abs(-2) == abs(2): produce misses on its parameter, consume's input is unchanged
    assert statuses(run) == {"produce": "completed", "consume": "cached"}


def test_editing_only_the_decorator_arguments_keeps_the_hit(tmp_path: Path) -> None:
    load_version(tmp_path).cached(n=2)
    v2 = load_version(tmp_path, decorator="(retries=2, retry_delay_s=0.5, enable_cache=True)")
    run = v2.cached(n=2)
    assert statuses(run) == {"produce": "cached", "consume": "cached"}
    assert v2.calls == []


def test_another_pipeline_with_the_same_steps_hits(tmp_path: Path) -> None:
    load_version(tmp_path).cached(n=2)
    run = load_version(tmp_path, pipeline_name="renamed").cached(n=2)
    assert statuses(run) == {"produce": "cached", "consume": "cached"}


def test_a_step_with_enable_cache_false_always_runs(tmp_path: Path) -> None:
    load_version(tmp_path).cached(n=2)
    v2 = load_version(tmp_path, decorator="(enable_cache=False)")
    run = v2.cached(n=2)
    assert statuses(run) == {"produce": "completed", "consume": "cached"}


def test_config_enable_cache_false_runs_every_step(tmp_path: Path) -> None:
    v1 = load_version(tmp_path)
    v1.cached(n=2)
    run = v1.cached.run(n=2, config={"enable_cache": False})
    assert statuses(run) == {"produce": "completed", "consume": "completed"}


def test_deleted_artifact_makes_cached_step_rerun(tmp_path: Path) -> None:
    v1 = load_version(tmp_path)
    first = v1.cached(n=2)
    shutil.rmtree(first.steps["produce"].output.uri)
    run = v1.cached(n=2)
    assert run.status == "completed"
    assert statuses(run) == {"produce": "completed", "consume": "cached"}
    assert run.steps["produce"].output.load() == 2
    assert v1.calls == ["produce", "consume", "produce"]


def test_explain_miss_names_each_changed_part() -> None:
    base = cache.cache_parts(source_hash="s", parameters={"n": 1}, input_hashes={"x": "h1", "y": "h2"},
                             materializer_versions={"out:output": "m@1"})
    assert cache.explain_miss(base, base) == []
    assert cache.explain_miss(None, base) == ["no earlier run of this step to reuse"]
    changed = cache.cache_parts(source_hash="s2", parameters={"n": 2}, input_hashes={"x": "h1", "y": "h3"},
                                materializer_versions={"out:output": "m@2"})
    assert cache.explain_miss(base, changed) == [
        "the step's code changed", "its parameters changed", "input(s) y changed content",
        "a materializer's format version changed",
    ]


def test_cache_key_is_stable_and_ignores_parameter_order() -> None:
    a = cache.cache_parts(source_hash="s", parameters={"a": 1, "b": 2}, input_hashes={}, materializer_versions={})
    b = cache.cache_parts(source_hash="s", parameters={"b": 2, "a": 1}, input_hashes={}, materializer_versions={})
    assert cache.cache_key(a) == cache.cache_key(b)
    c = cache.cache_parts(source_hash="s", parameters={"a": 1, "b": 3}, input_hashes={}, materializer_versions={})
    assert cache.cache_key(a) != cache.cache_key(c)


def test_an_explicit_argument_equal_to_the_default_hits() -> None:
    from dosirak import pipeline, step

    @step
    def scaled(factor: float = 1) -> float:
        return 2 * factor

    @pipeline
    def implicit() -> None:
        scaled()

    @pipeline
    def explicit() -> None:
        scaled(factor=1.0)

    implicit()
    assert statuses(explicit()) == {"scaled": "cached"}
