"""Crafted archives: a consistent bundle (MANIFEST recomputed) whose names lead elsewhere, and bombs.

Every case imports into a fresh home and checks that nothing was written outside it and
nothing was recorded. Traversal members and tampering are in ``test_integrity.py``.
"""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from dosirak.bundles import store
from dosirak.bundles.archive import export_bundle, import_bundle
from dosirak.bundles.builder import build
from dosirak.bundles.manifest import write_manifest
from dosirak.bundles.spec import make_spec
from dosirak.errors import BundleError, BundleIntegrityError
from dosirak.metadata.store import close_stores, get_store
from dosirak.settings import ImportLimits, get_settings, reset_settings
from tests.bundles._fixtures import ECHO_SERVICE, build_echo_bundle
from tests.conftest import fill_disk


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    return build_echo_bundle(tmp_path / "svc")


@pytest.fixture
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    def switch(home: Path | None = None) -> Path:
        close_stores()
        home = home or tmp_path / "deep" / "er" / "home"
        home.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv("DOSIRAK_HOME", str(home))
        reset_settings()
        return home
    return switch


def _crafted(tmp_path: Path, bundle: Path, *, extra_files: dict[str, bytes] | None = None,
             **changes: Any) -> Path:
    """An archive of ``bundle`` with ``bundle.yaml`` changed and the MANIFEST recomputed (consistent)."""
    copy = tmp_path / f"crafted-{len(list(tmp_path.iterdir()))}"
    subprocess.run(["cp", "-a", str(bundle), str(copy)], check=True)
    info = yaml.safe_load((copy / "bundle.yaml").read_text())
    for key, value in changes.items():
        if key.startswith("model_"):
            info["models"] = [{"name": "m", "version": 1, "path": "models/m/1", **{key[6:]: value}}]
        else:
            info[key] = value
    (copy / "bundle.yaml").write_text(yaml.safe_dump(info))
    for rel, data in (extra_files or {}).items():
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        (copy / rel).write_bytes(data)
    write_manifest(copy)
    return _tar(copy, tmp_path / f"{copy.name}.bundle")


def _everything_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")} if root.exists() else set()


@pytest.mark.parametrize(("changes", "message"), [
    ({"name": "../../../../outside"}, "invalid bundle name '../../../../outside'"),
    ({"name": "/tmp/outside"}, "invalid bundle name '/tmp/outside'"),
    ({"name": "echo\n"}, r"invalid bundle name 'echo\\n'"),
    ({"name": ["echo"]}, "invalid bundle name \\['echo'\\]"),
    ({"version": "../../../outside"}, "invalid bundle version '../../../outside'"),
    ({"version": ".."}, "invalid bundle version '..'"),
    ({"version": "latest"}, "'latest' cannot be a bundle version"),
    ({"version": ""}, "invalid bundle version ''"),
    ({"service": "../../../../evil.py:Evil"}, "service '../../../../evil.py:Evil' is not FILE.py:Class"),
    ({"service": "/etc/evil.py:Evil"}, "is not FILE.py:Class"),
    ({"service": "service.py:os.system"}, "is not FILE.py:Class"),
    ({"model_name": "../m"}, "invalid model name '../m'"),
    ({"model_version": "../../1"}, "invalid model version '../../1'"),
    ({"model_path": "../../../../etc"}, "model path '../../../../etc' must be a relative path"),
    ({"model_path": "/etc"}, "model path '/etc' must be a relative path"),
    ({"models": "everything"}, "'models' must be a list"),
])
def test_import_refuses_names_and_paths_that_lead_elsewhere(bundle_dir: Path, tmp_path: Path,
                                                           fresh_home: Callable[..., Path],
                                                           changes: dict[str, Any], message: str) -> None:
    archive = _crafted(tmp_path, bundle_dir, **changes)
    home = fresh_home()
    before = _everything_under(tmp_path)
    with pytest.raises(BundleIntegrityError, match=message):
        import_bundle(archive)
    assert store.list_bundles() == []
    assert [p for p in (home / "bundles").rglob("*") if p.is_file()] == []
    assert {p for p in _everything_under(tmp_path) - before if not p.is_relative_to(home)} == set()


