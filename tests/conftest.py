"""Every test gets its own empty DOSIRAK_HOME, and leaves no store open."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: Debian's Chromium (apt); tests never download a browser.
CHROMIUM = "/usr/bin/chromium"
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
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (tests never download a browser)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
