"""Running one step: failures, skips, retries, output checks and captured logs."""

from __future__ import annotations

import logging
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest

from dosirak import Client, get_step_context, pipeline, step
from dosirak.artifacts.materializers.base import Materializer
from dosirak.errors import RunFailedError

attempts_seen: list[int] = []


@step
def first() -> int:
    return 41


@step
def explode(x: int) -> int:
    raise ValueError(f"cannot handle {x}")


@step
def after(x: int) -> int:
    return x + 1


@step
def independent() -> str:
    return "still ran"


@step(retries=3, retry_delay_s=0.0)
def flaky() -> int:
    ctx = get_step_context()
    assert ctx is not None
    attempts_seen.append(ctx.attempt)
    if ctx.attempt < 3:
        raise ConnectionError(f"attempt {ctx.attempt} lost the connection")
    return ctx.attempt


@step(retries=1, retry_delay_s=0.0)
def hopeless() -> int:
    raise ConnectionError("never works")


@pipeline
def failing() -> None:
    x = first()
    y = explode(x)
    after(y)
    independent()


def test_a_raising_step_fails_the_run_and_raises_run_failed_error_naming_it() -> None:
    with pytest.raises(RunFailedError, match=r"pipeline 'failing' run .* failed at step 'explode': "
                                             r"ValueError: cannot handle 41") as info:
        failing()
    view = info.value.run
    assert view.status == "failed"
    assert "step 'explode' failed" in view.error
    steps = view.steps
    assert {n: s.status for n, s in steps.items()} == {
        "first": "completed", "explode": "failed", "after": "skipped", "independent": "completed"}
    assert 'raise ValueError(f"cannot handle {x}")' in steps["explode"].traceback
    assert steps["explode"].error == "ValueError: cannot handle 41"
    assert steps["after"].error == "skipped because step 'explode' did not finish"


def test_finished_outputs_of_a_failed_run_remain_loadable() -> None:
    with pytest.raises(RunFailedError) as info:
        failing()
    steps = info.value.run.steps
    assert steps["first"].output.load() == 41
    assert steps["independent"].output.load() == "still ran"
    assert steps["explode"].outputs == {}


def test_a_failed_run_is_recorded_and_readable_through_the_client() -> None:
    with pytest.raises(RunFailedError) as info:
        failing()
    again = Client().get_run(info.value.run.id)
    assert again.status == "failed"
    assert again.steps["explode"].status == "failed"


def test_retries_succeed_on_a_later_attempt_with_attempts_recorded() -> None:
    @pipeline
    def retrying() -> None:
        flaky()

    attempts_seen.clear()
    run = retrying()
    assert run.status == "completed"
    assert attempts_seen == [1, 2, 3]
    assert run.steps["flaky"].attempts == 3
    assert run.steps["flaky"].output.load() == 3


def test_retries_give_up_after_the_last_attempt() -> None:
    @pipeline
    def giving_up() -> None:
        hopeless()

    with pytest.raises(RunFailedError, match="never works") as info:
        giving_up()
    assert info.value.run.steps["hopeless"].attempts == 2


def test_retries_wait_with_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr("dosirak.pipelines.invocation.time.sleep", waits.append)

    @step(retries=2, retry_delay_s=0.5)
    def always_fails() -> int:
        raise OSError("down")

    @pipeline
    def backing_off() -> None:
        always_fails()

    with pytest.raises(RunFailedError):
        backing_off()
    assert waits == [0.5, 1.0]


def test_a_returned_value_of_the_wrong_type_fails_the_step() -> None:
    @step
    def liar() -> int:
        return "not an int"  # type: ignore[return-value]

    @pipeline
    def lying() -> None:
        liar()

    with pytest.raises(RunFailedError, match=r"StepOutputError: step 'liar' output 'output' is declared as int "
                                             r"but the step returned str"):
        lying()


def test_a_multi_output_step_returning_too_few_values_fails() -> None:
    @step
    def short() -> tuple[Annotated[int, "a"], Annotated[int, "b"]]:
        return (1,)  # type: ignore[return-value]

    @pipeline
    def shorted() -> None:
        short()

    with pytest.raises(RunFailedError, match="declares 2 outputs .a, b. but returned tuple"):
        shorted()


def _generator() -> Iterator[int]:
    yield 1


