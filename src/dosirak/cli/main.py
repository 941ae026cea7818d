"""The ``dosirak`` command: a click group that imports a subcommand only when it runs.

Each entry of :data:`COMMANDS` names the module and attribute of a click command and its
one-line help, so ``dosirak --help`` lists everything without importing any of it.
Plugins add commands through the ``dosirak.cli`` entry-point group.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import sys
import traceback
from typing import Any

import click

from dosirak import plugins
from dosirak.errors import DosirakError, RunFailedError

#: command name -> ("module:attr", short help)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("dosirak.cli.project:init", "Create a repository-local dosirak home in this directory."),
    "run": ("dosirak.cli.run:run", "Run a pipeline: dosirak run FILE.py:PIPELINE."),
    "pipeline": ("dosirak.cli.pipelines:pipeline", "List pipelines."),
    "runs": ("dosirak.cli.runs:runs", "List and inspect pipeline runs, their steps and logs."),
    "artifact": ("dosirak.cli.artifacts:artifact", "List and inspect artifacts."),
    "stack": ("dosirak.cli.stacks:stack", "Register, list, describe, activate and delete stacks."),
    "orchestrator": ("dosirak.cli.components:orchestrator", "Manage orchestrator components."),
    "artifact-store": ("dosirak.cli.components:artifact_store", "Manage artifact-store components."),
    "model-deployer": ("dosirak.cli.components:model_deployer", "Manage model-deployer components."),
    "secret": ("dosirak.cli.secrets:secret", "Named secrets for component options ({secret:NAME}): create, list, delete."),
    "flavor": ("dosirak.cli.components:flavor", "List the flavors of every component type."),
    "deployment": ("dosirak.cli.deployments:deployment", "List, describe, follow, stop, start and delete model deployments."),
    "up": ("dosirak.cli.dashboard:up", "Start the dashboard (web UI and JSON API) and print its URL."),
    "down": ("dosirak.cli.dashboard:down", "Stop the dashboard started by `dosirak up`."),
    "serve": ("dosirak.cli.serve:serve", "Serve a service over HTTP: dosirak serve FILE.py:Class or a bundle tag."),
    "model": ("dosirak.cli.models:model", "The model registry: list, show, alias and delete model versions."),
    "bundle": ("dosirak.cli.bundles:bundle", "Build, list, verify, sign, export, import and containerize bundles."),
    "deploy": ("dosirak.cli.deploy:deploy", "Deploy a bundle to a SageMaker endpoint: init, build, apply, status, invoke, destroy, run-local."),
    "image-entrypoint": ("dosirak.cli.entrypoint:entrypoint",
                         "Serve a bundle inside its container image (the image's ENTRYPOINT)."),
    "integration": ("dosirak.cli.integrations:integration", "Optional extras (torch, aws, s3, ...): list them, install them with pip."),
    "gc": ("dosirak.cli.gc:gc", "Remove the files no run, model or bundle refers to (what killed runs left)."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy
        self._plugins_loaded = False

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for name in plugins.names("cli"):
            if name not in self.lazy:
                self.lazy[name] = (plugins.spec("cli", name), "(plugin)")

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.lazy)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy:
            self._load_plugins()
        entry = self.lazy.get(cmd_name)
        if entry is None:
            return None
        module_name, _, attr = entry[0].partition(":")
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):
            raise click.ClickException(f"'{entry[0]}' is not a click command")
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and not ctx.resilient_parsing and self.get_command(ctx, name) is None:
            # click suggests from ``self.commands``, which a lazy group leaves empty
            close = difflib.get_close_matches(name, self.list_commands(ctx), n=3, cutoff=0.6)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            ctx.fail(f"No such command {name!r}.{hint}")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, self.lazy[name][1]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


#: What ``dosirak --help`` ends with: the exit statuses (README.md has the same table).
EXIT_STATUSES = """\b
Exit status (an error is one line on stderr, starting with "error:"; -vv adds the traceback):
  0    done
  1    a pipeline run failed (its traceback is in `dosirak runs show RUN`),
       gc could not remove something, or dosirak itself failed unexpectedly
  2    bad usage or input: unknown command or option, a missing or invalid
       argument, a name that does not exist, a refused request; also a run
       that failed on a setting to fix (a missing secret, an unusable bucket,
       an unreachable Ray address, a Ray worker that died in every attempt)
  3    dosirak serve: the service could not be loaded (import or __init__ failed)
  130  interrupted (Ctrl-C)"""


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]},
             epilog=EXIT_STATUSES)
@click.version_option(package_name="dosirak", prog_name="dosirak")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug, and tracebacks with errors).")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """dosirak: train, package and serve machine-learning models.

    \b
    Quick start:
      dosirak run examples/quickstart/pipeline.py:quickstart
      dosirak runs list
      dosirak stack describe
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h.formatter, _CliFormatter)]:
        root.removeHandler(old)  # invoked again in one process (tests, scripts): one handler, current stderr
    handler = logging.StreamHandler()
    handler.setFormatter(_CliFormatter())
    if verbose == 0:
        handler.addFilter(_shown_by_progress)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("dosirak").setLevel(
        logging.DEBUG if verbose > 1 else logging.INFO if verbose == 1 or ctx.invoked_subcommand == "run"
        else logging.WARNING)


