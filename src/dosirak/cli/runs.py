"""``dosirak runs list|show|logs|compare``: what ran, how it went, why a step missed the cache, and
what differs between runs."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import click

from dosirak.cli._render import console, fmt, json_option, print_json, status_style, table
from dosirak.cli._timeline import printable
from dosirak.cli._timeline import rows as chart_rows
from dosirak.client import Client
from dosirak.errors import NotFoundError
from dosirak.metadata.like import MAX_SQL_INTEGER
from dosirak.pipelines.cache import explain_miss
from dosirak.pipelines.comparison import compare_runs
from dosirak.pipelines.metrics import json_number
from dosirak.pipelines.timeline import gantt
from dosirak.statuses import RUN_STATUSES, RunStatus
from dosirak.units import duration, human_size, resources_text

if TYPE_CHECKING:
    from dosirak.metadata.records import RunRecord, StepRunRecord
    from dosirak.pipelines.views import StepRunView


@click.group()
def runs() -> None:
    """Pipeline runs: list, show, logs, compare."""


@runs.command("list")
@click.option("--pipeline", "pipeline_name", help="Only runs of this pipeline.")
@click.option("--status", type=click.Choice(RUN_STATUSES))
@click.option("-n", "--limit", default=20, show_default=True, type=click.IntRange(1, MAX_SQL_INTEGER))
@json_option
def list_runs(pipeline_name: str | None, status: RunStatus | None, limit: int, as_json: bool) -> None:
    """Runs, newest first."""
    found = Client().list_runs(pipeline_name, status=status, limit=limit)
    if as_json:
        print_json([{"id": r.id, "name": r.name, "pipeline": r.pipeline_name, "status": r.status,
                     "start_time": r.start_time, "end_time": r.end_time, "parameters": r.parameters}
                    for r in found])
        return
    table("Runs", ["id", "pipeline", "name", "status", "started", "duration", "parameters"], [
        (r.id[:8], r.pipeline_name, r.name, status_style(r.status), r.start_time, duration(r.duration_s),
         r.parameters) for r in found
    ])


def _run_id(run: str) -> str:
    """RUN as given (an id or id prefix), or for ``latest`` the id of the newest run."""
    if run != "latest":
        return run

    newest = Client().list_runs(limit=1)
    if not newest:
        raise NotFoundError("there are no runs yet; `dosirak run FILE.py:PIPELINE` makes one")
    return str(newest[0].id)


def _miss_reasons(store: object, run: object, step: object) -> list[str]:
    if step.status not in ("completed", "failed") or not step.record.cache_parts:  # type: ignore[attr-defined]
        return []
    previous = store.runs.previous_step_run(run.pipeline_name, step.name, run.id)  # type: ignore[attr-defined]
    prefix = [] if step.record.cache_enabled else ["caching is off for this step"]  # type: ignore[attr-defined]
    return prefix + explain_miss(previous.cache_parts if previous else None, step.record.cache_parts)  # type: ignore[attr-defined]


def _cache_source(step: StepRunView) -> dict[str, str] | None:
    """Where a cache hit's outputs came from: the run (``dosirak runs show`` takes its id) and step."""
    source = step.cache_source
    return None if source is None else {"run_id": source.run_id, "step": source.name}


def _cache_note(step: StepRunView) -> str:
    source = step.cache_source
    if source is None:
        return f"cache hit from step run {step.cached_from[:8]} (no longer in the store)" if step.cached_from \
            else "cache hit"
    also = f" (step {source.name})" if source.name != step.name else ""
    return f"cache hit from run {source.run_id[:8]}{also}"