@pytest.mark.parametrize("make", [_generator, threading.Lock], ids=["generator", "lock"])
def test_an_output_with_no_materializer_and_no_pickle_support_fails_with_a_materializer_error(make: Any) -> None:
    @step
    def unpicklable() -> Any:
        return make()

    @pipeline
    def unsaveable() -> None:
        unpicklable()

    with pytest.raises(RunFailedError, match=r"MaterializerError: no materializer for type .*, and it cannot be "
                                             r"pickled .*register a Materializer for it") as info:
        unsaveable()
    assert info.value.run.steps["unpicklable"].outputs == {}


def test_a_failed_output_leaves_no_artifact_files_behind() -> None:
    @step
    def half() -> tuple[Annotated[int, "ok"], Annotated[Any, "bad"]]:
        return 1, threading.Lock()

    @pipeline
    def half_written() -> None:
        half()

    with pytest.raises(RunFailedError) as info:
        half_written()
    from dosirak.settings import get_settings

    run_dir = get_settings().artifact_root / info.value.run.id
    leftovers = [p for p in run_dir.rglob("*") if p.is_file() and ".logs" not in p.parts] if run_dir.exists() else []
    assert leftovers == []


def test_step_logs_capture_print_stderr_and_logging() -> None:
    @step
    def chatty() -> int:
        print("to stdout")
        print("to stderr", file=sys.stderr)
        logging.getLogger("user.code").info("via logging")
        return 1

    @pipeline
    def talking() -> None:
        chatty()

    run = talking()
    text = run.steps["chatty"].logs()
    assert "to stdout" in text
    assert "to stderr" in text
    assert "INFO user.code: via logging" in text
    assert run.steps["chatty"].logs(limit=4) == text[:4]


def test_step_logs_leave_out_per_request_info_of_http_clients() -> None:
    @step
    def calls_a_service() -> int:
        logging.getLogger("httpx").info('HTTP Request: GET http://127.0.0.1:3001/readyz "HTTP/1.1 200 OK"')
        logging.getLogger("httpx").warning("retrying")
        logging.getLogger("user.code").info("called it")
        return 1

    @pipeline
    def calling() -> None:
        calls_a_service()

    run = calling()
    text = run.steps["calls_a_service"].logs()
    assert "HTTP Request" not in text
    assert "WARNING httpx: retrying" in text and "INFO user.code: called it" in text
    assert logging.getLogger("httpx").level == logging.NOTSET


def test_a_silent_step_has_empty_logs_and_logging_is_restored() -> None:
    root = logging.getLogger()
    handlers, level, out = list(root.handlers), root.level, sys.stdout

    @pipeline
    def silent() -> None:
        first()

    run = silent()
    assert run.steps["first"].logs() == ""
    assert (list(root.handlers), root.level, sys.stdout) == (handlers, level, out)


def test_logs_of_a_failing_step_are_kept() -> None:
    @step
    def noisy_failure() -> int:
        print("about to fail")
        raise RuntimeError("failed loudly")

    @pipeline
    def noisy() -> None:
        noisy_failure()

    with pytest.raises(RunFailedError) as info:
        noisy()
    assert "about to fail" in info.value.run.steps["noisy_failure"].logs()


def test_step_context_names_the_run_and_step() -> None:
    seen: dict[str, Any] = {}

    @step
    def introspect() -> int:
        ctx = get_step_context()
        assert ctx is not None
        seen.update(run_id=ctx.run_id, step=ctx.step_name, pipeline=ctx.pipeline_name)
        return 0

    @pipeline
    def context() -> None:
        introspect()

    run = context()
    assert seen == {"run_id": run.id, "step": "introspect", "pipeline": "context"}
    assert get_step_context() is None


def test_a_keyboard_interrupt_in_a_step_marks_the_run_cancelled_by_the_user_and_propagates(
        capsys: pytest.CaptureFixture[str]) -> None:
    @step
    def interrupted() -> int:
        raise KeyboardInterrupt

    @pipeline
    def stopping() -> None:
        after(interrupted())

    with pytest.raises(KeyboardInterrupt):
        stopping()
    (run,) = Client().list_runs("stopping")
    assert run.status == "cancelled"
    assert run.error == "cancelled by the user during step 'interrupted'"
    assert {n: s.status for n, s in run.steps.items()} == {"interrupted": "cancelled", "after": "skipped"}
    assert run.steps["interrupted"].error == "cancelled by the user"
    assert run.steps["after"].error == "the run was cancelled by the user"
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith(f"run {run.name}")]
    assert said[-1] == (f"run {run.name} cancelled by the user during step 'interrupted'; "
                        "no step had finished, a rerun starts from the first one")