def test_an_alias_bomb_in_bundle_yaml_is_refused_before_anything_walks_it(bundle_dir: Path, tmp_path: Path,
                                                                         fresh_home: Callable[..., Path]) -> None:
    """500 bytes of labels expanding to 10**9 values: recording them as JSON would never finish."""
    from tests.test_untrusted import billion_laughs

    copy = tmp_path / "laughs"
    subprocess.run(["cp", "-a", str(bundle_dir), str(copy)], check=True)
    info = (copy / "bundle.yaml").read_text()
    laughs = "".join(f"  {line}\n" for line in billion_laughs().splitlines())
    (copy / "bundle.yaml").write_text(info.replace("labels: {}\n", f"labels:\n{laughs}"))
    assert "&a8 [*a7" in (copy / "bundle.yaml").read_text()
    write_manifest(copy)
    archive = _tar(copy, tmp_path / "laughs.bundle")
    fresh_home()
    started = time.perf_counter()
    with pytest.raises(BundleIntegrityError, match="expands to more than 1,000,000 values"):
        import_bundle(archive)
    assert time.perf_counter() - started < 5
    assert store.list_bundles() == []


def _tar(directory: Path, out: Path) -> Path:
    with tarfile.open(out, "w:gz") as tar:
        for path in sorted(directory.rglob("*")):
            tar.add(path, arcname=path.relative_to(directory).as_posix(), recursive=False)
    return out


def test_a_crafted_bundle_cannot_plant_code_that_the_next_interpreter_runs(bundle_dir: Path, tmp_path: Path,
                                                                          fresh_home: Callable[..., Path]) -> None:
    """The probe that found the hole: name/version steering the bundle into ``sitecustomize`` on sys.path."""
    site = tmp_path / "site"  # stands in for a site-packages directory (on PYTHONPATH below)
    site.mkdir()
    home = fresh_home()
    marker = tmp_path / "pwned"
    up = os.path.relpath(site, home / "bundles")
    archive = _crafted(tmp_path, bundle_dir, name=up, version="sitecustomize",
                       extra_files={"__init__.py": f"open({str(marker)!r}, 'w').write('x')\n".encode()})
    with pytest.raises(BundleIntegrityError, match="invalid bundle name"):
        import_bundle(archive)
    subprocess.run([sys.executable, "-c", "pass"], env={**os.environ, "PYTHONPATH": str(site)}, check=True)
    assert not (site / "sitecustomize").exists() and not marker.exists()


def test_the_import_cli_names_the_bad_value_in_one_line(bundle_dir: Path, tmp_path: Path,
                                                        fresh_home: Callable[..., Path]) -> None:
    archive = _crafted(tmp_path, bundle_dir, name="../../../../outside")
    home = fresh_home()
    done = subprocess.run([sys.executable, "-m", "dosirak.cli.main", "bundle", "import", str(archive)],
                          capture_output=True, text=True, env={**os.environ, "DOSIRAK_HOME": str(home)}, timeout=60)
    assert done.returncode != 0
    assert "invalid bundle name '../../../../outside'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "outside").exists() and not (home.parent / "outside").exists()


