"""Invoke the CLI in-process through click's CliRunner, the way ``dosirak`` runs it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner

from dosirak.cli.main import main


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


Invoke = Callable[..., Result]


@pytest.fixture
def dosirak() -> Iterator[Invoke]:
    """``dosirak(*args)`` runs ``main(args)`` in CliRunner's isolation and returns exit code and output.

    The CLI configures logging as an entry point does; that is undone after the test.
    """
    runner = CliRunner()
    root, dosirak_logger = logging.getLogger(), logging.getLogger("dosirak")
    saved = (list(root.handlers), root.level, dosirak_logger.level)

    def invoke(*args: str) -> Result:
        with runner.isolation() as (out, err, _both):
            try:
                main(list(args))
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            return Result(code, out.getvalue().decode(), err.getvalue().decode())

    yield invoke
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    dosirak_logger.setLevel(saved[2])


def one_line_error(result: Result) -> str:
    """The single error line of a failed command (asserting there is exactly one)."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]
