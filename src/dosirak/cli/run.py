"""``dosirak run FILE.py:PIPELINE``: run a pipeline defined in a file."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import click

from dosirak.errors import ConfigError
from dosirak.pipelines.pipeline import Pipeline, load_config
from dosirak.pipelines.progress import display


def _parse_param(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ConfigError(f"--param takes key=value, got '{text}'")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # a bare string
    return key.strip(), value


def load_pipeline(target: str) -> Any:
    """Import ``path/to/file.py:name`` (or ``package.module:name``) and return the pipeline."""
    if ":" not in target:
        raise ConfigError(f"give the pipeline as FILE.py:NAME, got '{target}'")
    source, _, attr = target.rpartition(":")
    if source.endswith(".py"):
        path = Path(source).resolve()
        if not path.is_file():
            raise ConfigError(f"pipeline file {source} does not exist")
        sys.path.insert(0, str(path.parent))
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"cannot import {source} as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise ConfigError(f"importing {source} failed: {type(exc).__name__}: {exc}") from exc
    else:
        try:
            module = importlib.import_module(source)
        except ImportError as exc:
            raise ConfigError(f"cannot import module '{source}': {exc}") from exc
    obj = getattr(module, attr, None)
    if not isinstance(obj, Pipeline):
        found = [k for k, v in vars(module).items() if isinstance(v, Pipeline)]
        raise ConfigError(f"'{attr}' in {source} is not a @pipeline; pipelines there: {', '.join(found) or 'none'}")
    return obj


@click.command()
@click.argument("target")
@click.option("-c", "--config", type=click.Path(dir_okay=False, path_type=Path), help="YAML run config.")
@click.option("-p", "--param", "params", multiple=True, help="Pipeline parameter key=value (JSON values).")
@click.option("--stack", help="Run on this stack instead of the active one.")
@click.option("--no-cache", is_flag=True, help="Run every step, ignoring the cache.")
@click.option("--plain", is_flag=True, help="Show progress as plain lines, even on a terminal (as in logs and CI).")
def run(target: str, config: Path | None, params: tuple[str, ...], stack: str | None, no_cache: bool,
        plain: bool) -> None:
    """Run the pipeline TARGET (FILE.py:PIPELINE or module:PIPELINE).

    Each step is shown starting and finishing on stderr: live on a terminal, plain lines
    otherwise (or with --plain, or when CI is set; DOSIRAK_PROGRESS=off hides them). Ctrl-C
    records the run as cancelled and exits with status 130; a rerun resumes from the cache.
    """
    pipe = load_pipeline(target)

    cfg = load_config(config)
    if no_cache:
        cfg["enable_cache"] = False
        for step_cfg in cfg.get("steps", {}).values():
            step_cfg.pop("enable_cache", None)
    kwargs = dict(_parse_param(p) for p in params)

    try:
        with display("plain" if plain else None, summary=False):  # the summary is the line below
            result = pipe.run(config=cfg, stack=stack, **kwargs)  # RunFailedError: one line, status 1 or 2 (cli.main)
    except KeyboardInterrupt:
        raise SystemExit(130) from None  # the run said it was cancelled, in one line
    steps = result.steps
    cached = sum(1 for s in steps.values() if s.status == "cached")
    click.echo(f"run {result.name} ({result.id[:8]}) {result.status}: {len(steps)} steps, {cached} cached, "
               f"{result.duration_s:.2f} s")
