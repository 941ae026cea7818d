"""The text timeline of ``dosirak runs show``: bars on one axis, within the width, hostile names made harmless."""

from __future__ import annotations

from datetime import timedelta

from dosirak.cli._timeline import ASCII_BARS, BLOCK, MIN_WIDTH, printable, rows
from dosirak.metadata.records import RunRecord, StepRunRecord
from dosirak.metadata.timeutil import utcnow
from dosirak.pipelines.timeline import gantt

T0 = utcnow()


def run_record(seconds: float) -> RunRecord:
    return RunRecord(id="r" * 36, name="run", pipeline_name="p", status="completed", parameters={}, config={},
                     dag={}, stack_name=None, orchestrator="local", start_time=T0,
                     end_time=T0 + timedelta(seconds=seconds), hostname=None, pid=None, error=None)


def step_record(name: str, start: float | None, end: float | None, status: str = "completed") -> StepRunRecord:
    return StepRunRecord(
        id=name, run_id="r" * 36, name=name, step_type="m.f", status=status, parameters={}, cache_key=None,  # type: ignore[arg-type]
        cache_parts={}, cache_enabled=True, cached_from=None,
        start_time=None if start is None else T0 + timedelta(seconds=start),
        end_time=None if end is None else T0 + timedelta(seconds=end), attempts=1, logs_uri=None, error=None,
        traceback=None)


def track(row_text: str) -> str:
    return row_text.split("|")[1]


def test_overlapping_steps_cover_the_same_columns_and_a_later_one_starts_after_them() -> None:
    chart = gantt(run_record(1.0), [step_record("a", 0.0, 0.5), step_record("b", 0.1, 0.6),
                                    step_record("c", 0.6, 1.0, "failed")])
    drawn = rows(chart, 80, ascii_only=True)
    a, b, c = (track(r.text) for r in drawn[:3])
    cols = [{i for i, ch in enumerate(t) if ch != " "} for t in (a, b, c)]
    assert len(cols[0] & cols[1]) > 0.6 * len(cols[0])
    assert min(cols[2]) >= max(cols[0])
    assert set(a.strip()) == {ASCII_BARS["completed"]} and set(c.strip()) == {ASCII_BARS["failed"]}
    assert all(len(r.text) <= 80 for r in drawn)
    assert drawn[-2].text.split() == ["0", "200ms", "400ms", "600ms", "800ms", "1.0s"]  # the axis' times


def test_on_a_terminal_bars_are_blocks_and_the_width_is_kept_between_bounds() -> None:
    chart = gantt(run_record(2.0), [step_record("a", 0.0, 2.0)])
    wide = rows(chart, 10_000, ascii_only=False)
    assert set(track(wide[0].text).strip()) == {BLOCK}
    assert max(len(r.text) for r in wide) <= 240
    narrow = rows(chart, 5, ascii_only=True)
    assert max(len(r.text) for r in narrow) <= MIN_WIDTH
    assert all(c.isascii() for r in narrow for c in r.text)


def test_a_step_that_never_started_has_an_empty_track_and_says_its_status() -> None:
    chart = gantt(run_record(1.0), [step_record("a", 0.0, 1.0), step_record("b", None, None, "skipped")])
    row = rows(chart, 60, ascii_only=True)[1]
    assert track(row.text).strip() == "" and row.text.rstrip().endswith("skipped")


def test_control_characters_in_names_are_shown_as_question_marks() -> None:
    hostile = "evil\x1b[2J\x1b]0;pwned\x07\u202e"
    assert printable(hostile) == "evil?[2J?]0;pwned??"
    chart = gantt(run_record(1.0), [step_record(hostile, 0.0, 1.0)])
    assert "\x1b" not in "".join(r.text for r in rows(chart, 80, ascii_only=False))
