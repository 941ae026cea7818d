"""Saving a model version when the metadata store cannot record it."""

from __future__ import annotations

from pathlib import Path

import pytest

import dosirak as dk
from dosirak.errors import StoreError


def test_a_save_the_store_cannot_record_for_a_full_disk_leaves_no_version_directory(
    small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dosirak.metadata.store import close_stores, get_store
    from dosirak.settings import get_settings, reset_settings
    from tests.conftest import fill_disk

    close_stores()
    monkeypatch.setenv("DOSIRAK_HOME", str(tmp_path / "home"))  # model files on a disk with room
    monkeypatch.setenv("DOSIRAK_METADATA_URL", f"sqlite:///{small_disk / 'metadata.db'}")  # the store not
    reset_settings()
    dk.models.save("m", {"v": 1})
    get_store().models.list_models()
    fill_disk(small_disk)

    with pytest.raises(StoreError, match="disk full"):
        dk.models.save("m", {"v": 2, "pad": "x" * 200_000})
    models = get_settings().models_root
    assert sorted(p.name for p in (models / "m").iterdir()) == ["1"]
    assert list((models / ".tmp").iterdir()) == []
    (small_disk / "filler").unlink()
    assert dk.models.save("m", {"v": 2}).tag == "m:2"


def test_a_save_that_fills_the_disk_is_a_model_error_saying_disk_full_and_leaves_nothing(
    small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dosirak.errors import ModelError
    from dosirak.metadata.store import close_stores
    from dosirak.settings import get_settings, reset_settings

    close_stores()
    monkeypatch.setenv("DOSIRAK_HOME", str(small_disk))  # model files on the small disk
    monkeypatch.setenv("DOSIRAK_METADATA_URL", f"sqlite:///{tmp_path / 'metadata.db'}")  # the store not
    reset_settings()
    with pytest.raises(ModelError, match="disk full") as info:
        dk.models.save("big", {"weights": "x" * (4 << 20)})
    assert str(small_disk) in str(info.value) and "dosirak gc" in str(info.value)
    models = get_settings().models_root
    assert [p for p in models.rglob("*") if p.is_file()] == []
    assert not (models / "big").exists()
