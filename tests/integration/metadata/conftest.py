"""A throwaway PostgreSQL cluster for the session, and a fresh database per test.

The cluster is made with ``initdb`` in a temporary directory and started with ``pg_ctl``
on a free 127.0.0.1 port, as the unprivileged ``postgres`` user when the tests run as
root (PostgreSQL refuses to run as root). Its server time zone is deliberately not UTC,
so a naive datetime stored as if it were UTC shows up as a shifted timestamp.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

#: Not UTC on purpose (see the module docstring).
SERVER_TIMEZONE = "Asia/Seoul"
START_TIMEOUT_S = 60
_db_numbers = itertools.count()


@dataclass(frozen=True)
class PostgresCluster:
    host: str
    port: int
    user: str

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE) in ``postgres``."""
        import psycopg

        with psycopg.connect(host=self.host, port=self.port, user=self.user, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if not found:
        pytest.fail("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): "
                    "run `bash scripts/setup.sh --test`, which apt-installs it")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _run(cmd: list[str], *, timeout: float) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")


def _wait_until_accepting(port: int, user: str, deadline: float) -> None:
    import psycopg

    while True:
        try:
            with psycopg.connect(host="127.0.0.1", port=port, user=user, dbname="postgres", connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # polling, bounded by the deadline


def _postmaster_pid(datadir: Path) -> int | None:
    try:
        return int((datadir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL server on 127.0.0.1, stopped (by PID if need be) and deleted afterwards."""
    bindir = _bindir()
    root = Path(tempfile.mkdtemp(prefix="dosirak-pg-"))
    as_postgres = _as_postgres()
    user = "postgres" if as_postgres else os.environ.get("USER", "postgres")
    if as_postgres:
        shutil.chown(root, "postgres", "postgres")
    datadir, sockdir, logfile = root / "data", root / "sock", root / "server.log"
    pid: int | None = None
    try:
        _run([*as_postgres, str(bindir / "initdb"), "-D", str(datadir), "-U", user, "-A", "trust",
              "-E", "UTF8", "--no-sync"], timeout=120)
        _run([*as_postgres, "mkdir", str(sockdir)], timeout=10)
        port = _free_port()
        options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {sockdir} -c timezone={SERVER_TIMEZONE} "
                   "-c fsync=off -c max_connections=50")
        _run([*as_postgres, str(bindir / "pg_ctl"), "start", "-D", str(datadir), "-l", str(logfile),
              "-w", "-t", str(START_TIMEOUT_S), "-o", options], timeout=START_TIMEOUT_S + 10)
        pid = _postmaster_pid(datadir)
        _wait_until_accepting(port, user, time.monotonic() + START_TIMEOUT_S)
        yield PostgresCluster(host="127.0.0.1", port=port, user=user)
    finally:
        if pid is None:
            pid = _postmaster_pid(datadir)
        if pid is not None:
            try:
                _run([*as_postgres, str(bindir / "pg_ctl"), "stop", "-D", str(datadir), "-m", "fast", "-w",
                      "-t", "30"], timeout=40)
            except (RuntimeError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGQUIT)  # immediate shutdown of the postmaster pg_ctl could not stop
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """A new, empty database in the session's cluster, as a SQLAlchemy URL."""
    name = f"dosirak_test_{os.getpid()}_{next(_db_numbers)}"
    postgres_cluster.admin(f'CREATE DATABASE "{name}"')
    yield postgres_cluster.url(name)
    from dosirak.metadata.store import close_stores

    close_stores()
    postgres_cluster.admin(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_home(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """dosirak pointed at the test's PostgreSQL database (artifacts stay in the test's home)."""
    from dosirak.metadata.store import close_stores
    from dosirak.settings import reset_settings

    close_stores()
    monkeypatch.setenv("DOSIRAK_METADATA_URL", postgres_url)
    reset_settings()
    return postgres_url