def test_an_exception_without_a_message_is_named_without_a_dangling_colon() -> None:
    @step
    def bare() -> int:
        raise ValueError

    @pipeline
    def bare_failure() -> None:
        bare()

    with pytest.raises(RunFailedError):
        bare_failure()
    (run,) = Client().list_runs("bare_failure")
    assert run.steps["bare"].error == "ValueError"


def test_output_path_is_the_artifact_directory(tmp_path: Path) -> None:
    @pipeline
    def one() -> None:
        first()

    artifact = one().steps["first"].output
    assert Path(artifact.uri).is_dir()
    assert artifact.type == "builtins.int"
    assert artifact.size > 0


def test_an_any_typed_output_is_saved_by_the_type_of_its_value() -> None:
    @step
    def dynamic() -> Any:
        return {"a": [1, 2]}

    @pipeline
    def untyped() -> None:
        dynamic()

    artifact = untyped().steps["dynamic"].output
    assert artifact.type == "builtins.dict"
    assert artifact.load() == {"a": [1, 2]}


def test_a_corrupt_input_artifact_fails_the_consuming_step_with_artifact_corrupt_error() -> None:
    @step
    def source() -> list[int]:
        return [1, 2]

    @step(enable_cache=False)
    def consumer(xs: list[int]) -> int:
        return len(xs)

    @pipeline
    def corrupting() -> None:
        consumer(source())

    first = corrupting()
    (Path(first.steps["source"].output.uri) / "data.json").write_text("{broken")
    with pytest.raises(RunFailedError, match="failed at step 'consumer': ArtifactCorruptError: .*not valid JSON"):
        corrupting()


@step
def big_blob(size: int = 4 << 20) -> bytes:
    return b"x" * size


@step
def fill_then_return(directory: str = "") -> int:
    from tests.conftest import fill_disk

    fill_disk(Path(directory))
    return 7


def _use_home(monkeypatch: pytest.MonkeyPatch, home: Path, metadata_db: Path) -> None:
    from dosirak.metadata.store import close_stores
    from dosirak.settings import reset_settings

    close_stores()
    monkeypatch.setenv("DOSIRAK_HOME", str(home))
    monkeypatch.setenv("DOSIRAK_METADATA_URL", f"sqlite:///{metadata_db}")
    reset_settings()


