"""Model sources: the local store, or models packed below a directory and listed by an index."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import dosirak as dk
from dosirak.errors import ModelError
from dosirak.models.source import MODEL_INDEX_ENV, PackedModel, PackedModels, StoreModels, current_source


def _packed(tmp_path: Path, *, path: str = "models/m/1") -> PackedModels:
    version = dk.models.save("m", {"from": "packed"})
    shutil.copytree(version.path, tmp_path / "packed" / "models" / "m" / "1")
    return PackedModels(root=tmp_path / "packed", trusted=True, origin="the bundle at here",
                        models=(PackedModel("m", "1", path, ("m:1", "m:latest", "m:production")),))


def test_without_an_index_models_resolve_in_the_local_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MODEL_INDEX_ENV, raising=False)
    dk.models.save("m", "first")
    assert isinstance(current_source(), StoreModels) and current_source().resolve("m:latest").tag == "m:1"


def test_the_index_travels_as_json_and_resolves_by_number_alias_and_latest(tmp_path: Path) -> None:
    packed = _packed(tmp_path)
    index = PackedModels.from_json(packed.to_json())
    assert index == packed
    dk.models.save("m", {"from": "store"})  # newer in the store: the index does not see it
    assert index.load("m") == index.load("m:1") == index.load("m:production") == {"from": "packed"}
    with pytest.raises(ModelError, match=r"the bundle at here does not contain model m:7 \(it has: m:1\)"):
        index.resolve("m:7")


def test_an_index_entry_pointing_outside_its_root_is_refused(tmp_path: Path) -> None:
    index = _packed(tmp_path)
    escaping = PackedModels(root=index.root, trusted=True, origin="the bundle at here",
                            models=(PackedModel("m", "1", "models/../../elsewhere"),))
    with pytest.raises(ModelError, match="outside itself"):
        escaping.resolve("m:1")


@pytest.mark.parametrize("text", ["", "{", "[]", '{"root": 1, "trusted": true, "origin": "x", "models": []}',
                                  '{"root": "/r", "trusted": "yes", "origin": "x", "models": []}',
                                  '{"root": "/r", "trusted": true, "origin": "x", "models": [[1, "1", "p", []]]}',
                                  '{"root": "/r", "trusted": true, "origin": "x", "models": [["m", "1"]]}'])
def test_a_malformed_index_in_the_environment_is_a_model_error(text: str) -> None:
    with pytest.raises(ModelError, match=MODEL_INDEX_ENV):
        PackedModels.from_json(text)