#: Loggers whose INFO records (run started, step cached, run finished) the run's progress display shows.
_PROGRESS_LOGGERS = ("dosirak.pipelines.run", "dosirak.pipelines.step_runner")


def _shown_by_progress(record: logging.LogRecord) -> bool:
    """False for the INFO records the progress display already shows (``-v`` shows them too)."""
    return not (record.levelno == logging.INFO and record.name in _PROGRESS_LOGGERS)


class _CliFormatter(logging.Formatter):
    """INFO lines as plain messages; warnings and errors prefixed with their level."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None and record.levelno >= 40:
            if _debugging():
                message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            elif str(record.exc_info[1]) not in message:
                message += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        if record.levelno >= 30:
            return f"{record.levelname.lower()}: {message}"
        if record.levelno <= 10:
            return f"debug {record.name}: {message}"
        return str(message)


def _debugging() -> bool:
    """Whether ``-vv`` asked for debug output (and so for tracebacks)."""
    return logging.getLogger("dosirak").isEnabledFor(logging.DEBUG)


def _fail(message: str, status: int, *, details: str | None = None) -> None:
    """Print one ``error:`` line (with -vv, ``details`` or the traceback first) and exit with ``status``."""
    if _debugging() and (details or sys.exc_info()[0] is not None):
        click.echo((details or traceback.format_exc()).rstrip(), err=True)
    click.echo(f"error: {' '.join(message.split())}", err=True)  # one line, whatever the message holds
    sys.exit(status)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI; every failure is one ``error:`` line and an exit status (:data:`EXIT_STATUSES`)."""
    logging.getLogger("dosirak").setLevel(logging.NOTSET)  # a fresh invocation: the options decide
    try:
        cli.main(args=argv, prog_name="dosirak", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "dosirak"
        _fail(f"{exc.format_message()} (`{command} --help` shows the usage)", 2)
    except click.ClickException as exc:
        _fail(exc.format_message(), 2)
    except RunFailedError as exc:  # the pipeline's own code failed, not the command; -vv: the steps' tracebacks
        failed = [] if exc.run is None else [s for s in exc.run.steps.values() if s.status == "failed"]
        _fail(str(exc), 2 if exc.bad_input else 1,  # 2: a setting, secret or bucket to fix
              details="\n".join(s.record.traceback or "" for s in failed) or None)
    except DosirakError as exc:
        _fail(str(exc), 2)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug or an unforeseen failure: still one line, the traceback with -vv
        hint = "" if _debugging() else "; `dosirak -vv ...` shows the traceback"
        _fail(f"{type(exc).__name__}: {exc}{hint}", 1)


if __name__ == "__main__":  # pragma: no cover
    main()
