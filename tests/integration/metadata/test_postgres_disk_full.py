"""A PostgreSQL server whose disk fills up: one line saying so, and nothing half-written.

The database lives in a tablespace on a 4 MiB tmpfs mounted by the test (root can mount;
the test says so and skips where it cannot), so the server really runs out of space.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dosirak.errors import StoreError
from tests.integration.metadata.conftest import PostgresCluster

pytestmark = pytest.mark.integration


@pytest.fixture
def small_disk() -> Iterator[Path]:
    mountpoint = Path(tempfile.mkdtemp(prefix="dosirak-pg-small-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mountpoint)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        mountpoint.rmdir()
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip()}): a full PostgreSQL disk is not proven")
    try:
        if os.geteuid() == 0:
            shutil.chown(mountpoint, "postgres", "postgres")
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=False)
        mountpoint.rmdir()


def test_a_full_server_disk_is_one_line_and_the_store_keeps_working_after_space_returns(
        postgres_cluster: PostgresCluster, small_disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dosirak.metadata.store import close_stores, get_store
    from dosirak.settings import reset_settings

    name = f"dosirak_full_{uuid.uuid4().hex[:8]}"
    space = f"small_{uuid.uuid4().hex[:8]}"
    postgres_cluster.admin(f"CREATE TABLESPACE {space} LOCATION '{small_disk}'")
    postgres_cluster.admin(f'CREATE DATABASE "{name}" TABLESPACE {space}')
    close_stores()
    monkeypatch.setenv("DOSIRAK_METADATA_URL", postgres_cluster.url(name))
    reset_settings()
    try:
        stacks = get_store().stacks
        written = 0
        with pytest.raises(StoreError) as failed:
            for i in range(64):  # 64 x 256 KiB of incompressible text: far more than 4 MiB
                stacks.set_value(f"filler-{i}", os.urandom(128 * 1024).hex())
                written = i + 1
        message = str(failed.value)
        assert message.startswith("disk full: the PostgreSQL server of the metadata store")
        assert "nothing of this change was written" in message and "\n" not in message
        assert written > 0
        assert stacks.get_value(f"filler-{written}") is None  # the failed write left nothing behind
        for i in range(written):
            stacks.set_value(f"filler-{i}", None)  # space comes back once the big values are gone...
        subprocess.run(["runuser", "-u", "postgres", "--", "vacuumdb", "-h", postgres_cluster.host, "-p",
                        str(postgres_cluster.port), "-U", postgres_cluster.user, name],
                       capture_output=True, check=True)
        stacks.set_value("after", "small")  # ...and the store writes again
        assert stacks.get_value("after") == "small"
    finally:
        close_stores()
        postgres_cluster.admin(f'DROP DATABASE "{name}" WITH (FORCE)')
        postgres_cluster.admin(f"DROP TABLESPACE {space}")
