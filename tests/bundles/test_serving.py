"""Serving a bundle: verified, trusted or not, and its workers resolve models to the bundle's copies."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import dosirak as dk
from dosirak.bundles.builder import build
from dosirak.bundles.serving import BUNDLE_DIR_ENV, BUNDLE_TRUSTED_ENV, open_for_serving
from dosirak.bundles.spec import make_spec
from dosirak.errors import BundleIntegrityError, ModelTrustError
from dosirak.models.source import MODEL_INDEX_ENV, PackedModels
from tests.bundles._fixtures import write_service

KEEPER = '''
import dosirak as dk


@dk.service(name="keeper")
class Keeper:
    model = dk.model_ref("kept:latest")

    @dk.api
    def kept(self) -> str:
        return str(self.model.load())
'''


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    dk.models.save("kept", {"from": "bundle"})
    record = build(make_spec(service="service.py:Keeper"), base_dir=write_service(tmp_path / "svc", KEEPER))
    dk.models.save("kept", {"from": "store"})  # newer, but not in the bundle
    return Path(record.path)


def test_a_bundle_built_here_is_served_trusted_and_its_workers_load_its_own_model_copies(
        bundle_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    served = open_for_serving("keeper:latest")
    assert served is not None and served.trusted
    assert served.service == "service.py:Keeper" and served.source_dir == bundle_dir / "src"
    env = served.worker_env()
    assert env[BUNDLE_DIR_ENV] == str(bundle_dir.resolve()) and env[BUNDLE_TRUSTED_ENV] == "1"
    index = PackedModels.from_json(env[MODEL_INDEX_ENV])
    assert [(m.name, m.version) for m in index.models] == [("kept", "1")] and index.trusted
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    version = dk.model_ref("kept:latest").resolve()
    assert version.path.is_relative_to(bundle_dir.resolve())
    assert dk.model_ref("kept:latest").load() == {"from": "bundle"}


def test_a_bundle_directory_the_store_does_not_know_is_untrusted_unless_the_operator_says_so(
        bundle_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "elsewhere"
    shutil.copytree(bundle_dir, copy)
    served = open_for_serving(str(copy))
    assert served is not None and not served.trusted
    for name, value in served.worker_env().items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ModelTrustError):
        dk.model_ref("kept:latest").load()
    monkeypatch.setenv(BUNDLE_TRUSTED_ENV, "1")
    served = open_for_serving(str(copy))
    assert served is not None and served.trusted


def test_service_specs_and_unknown_tags_are_not_bundles(bundle_dir: Path) -> None:
    assert open_for_serving("service.py:Keeper") is None
    assert open_for_serving("pkg.module:Keeper") is None
    assert open_for_serving("nosuch:1") is None


def test_a_bundle_whose_files_changed_is_refused(bundle_dir: Path) -> None:
    (bundle_dir / "src" / "service.py").write_text(KEEPER + "\n# changed\n")
    with pytest.raises(BundleIntegrityError):
        open_for_serving(str(bundle_dir))