@runs.command("show")
@click.argument("run_id", metavar="RUN")
@json_option
def show(run_id: str, as_json: bool) -> None:
    """A run's steps: status, timings, cache hits (and why a step missed), outputs,
    where each ran (host, worker, resources), and a timeline of the steps on one time axis.

    RUN is an id, an id prefix, or `latest` (the newest run).
    """
    client = Client()
    run = client.get_run(_run_id(run_id))
    steps = run.steps
    summaries = client.store.metrics.summaries([run.id])
    if as_json:
        print_json({
            "id": run.id, "name": run.name, "pipeline": run.pipeline_name, "status": run.status,
            "start_time": run.start_time, "end_time": run.end_time, "parameters": run.parameters,
            "error": run.error, "stack": run.stack_name,
            "steps": [{"name": s.name, "status": s.status, "start_time": s.start_time, "end_time": s.end_time,
                       "duration_s": s.duration_s, "parameters": s.parameters, "cached_from": s.cached_from,
                       "cached_from_run": _cache_source(s),
                       "cache_miss": _miss_reasons(client.store, run, s), "error": s.error,
                       "traceback": s.traceback, "host": s.host, "worker": s.worker, "resources": s.resources,
                       "outputs": {k: {"id": a.id, "type": a.type, "uri": a.uri, "size": a.size,
                                       "content_hash": a.content_hash} for k, a in s.outputs.items()}}
                      for s in steps.values()],
            "metrics": [{"key": m.key, "step": m.step_name, "name": m.name, "latest": json_number(m.latest),
                         "latest_step": m.latest_step, "lowest": json_number(m.lowest),
                         "highest": json_number(m.highest), "points": m.points} for m in summaries],
        })
        return
    out = console()
    out.print(f"[bold]{fmt(run.name)}[/bold]  id {run.id}  pipeline {fmt(run.pipeline_name)}  stack {fmt(run.stack_name)}")
    out.print("status ", status_style(run.status), f"  started {fmt(run.start_time)}  duration {duration(run.duration_s)}")
    if run.parameters:
        out.print(f"parameters {fmt(run.parameters)}")
    if run.error:
        out.print(f"[red]error[/red] {fmt(run.error)}")
    rows = []
    for s in steps.values():
        if s.status == "cached":
            note = _cache_note(s)
        elif s.status in ("failed", "skipped", "cancelled"):
            note = s.error or ""
        else:
            note = "cache miss: " + "; ".join(_miss_reasons(client.store, run, s))
        outputs = ", ".join(f"{k} ({a.type.rsplit('.', 1)[-1]}, {human_size(a.size)}, {a.id[:8]})"
                            for k, a in s.outputs.items())
        rows.append((s.name, status_style(s.status), duration(s.duration_s), s.parameters or None, outputs or "-",
                     note))
    table(None, ["step", "status", "duration", "parameters", "outputs", "notes"], rows)
    if summaries:
        table("Metrics (the value at the highest step)", ["metric", "latest", "at step", "lowest", "highest", "points"],
              [(m.key, _number(m.latest), m.latest_step, _number(m.lowest), _number(m.highest), m.points)
               for m in summaries])
    _where(steps.values())
    _timeline(run.record, [s.record for s in steps.values()])
    for s in steps.values():
        if s.status == "failed" and s.traceback:
            out.print(f"\n[red]traceback of step {fmt(s.name)}[/red]")
            out.print(fmt(s.traceback))


def _where(steps: Iterable[StepRunView]) -> None:
    """Where each step computed: its host, worker and the resources it asked for (a cache hit: nowhere)."""
    rows = [(printable(s.name), printable(s.host) or "-",
             printable(s.worker) or ("cache hit: computed in the run it reuses" if s.status == "cached" else "-"),
             resources_text(s.resources)) for s in steps]
    if any(host != "-" for _, host, _, _ in rows):
        table("Where each step ran", ["step", "host", "worker", "resources"], rows)


def _timeline(run: RunRecord, steps: list[StepRunRecord]) -> None:
    """The steps as bars on the run's time axis: blocks in colour on a terminal, ASCII elsewhere."""
    if not any(s.start_time for s in steps):
        return
    fancy = sys.stdout.isatty()
    width = shutil.get_terminal_size((100, 24)).columns
    drawn = chart_rows(gantt(run, steps), width, ascii_only=not fancy)
    click.echo("\ntimeline")
    if not fancy:
        for row in drawn:
            click.echo(row.text.rstrip())
        return
    from rich.text import Text

    out = console()
    for row in drawn:
        colour = str(status_style(row.status).style) if row.status else ""
        out.print(Text(row.head) + Text(row.track, style=colour) + Text(row.tail))


