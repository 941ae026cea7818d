"""A step's invocation travels (pickles) and computes with the artifact store alone."""

from __future__ import annotations

import pickle
import uuid
from pathlib import Path
from typing import Annotated

from dosirak import pipeline, step
from dosirak.artifacts.store import LocalArtifactStore
from dosirak.metadata import store as metadata_store
from dosirak.pipelines.invocation import (
    ArtifactStoreRef,
    Placement,
    StepInvocation,
    StepResult,
    compute,
    load,
)
from dosirak.settings import get_settings


@step
def halves(numbers: list[int], by: int = 2) -> tuple[Annotated[list[int], "low"], Annotated[int, "count"]]:
    print("halving", len(numbers))
    return [n // by for n in numbers], len(numbers)


@step
def numbers() -> list[int]:
    return [4, 6, 9]


@pipeline
def halving() -> None:
    halves(numbers(), by=3)


def _invocation(artifact_root: str) -> StepInvocation:
    """The invocation of ``halves`` fed by an input artifact written with ``compute`` itself."""
    store = LocalArtifactStore(artifact_root)
    dag = halving.compile()
    run_id = str(uuid.uuid4())
    ref = ArtifactStoreRef.of(store)
    source = StepInvocation(pipeline_name="halving", run_id=run_id, run_name="r", step_run_id=str(uuid.uuid4()),
                            node=dag.node("numbers"), inputs={}, artifact_store=ref,
                            log_uri=store.log_path(run_id, "numbers"))
    produced = compute(source)
    assert produced.status == "completed", produced.error
    return StepInvocation(pipeline_name="halving", run_id=run_id, run_name="r", step_run_id=str(uuid.uuid4()),
                          node=dag.node("halves"), inputs={"numbers": produced.outputs["output"]},
                          artifact_store=ref, log_uri=store.log_path(run_id, "halves"))


def test_an_invocation_pickles_and_computes_with_the_artifact_store_but_no_metadata_store() -> None:
    root = str(get_settings().artifact_root)
    travelled = pickle.loads(pickle.dumps(_invocation(root)))
    assert travelled.parameters == {"by": 3}
    result = compute(travelled)  # opens the artifact store from the reference it carries
    assert result.status == "completed", result.traceback
    assert metadata_store._opened == {}  # no metadata store was opened to compute
    store = LocalArtifactStore(root)
    assert load(store, result.outputs["low"], list[int]) == [1, 2, 3]
    assert load(store, result.outputs["count"], int) == 3
    assert result.logs_uri is not None and "halving 3" in store.read_text(result.logs_uri)


def test_a_result_travels_back_without_the_python_values() -> None:
    result = compute(_invocation(str(get_settings().artifact_root)))
    assert result.values == {"low": [1, 2, 3], "count": 3}
    back = pickle.loads(pickle.dumps(result))
    assert back.values is None
    assert back.outputs == result.outputs and back.status == "completed"


def test_a_result_says_which_host_process_and_thread_computed_it_and_carries_that_back() -> None:
    import os
    import socket
    import threading

    invocation = _invocation(str(get_settings().artifact_root))
    seen: list[StepResult] = []
    worker = threading.Thread(target=lambda: seen.append(compute(invocation)), name="some-worker")
    worker.start()
    worker.join(timeout=60)
    (result,) = seen
    expected = Placement(host=socket.gethostname(), worker=f"pid {os.getpid()} thread some-worker", resources={})
    assert result.placement == expected
    assert pickle.loads(pickle.dumps(result)).placement == expected


def test_a_failing_step_is_a_failed_result_with_its_traceback_not_an_exception() -> None:
    @step
    def broken() -> int:
        raise ValueError("no good")

    @pipeline
    def broken_pipeline() -> None:
        broken()

    store = LocalArtifactStore(str(get_settings().artifact_root))
    run_id = str(uuid.uuid4())
    invocation = StepInvocation(pipeline_name="p", run_id=run_id, run_name="r", step_run_id=str(uuid.uuid4()),
                                node=broken_pipeline.compile().node("broken"), inputs={},
                                artifact_store=ArtifactStoreRef.of(store), log_uri=store.log_path(run_id, "broken"))
    result = compute(invocation, store)
    assert (result.status, result.error, result.new) == ("failed", "ValueError: no good", [])
    assert 'raise ValueError("no good")' in (result.traceback or "")


def test_a_step_in_a_file_loaded_from_outside_sys_path_travels_by_value(tmp_path: Path) -> None:
    import importlib.util
    import sys

    from dosirak.pipelines.step import Step, _step_named

    source = tmp_path / "elsewhere_steps.py"
    source.write_text("from dosirak import step\n\n@step\ndef far() -> int:\n    return 5\n")
    spec = importlib.util.spec_from_file_location("elsewhere_steps", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["elsewhere_steps"] = module  # as `dosirak run FILE.py:PIPELINE` loads a file
    try:
        spec.loader.exec_module(module)
        assert module.far.__reduce__()[0] is Step  # its function and options: cloudpickle carries them
    finally:
        del sys.modules["elsewhere_steps"]
    assert halves.__reduce__()[0] is _step_named  # this module is importable: by name
