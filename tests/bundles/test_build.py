from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import dosirak as dk
from dosirak.bundles import store
from dosirak.bundles.builder import build, build_from_file, matches
from dosirak.bundles.bundle import Bundle
from dosirak.bundles.spec import make_spec
from dosirak.errors import BundleError, ModelError
from dosirak.settings import DEFAULT_CONTAINER_BASE_IMAGE, get_settings
from tests.bundles._fixtures import make_mlp, write_service

pytest.importorskip("torch")


@pytest.fixture
def service_dir(tmp_path: Path) -> Path:
    directory = write_service(tmp_path / "svc")
    (directory / "labels.json").write_text('["t-shirt"]')
    (directory / "tests").mkdir()
    (directory / "tests" / "test_x.py").write_text("")
    dk.models.save("fashion_mnist", make_mlp())
    return directory


def assert_store_has_no_bundle_files() -> None:
    root = get_settings().bundles_root
    leftovers = [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
    assert leftovers == []
    assert store.list_bundles() == []


def test_build_writes_a_complete_verified_bundle(service_dir: Path) -> None:
    record = build(make_spec(service="service.py:FashionMNIST", labels={"framework": "pytorch"},
                             exclude=["tests/"], python={"packages": ["numpy"]}), base_dir=service_dir)
    bundle = Bundle.open(Path(record.path))  # verifies the MANIFEST
    files = sorted(p.relative_to(bundle.path).as_posix() for p in bundle.path.rglob("*") if p.is_file())
    assert files == ["MANIFEST", "bundle.yaml", "env/Dockerfile", "env/requirements.txt",
                     "models/fashion_mnist/1/model.yaml", "models/fashion_mnist/1/weights.safetensors",
                     "openapi.json", "src/labels.json", "src/service.py"]
    info = bundle.info
    assert info["name"] == "fashion_mnist" and info["service"] == "service.py:FashionMNIST"
    assert info["labels"] == {"framework": "pytorch"} and info["python_version"]
    assert [a["name"] for a in info["apis"]] == ["predict"] and info["apis"][0]["input"]
    [model] = info["models"]
    assert (model["name"], model["version"], model["tags"]) == ("fashion_mnist", 1, ["fashion_mnist:1", "fashion_mnist:latest"])
    assert model["files"]["weights.safetensors"]["sha256"]
    requirements = (bundle.path / "env/requirements.txt").read_text()
    import numpy
    import torch

    assert f"numpy=={numpy.__version__}" in requirements and f"torch=={torch.__version__}" in requirements
    assert "safetensors==" in requirements
    dockerfile = (bundle.path / "env/Dockerfile").read_text()
    assert f"FROM {DEFAULT_CONTAINER_BASE_IMAGE}\n" in dockerfile and "docker" not in info
    assert json.loads((bundle.path / "openapi.json").read_text())["paths"]["/predict"]
    assert record.tag == f"fashion_mnist:{info['version']}"
    assert store.get("fashion_mnist:latest").id == record.id


def test_versions_sort_by_time_and_latest_is_newest(service_dir: Path) -> None:
    spec = make_spec(service="service.py:FashionMNIST")
    first, second = build(spec, base_dir=service_dir), build(spec, base_dir=service_dir)
    assert first.version < second.version
    assert store.get("fashion_mnist:latest").version == second.version
    assert [r.version for r in store.list_bundles()] == [second.version, first.version]


def test_build_from_dosirak_yaml_with_name_and_include(service_dir: Path) -> None:
    (service_dir / "dosirak.yaml").write_text(yaml.safe_dump({
        "service": "service.py:FashionMNIST", "name": "fm", "include": ["*.py"], "exclude": ["tests/"],
        "models": ["fashion_mnist:latest"], "docker": {"base_image": "python:3.11", "system_packages": ["libgomp1"]},
    }))
    record = build_from_file(service_dir / "dosirak.yaml")
    bundle = Bundle.open(Path(record.path))
    assert bundle.name == "fm"
    assert sorted(p.name for p in (bundle.path / "src").rglob("*") if p.is_file()) == ["service.py"]
    dockerfile = (bundle.path / "env/Dockerfile").read_text()
    assert "FROM python:3.11\n" in dockerfile and "libgomp1" in dockerfile
    assert bundle.info["docker"] == {"base_image": "python:3.11", "system_packages": ["libgomp1"]}


@pytest.mark.parametrize(("rel", "pattern", "expected"), [
    ("a/b/c.py", "*.py", True), ("c.py", "**/*.py", True), ("a/c.py", "**/*.py", True),
    ("tests/x.py", "tests/", True), ("a/tests/x.py", "tests/", True), ("data/x/y.bin", "data/**", True),
    ("other/x.py", "data/**", False), ("a/b.txt", "*.py", False),
])
def test_glob_matching(rel: str, pattern: str, expected: bool) -> None:
    assert matches(rel, pattern) is expected


def test_missing_service_file_is_a_clear_error(service_dir: Path) -> None:
    with pytest.raises(BundleError, match="service file nope.py does not exist"):
        build(make_spec(service="nope.py:FashionMNIST"), base_dir=service_dir)
    assert_store_has_no_bundle_files()


def test_missing_service_class_is_a_clear_error(service_dir: Path) -> None:
    with pytest.raises(BundleError, match="has no attribute 'Nope'"):
        build(make_spec(service="service.py:Nope"), base_dir=service_dir)


def test_service_whose_import_fails_shows_the_import_error(tmp_path: Path) -> None:
    directory = write_service(tmp_path / "broken", "import not_a_module_anywhere\n")
    with pytest.raises(BundleError, match="ModuleNotFoundError: No module named 'not_a_module_anywhere'"):
        build(make_spec(service="service.py:X"), base_dir=directory)
    assert_store_has_no_bundle_files()


def test_unknown_model_reference_is_a_clear_error(service_dir: Path) -> None:
    with pytest.raises(BundleError, match="model nope:latest named by the bundle does not exist"):
        build(make_spec(service="service.py:FashionMNIST", models=["nope:latest"]), base_dir=service_dir)
    assert_store_has_no_bundle_files()


def test_exclude_that_removes_the_service_file_is_refused(service_dir: Path) -> None:
    with pytest.raises(BundleError, match="exclude pattern 'serv\\*' removes it"):
        build(make_spec(service="service.py:FashionMNIST", exclude=["serv*"]), base_dir=service_dir)


def test_package_not_installed_is_refused_naming_it(service_dir: Path) -> None:
    with pytest.raises(BundleError, match="package 'surely-not-installed-pkg' .* not installed"):
        build(make_spec(service="service.py:FashionMNIST", python={"packages": ["surely-not-installed-pkg"]}),
              base_dir=service_dir)
    assert_store_has_no_bundle_files()


def test_constraint_not_met_by_the_installed_version_is_refused(service_dir: Path) -> None:
    with pytest.raises(BundleError, match="does not satisfy '>=999'"):
        build(make_spec(service="service.py:FashionMNIST", python={"packages": ["numpy>=999"]}),
              base_dir=service_dir)


def test_unknown_spec_key_is_refused() -> None:
    with pytest.raises(BundleError, match="servce: Extra inputs are not permitted"):
        make_spec(servce="x.py:Y")


def test_failure_after_files_are_written_leaves_no_partial_bundle(service_dir: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from dosirak.bundles import builder

    def boom(root: Path) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(builder, "write_manifest", boom)
    with pytest.raises(OSError, match="disk full"):
        build(make_spec(service="service.py:FashionMNIST"), base_dir=service_dir)
    assert_store_has_no_bundle_files()


def test_model_used_by_a_bundle_cannot_be_deleted_until_the_bundle_is(service_dir: Path) -> None:
    record = build(make_spec(service="service.py:FashionMNIST"), base_dir=service_dir)
    with pytest.raises(ModelError, match=f"in use by bundle {record.tag} \\(uses fashion_mnist:1\\)"):
        dk.models.delete("fashion_mnist:1")
    with pytest.raises(ModelError, match="in use by bundle"):
        dk.models.delete("fashion_mnist")
    store.delete(record.tag)
    assert not Path(record.path).exists()
    dk.models.delete("fashion_mnist")


def test_running_deployment_blocks_bundle_and_model_deletion(service_dir: Path) -> None:
    from dosirak.metadata import tables
    from dosirak.metadata.store import get_store
    from dosirak.metadata.timeutil import utcnow

    record = build(make_spec(service="service.py:FashionMNIST"), base_dir=service_dir)
    version = dk.models.get("fashion_mnist:1")
    db = get_store()
    with db.sql.write() as cur:
        cur.execute(tables.DEPLOYMENTS.insert_sql(), tables.DEPLOYMENTS.row(dict(
            id="d1", name="fm-local", deployer="local", flavor="local", bundle_id=record.id,
            model_version_id=version.id, status="running", config={}, created_at=utcnow(), extra={})))
    with pytest.raises(BundleError, match="used by deployment\\(s\\) fm-local \\(running\\)"):
        store.delete(record.tag)
    assert Path(record.path).is_dir()
    with db.sql.write() as cur:
        cur.execute("UPDATE deployments SET status = 'stopped'")
    store.delete(record.tag)
    assert not Path(record.path).exists()
    with db.sql.write() as cur:
        cur.execute("UPDATE deployments SET status = 'running'")
    with pytest.raises(ModelError, match="deployment fm-local \\(running, uses fashion_mnist:1\\)"):
        dk.models.delete("fashion_mnist:1")