def test_deleting_a_record_placed_outside_the_store_leaves_the_files_and_says_so(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An older dosirak may have recorded a crafted bundle outside the store: never rmtree such a path."""
    outside = tmp_path / "planted"
    outside.mkdir()
    (outside / "keep.txt").write_text("x")
    get_store().bundles.create_bundle(bundle_id="b1", name="planted", version="1", path=str(outside), service="s.py:S",
                              created_at=datetime.now(UTC), size=1, manifest_hash="0" * 64, labels={}, apis=[], models=[])
    store.delete("planted:1")
    assert (outside / "keep.txt").exists()
    assert "outside the bundle store" in caplog.text
    assert store.list_bundles() == []


# --- bombs: refused from the headers, before extraction, saying so ---------------------------------------


def _empty_members(path: Path, count: int) -> Path:
    """A gzip'd tar of ``count`` zero-byte members (all one name: the header is repeated)."""
    info = tarfile.TarInfo("src/a.py")
    header = info.tobuf(format=tarfile.USTAR_FORMAT)
    with gzip.open(path, "wb", compresslevel=1) as out:
        for _ in range(count // 10_000):
            out.write(header * 10_000)
        out.write(header * (count % 10_000) + b"\0" * 1024)
    return path


def test_an_archive_of_300000_members_is_refused_in_well_under_a_second(tmp_path: Path) -> None:
    archive = _empty_members(tmp_path / "many.bundle", 300_000)
    started = time.perf_counter()
    with pytest.raises(BundleIntegrityError, match="more than 10,000 members: refusing to import a possible "
                                                   "archive bomb.*DOSIRAK_IMPORT_MAX_MEMBERS"):
        import_bundle(archive)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, elapsed
    assert [p for p in get_settings().bundles_root.rglob("*") if p.is_file()] == []


def _zeros_member(tar: tarfile.TarFile, name: str, size: int) -> None:
    class Zeros(io.RawIOBase):
        def __init__(self) -> None:
            self.left = size

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            n = min(len(buffer), self.left)
            buffer[:n] = bytes(n)
            self.left -= n
            return n

    info = tarfile.TarInfo(name)
    info.size = size
    tar.addfile(info, io.BufferedReader(Zeros()))


def test_one_huge_file_is_refused_from_its_header_without_decompressing_it(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.bundle"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        _zeros_member(tar, "bundle.yaml", 200 * 1024 * 1024)
    assert archive.stat().st_size < 1024 * 1024  # 200 MiB of zeros: a real (small) bomb
    started = time.perf_counter()
    with pytest.raises(BundleIntegrityError, match="'bundle.yaml' unpacks to 200.0 MiB, over the per-file limit "
                                                   "of 50.0 MiB: refusing to import a possible archive bomb"):
        import_bundle(archive, limits=ImportLimits(max_file_bytes=50 * 1024 * 1024))
    assert time.perf_counter() - started < 0.5  # decompressing 200 MiB would take longer
    assert [p for p in get_settings().bundles_root.rglob("*") if p.is_file()] == []


def test_many_files_over_the_total_are_refused_before_extraction(tmp_path: Path) -> None:
    archive = tmp_path / "total.bundle"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        for i in range(12):
            _zeros_member(tar, f"src/f{i}.bin", 1024 * 1024)
    with pytest.raises(BundleIntegrityError, match=r"unpacks to more than 10.0 MiB \(the limit\)"):
        import_bundle(archive, limits=ImportLimits(max_bytes=10 * 1024 * 1024))
    assert [p for p in get_settings().bundles_root.rglob("*") if p.is_file()] == []


def test_limits_come_from_the_environment_and_the_cli(bundle_dir: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      fresh_home: Callable[..., Path]) -> None:
    archive = export_bundle(str(bundle_dir), tmp_path / "echo.bundle")
    home = fresh_home()
    env = {**os.environ, "DOSIRAK_HOME": str(home)}
    cli = [sys.executable, "-m", "dosirak.cli.main", "bundle", "import"]
    done = subprocess.run([*cli, str(archive)], capture_output=True, text=True, timeout=60,
                          env={**env, "DOSIRAK_IMPORT_MAX_MEMBERS": "3"})
    assert done.returncode != 0 and "more than 3 members" in done.stderr, done.stderr
    done = subprocess.run([*cli, "--max-size", "1KB", str(archive)], capture_output=True, text=True, timeout=60,
                          env=env)
    assert done.returncode != 0 and "unpacks to more than 1000 B" in done.stderr, done.stderr
    done = subprocess.run([*cli, "--max-size", "lots", str(archive)], capture_output=True, text=True, timeout=60,
                          env=env)
    assert done.returncode == 2 and "'lots' is not a size" in done.stderr, done.stderr
    done = subprocess.run([*cli, str(archive)], capture_output=True, text=True, timeout=60,
                          env={**env, "DOSIRAK_IMPORT_MAX_BYTES": "plenty"})
    assert done.returncode != 0 and "DOSIRAK_IMPORT_MAX_BYTES" in done.stderr, done.stderr
    done = subprocess.run([*cli, "--max-members", "100", str(archive)], capture_output=True, text=True,
                          timeout=60, env={**env, "DOSIRAK_IMPORT_MAX_MEMBERS": "3"})
    assert done.returncode == 0, done.stderr  # the flag wins over the environment


def test_an_archive_larger_than_the_free_space_is_refused_before_extraction(
        tmp_path: Path, small_disk: Path, fresh_home: Callable[..., Path]) -> None:
    archive = tmp_path / "big.bundle"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        _zeros_member(tar, "src/big.bin", 3 * 1024 * 1024)
    fresh_home(small_disk / "home")
    get_settings().bundles_root.mkdir(parents=True)
    with pytest.raises(BundleError, match="disk full; free some space first"):
        import_bundle(archive)
    assert [p for p in (small_disk / "home" / "bundles").rglob("*") if p.is_file()] == []


def test_a_disk_that_fills_during_extraction_says_disk_full_and_keeps_nothing(
        tmp_path: Path, small_disk: Path, fresh_home: Callable[..., Path]) -> None:
    archive = tmp_path / "big.bundle"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        _zeros_member(tar, "src/big.bin", 1024 * 1024)
    fresh_home(small_disk / "home")
    get_settings().bundles_root.mkdir(parents=True)
    get_store()  # the metadata file is on the small disk too
    fill_disk(small_disk, keep_free=1024 * 1024 + 64 * 1024)  # free space passes the check, barely
    (small_disk / "filler2").write_bytes(bytes(128 * 1024))     # ... then shrinks under the import
    with pytest.raises((BundleError, BundleIntegrityError), match="disk full"):
        import_bundle(archive)
    assert [p for p in (small_disk / "home" / "bundles").rglob("*") if p.is_file()] == []


def test_a_zip_file_is_refused_as_not_a_bundle_archive(tmp_path: Path) -> None:
    archive = tmp_path / "x.bundle"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("bundle.yaml", "name: x\n")
    with pytest.raises(BundleIntegrityError, match="not a readable bundle archive"):
        import_bundle(archive)


def test_building_a_bundle_on_a_full_disk_says_disk_full_and_keeps_nothing(
        tmp_path: Path, small_disk: Path, fresh_home: Callable[..., Path]) -> None:
    source = tmp_path / "svc"
    source.mkdir()
    (source / "service.py").write_text(ECHO_SERVICE + "\n# padding\n" * 2000)
    home = fresh_home(small_disk / "home")
    get_store()
    get_settings().bundles_root.mkdir(parents=True)
    fill_disk(small_disk)
    with pytest.raises(BundleError, match="disk full: building bundle 'echo' in"):
        build(make_spec(service="service.py:Echo"), base_dir=source)
    assert [p for p in (home / "bundles").rglob("*") if p.is_file()] == []


def test_importing_a_bundle_that_is_already_here_with_the_same_files_says_so_and_carries_on(
        bundle_dir: Path, tmp_path: Path) -> None:
    tag = f"{yaml.safe_load((bundle_dir / 'bundle.yaml').read_text())['name']}:" \
          f"{yaml.safe_load((bundle_dir / 'bundle.yaml').read_text())['version']}"
    archive = export_bundle(tag, tmp_path / "echo.bundle")
    assert import_bundle(archive).tag == tag  # the same files: nothing to do
    done = subprocess.run([sys.executable, "-m", "dosirak.cli.main", "bundle", "import", str(archive)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"{tag} is already in this store with the same files" in done.stdout and "nothing to import" in done.stdout
    assert len(store.list_bundles()) == 1
    changed = _crafted(tmp_path, bundle_dir, labels={"changed": "yes"})  # same tag, other files
    with pytest.raises(BundleError, match=f"bundle {tag} is already in this store with other files"):
        import_bundle(changed)