def test_a_step_whose_output_fills_the_disk_fails_saying_disk_full_and_leaves_nothing(
    small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    _use_home(monkeypatch, small_disk, tmp_path / "metadata.db")  # artifacts on the small disk, the store not

    @pipeline(enable_cache=False)
    def blob() -> None:
        big_blob()

    with pytest.raises(RunFailedError, match="disk full") as info:
        blob()
    error = info.value.run.steps["big_blob"].error
    assert "disk full" in error and "dosirak gc" in error
    artifacts = small_disk / "artifacts"
    assert [p for p in artifacts.rglob("*") if p.is_file() and ".logs" not in p.parts] == []
    assert not (artifacts / info.value.run.id / "big_blob" / "output").exists()


def test_a_store_that_fills_up_before_a_step_is_recorded_keeps_no_published_output(
    small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dosirak.errors import StoreError

    _use_home(monkeypatch, tmp_path / "home", small_disk / "metadata.db")  # the store on the small disk

    @pipeline(enable_cache=False)
    def filling() -> None:
        fill_then_return(directory=str(small_disk))

    with pytest.raises(StoreError, match="disk full"):
        filling()
    (small_disk / "filler").unlink()
    artifacts = tmp_path / "home" / "artifacts"
    run_dirs = [p for p in artifacts.iterdir() if not p.name.startswith(".")]
    assert len(run_dirs) == 1
    outputs = [p for p in run_dirs[0].rglob("*") if ".logs" not in p.parts and p.name not in ("fill_then_return",)]
    assert outputs == []
    assert [p for p in artifacts.rglob("*") if p.is_file() and ".logs" not in p.parts] == []
    assert Client().list_runs()[0].steps["fill_then_return"].outputs == {}


@step
def fill_print_and_return(directory: str = "") -> bytes:
    from tests.conftest import fill_disk

    fill_disk(Path(directory))
    for i in range(200):
        print(f"line {i} of a step that keeps talking on a full disk", flush=True)
    return b"x" * 100_000


def test_a_step_that_prints_on_a_full_disk_fails_on_its_output_saying_disk_full(
    small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    _use_home(monkeypatch, small_disk, tmp_path / "metadata.db")  # artifacts and logs on the small disk

    @pipeline(enable_cache=False)
    def talkative() -> None:
        fill_print_and_return(directory=str(small_disk))

    with pytest.raises(RunFailedError, match="ArtifactError: disk full"):
        talkative()


# ------------------------------------------- a failed step leaves no orphaned bytes, on any backend
class HalfThenCrash(Materializer):
    """Writes part of its output, then fails: a materializer crashing half-way."""

    def save(self, obj: Any, path: Path) -> None:
        (path / "part.bin").write_bytes(b"p" * 10_000)
        raise OSError("the materializer crashed half-way")

    def load(self, path: Path, data_type: type | None) -> Any:
        raise AssertionError("never saved")


class RegistryDown:
    def on_output_published(self, value: Any, *, artifact_id: str, output_name: str) -> None:
        raise RuntimeError("model registry unavailable")


@pytest.fixture(params=["local", "fsspec-memory"])
def artifacts(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The active stack's artifact store, on each backend; yields a function listing every file in it."""
    import fsspec

    from dosirak.metadata.store import get_store
    from dosirak.settings import get_settings

    if request.param == "local":
        root = get_settings().artifact_root
        yield lambda: sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        return
    url = f"memory://dk-{uuid.uuid4().hex}"
    store = get_store()
    store.stacks.register_component("artifact-store", "memory", "fsspec", {"path": url})
    store.stacks.register_stack("remote", {"orchestrator": "default", "artifact-store": "memory"})
    store.stacks.set_active_stack("remote")
    fs = fsspec.filesystem("memory")
    prefix = fs._strip_protocol(url)
    yield lambda: sorted(p[len(prefix) + 1:] for p in fs.find(prefix))
    if fs.exists(prefix):
        fs.rm(prefix, recursive=True)


def _outputs(files: list[str]) -> list[str]:
    return [f for f in files if "/.logs/" not in f"/{f}"]


def test_a_step_whose_third_output_fails_leaves_no_bytes_of_any_output(artifacts: Any) -> None:
    @step(output_materializers={"third": HalfThenCrash})
    def three() -> tuple[Annotated[int, "first"], Annotated[bytes, "second"], Annotated[str, "third"]]:
        print("saving three outputs")
        return 1, b"s" * 50_000, "never stored"

    @pipeline(enable_cache=False)
    def three_outputs() -> None:
        three()

    with pytest.raises(RunFailedError, match="the materializer crashed half-way") as info:
        three_outputs()
    left = artifacts()
    assert _outputs(left) == []
    assert any(f.endswith("three/.logs/step.log") for f in left)  # the log is kept, as on success
    assert info.value.run.steps["three"].outputs == {}


def test_a_hook_failing_after_every_output_landed_leaves_no_bytes_of_any_output(artifacts: Any) -> None:
    @step
    def landed() -> tuple[Annotated[int, "a"], Annotated[bytes, "b"], Annotated[str, "c", RegistryDown()]]:
        return 1, b"b" * 50_000, "c"

    @pipeline(enable_cache=False)
    def hooked_late() -> None:
        landed()

    with pytest.raises(RunFailedError, match="model registry unavailable"):
        hooked_late()
    assert _outputs(artifacts()) == []


def test_the_outputs_of_a_step_that_succeeds_stay_on_every_backend(artifacts: Any) -> None:
    @step
    def two() -> tuple[Annotated[int, "a"], Annotated[bytes, "b"]]:
        return 7, b"bytes"

    @pipeline(enable_cache=False)
    def two_outputs() -> None:
        two()

    run = two_outputs()
    assert run.steps["two"].outputs["a"].load() == 7 and run.steps["two"].outputs["b"].load() == b"bytes"
    assert {f.split("/", 1)[1] for f in _outputs(artifacts())} == {"two/a/data.json", "two/b/data.bin"}
