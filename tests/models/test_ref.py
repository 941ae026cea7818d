from __future__ import annotations

from pathlib import Path
from typing import Annotated, get_args

import pytest

import dosirak as dk
from dosirak.errors import ModelError, ModelTrustError
from dosirak.models.ref import ModelOutput, find_model_output
from dosirak.models.source import MODEL_INDEX_ENV, PackedModel, PackedModels


def test_model_ref_resolves_against_the_local_store() -> None:
    ref = dk.model_ref("m:latest")
    dk.models.save("m", "first")
    dk.models.save("m", "second")
    assert ref.resolve().tag == "m:2" and ref.load() == "second"
    dk.models.alias("m:1", "production")
    assert dk.model_ref("m:production").load() == "first"


def test_model_ref_rejects_a_malformed_tag() -> None:
    with pytest.raises(ModelError, match="invalid model reference"):
        dk.model_ref("m:")


def _served_index(tmp_path: Path, *, trusted: bool) -> str:
    """The index a bundle's workers get: one pickled model copied below the bundle, as the builder lays it out."""
    import shutil

    version = dk.models.save("m", {"from": "bundle"})
    dk.models.save("m", {"from": "store"})
    bundle = tmp_path / "bundle"
    shutil.copytree(version.path, bundle / "models" / "m" / "1")
    return PackedModels(root=bundle, trusted=trusted, origin=f"the bundle at {bundle}", models=(
        PackedModel("m", "1", "models/m/1", ("m:1", "m:latest", "m:production")),)).to_json()


def test_model_ref_resolves_to_the_served_bundle_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODEL_INDEX_ENV, _served_index(tmp_path, trusted=True))
    assert dk.model_ref("m:latest").load() == {"from": "bundle"}  # not the store's newer m:2
    assert dk.model_ref("m:production").load() == {"from": "bundle"}
    with pytest.raises(ModelError, match="does not contain model m:2 .*it has: m:1"):
        dk.model_ref("m:2").load()
    with pytest.raises(ModelError, match="does not contain model other "):
        dk.model_ref("other").load()


def test_pickled_model_in_an_untrusted_bundle_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODEL_INDEX_ENV, _served_index(tmp_path, trusted=False))
    with pytest.raises(ModelTrustError, match="trusted=True"):
        dk.model_ref("m:latest").load()
    assert dk.model_ref("m:latest").load(trusted=True) == {"from": "bundle"}


def test_model_output_annotation_saves_a_version_with_its_alias() -> None:
    annotation = Annotated[dict, "model", dk.ModelOutput("clf", alias="staging", labels={"k": "v"})]
    marker = find_model_output(get_args(annotation)[1:])
    assert isinstance(marker, ModelOutput)
    version = marker.save({"w": 1}, output_name="model")
    assert version.tag == "clf:1" and version.labels == {"k": "v"} and version.metadata == {"output": "model"}
    assert dk.models.get("clf:staging").load() == {"w": 1}