@runs.command("logs")
@click.argument("run_id", metavar="RUN")
@click.option("--step", "step_name", help="Only this step's logs.")
def logs(run_id: str, step_name: str | None) -> None:
    """What each step printed and logged (RUN: an id, an id prefix, or `latest`)."""
    run = Client().get_run(_run_id(run_id))
    steps = run.steps
    if step_name is not None and step_name not in steps:
        raise NotFoundError(f"run {run.id[:8]} has no step '{step_name}'; its steps: {', '.join(steps)}")
    for s in steps.values():
        if step_name is not None and s.name != step_name:
            continue
        text = s.logs()
        click.echo(click.style(f"== {s.name} ({s.status}) ==", bold=True))
        click.echo(text.rstrip("\n") if text else "(no output)")


def _value(value: Any) -> str:
    """A parameter value as written in JSON (``1e-05``, ``true``, ``"sgd"`` without quotes); '-' for none."""
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value)


def _number(value: Any) -> str:
    """A metric value for a table: up to 6 significant digits; NaN, inf and -inf as such; '-' for none."""
    if value is None:
        return "-"
    if isinstance(value, str):  # "NaN", "Infinity", "-Infinity" from the comparison's JSON
        return {"Infinity": "inf", "-Infinity": "-inf"}.get(value, value)
    return f"{value:.6g}"


@runs.command("compare")
@click.argument("run_ids", metavar="RUN RUN [RUN...]", nargs=-1)
@json_option
def compare(run_ids: tuple[str, ...], as_json: bool) -> None:
    """Runs side by side: parameters (differences first), metrics, durations, code changes, inputs, cache hits.

    Each RUN is an id, an id prefix or `latest`; the first is the baseline that code
    changes are shown against. --json prints what the dashboard's /api/compare answers.
    """
    if len(run_ids) < 2:
        raise click.UsageError(f"compare needs at least 2 runs, got {len(run_ids)}: "
                               "`dosirak runs compare RUN RUN [RUN...]` (`dosirak runs list` shows their ids)")
    result = compare_runs(Client().store, [_run_id(r) for r in run_ids])
    if as_json:
        print_json(result)
        return
    _print_comparison(result)


def _print_comparison(result: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.text import Text

    runs_ = result["runs"]
    heads = [f"{r['id'][:8]}" for r in runs_]
    table("Runs", ["run", "name", "pipeline", "status", "started", "duration"],
          [(r["id"][:8], r["name"], r["pipeline"], status_style(r["status"]), r["start_time"][:19].replace("T", " "),
            duration(r["duration_s"])) for r in runs_])

    def marked(name: str, differs: bool) -> Any:
        return Text(name, style="bold yellow") if differs else name

    if result["parameters"]:
        table("Parameters (differences first)", ["parameter", *heads],
              [(marked(p["name"], p["differs"]), *[_value(v) for v in p["values"]]) for p in result["parameters"]])
    if result["metrics"]:
        table("Metrics (latest value; lowest..highest)", ["metric", *heads], [
            (marked(m["key"], m["differs"]), *[
                "-" if m["points"][i] is None else
                f"{_number(m['latest'][i])} ({_number(m['lowest'][i])}..{_number(m['highest'][i])})"
                for i in range(len(runs_))])
            for m in result["metrics"]])
    table("Steps (status, duration)", ["step", *heads], [
        (marked(s["name"], s["source_differs"] or bool(s["inputs"])), *[
            "-" if s["status"][i] is None else
            f"{'cache hit' if s['cache_hit'][i] else s['status'][i]} {duration(s['duration_s'][i])}"
            for i in range(len(runs_))])
        for s in result["steps"]])
    out = console()
    for s in result["steps"]:
        for changed in s["inputs"]:
            hashes = ", ".join(f"{head} {h[:12] if h else '-'}" for head, h in zip(heads, changed["content_hash"],
                                                                                  strict=True))
            out.print(f"input [bold]{escape(s['name'])}.{escape(changed['name'])}[/bold] differs: {hashes}")
        for diff in s["source_diffs"]:
            out.print(f"\n[bold]code of step {escape(s['name'])} changed[/bold] "
                      f"({diff['from_run'][:8]} -> {diff['to_run'][:8]})")
            for line in diff["diff"].splitlines():
                style = ("green" if line.startswith("+") and not line.startswith("+++") else
                         "red" if line.startswith("-") and not line.startswith("---") else
                         "cyan" if line.startswith("@@") else None)
                out.print(Text(line, style=style) if style else Text(line))
            if diff["truncated"]:
                out.print("[dim](diff cut short)[/dim]")
