"""Every test gets its own empty DOSIRAK_HOME, and leaves no store open."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chromium import chromium_path

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-background-networking"]


@pytest.fixture(autouse=True)
def dosirak_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An isolated dosirak home (store, artifacts, models, bundles) for one test."""
    from dosirak.metadata.store import close_stores
    from dosirak.settings import reset_settings

    home = tmp_path_factory.mktemp("dosirak_home")
    monkeypatch.setenv("DOSIRAK_HOME", str(home))
    monkeypatch.delenv("DOSIRAK_METADATA_URL", raising=False)
    monkeypatch.delenv("DOSIRAK_STACK", raising=False)
    reset_settings()
    yield home
    close_stores()
    reset_settings()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """A headless Chromium shared by one test module.

    Playwright's sync API keeps an event loop running in this thread while it is open, so
    only one may be open at a time, and it must close before tests that call
    ``asyncio.run``: hence one per module, closed when the module's tests are done.
    """
    try:
        executable = chromium_path()
    except LookupError as exc:
        pytest.fail(str(exc))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def small_disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real 2 MiB filesystem (tmpfs) to fill up; unmounted afterwards.

    Skipped, saying why, when this process may not mount one (it needs root or CAP_SYS_ADMIN).
    """
    mount = tmp_path_factory.mktemp("small_disk")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 2 MiB tmpfs to fill for real: {done.stderr.strip() or done.returncode}")
    try:
        yield mount
    finally:
        from dosirak.metadata.store import close_stores

        close_stores()  # a store on the small disk keeps its files open
        if subprocess.run(["umount", str(mount)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True, check=False)


def fill_disk(directory: Path, keep_free: int = 0) -> Path:
    """Write a file in ``directory`` until its filesystem has at most ``keep_free`` bytes left."""
    path = directory / "filler"
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
    try:
        block = b"\0" * 4096
        while True:
            st = os.statvfs(directory)
            if st.f_bavail * st.f_frsize <= keep_free:
                break
            try:
                os.write(fd, block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    finally:
        os.close(fd)
    return path
