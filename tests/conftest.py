"""Every test gets its own empty DOSIRAK_HOME, and leaves no store open."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


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
