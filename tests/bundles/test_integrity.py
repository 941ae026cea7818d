"""Every tamper and traversal case: verify, open and import refuse them, naming the problem."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

import dosirak as dk
from dosirak.bundles import store
from dosirak.bundles.archive import export_bundle, import_bundle
from dosirak.bundles.builder import build
from dosirak.bundles.bundle import Bundle
from dosirak.bundles.manifest import verify, write_manifest
from dosirak.bundles.spec import make_spec
from dosirak.errors import BundleIntegrityError, BundleVersionError
from dosirak.metadata.store import close_stores
from dosirak.settings import get_settings, reset_settings
from tests.bundles._fixtures import make_mlp, write_service

pytest.importorskip("torch")

WEIGHTS = "models/fashion_mnist/1/weights.safetensors"


@pytest.fixture
def built(tmp_path: Path) -> Path:
    directory = write_service(tmp_path / "svc")
    dk.models.save("fashion_mnist", make_mlp())
    return Path(build(make_spec(service="service.py:FashionMNIST"), base_dir=directory).path)


@pytest.fixture
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], Path]:
    def switch() -> Path:
        close_stores()
        home = tmp_path / "other_home"
        monkeypatch.setenv("DOSIRAK_HOME", str(home))
        reset_settings()
        return home
    return switch


def test_verify_passes_on_an_untouched_bundle(built: Path) -> None:
    report = verify(built)
    assert report.files == 7 and report.bytes > 2_600_000


@pytest.mark.parametrize(("change", "message"), [
    (lambda b: (b / "src/service.py").write_text("print('evil')\n"), "src/service.py .*"),
    (lambda b: (b / WEIGHTS).write_bytes((b / WEIGHTS).read_bytes()[:1000]), f"{WEIGHTS} has 1000 bytes"),
    (lambda b: (b / "src/extra.py").write_text(""), "file src/extra.py is not in the MANIFEST"),
    (lambda b: (b / "openapi.json").unlink(), "file openapi.json listed in the MANIFEST is missing"),
    (lambda b: (b / "MANIFEST").write_text("garbage"), "does not start with"),
    (lambda b: os.symlink("/etc/passwd", b / "src/link"), "src/link is not in the MANIFEST"),
])
def test_tampered_bundle_is_refused_naming_the_file(built: Path, change: Callable[[Path], object],
                                                    message: str) -> None:
    change(built)
    with pytest.raises(BundleIntegrityError, match=message):
        Bundle.open(built)


def test_same_size_change_is_caught_by_the_hash(built: Path) -> None:
    data = bytearray((built / WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    (built / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match=f"{WEIGHTS} does not match its SHA-256"):
        verify(built)


def test_link_leaving_the_bundle_is_refused_even_when_listed(built: Path) -> None:
    outside = built.parent.parent / "secret.txt"
    outside.write_text("secret")
    os.symlink(outside, built / "src/link.txt")
    with pytest.raises(BundleIntegrityError, match="src/link.txt is a link that leaves the bundle"):
        write_manifest(built)


def _rewrite_info(bundle: Path, **changes: object) -> None:
    info = yaml.safe_load((bundle / "bundle.yaml").read_text())
    info.update(changes)
    (bundle / "bundle.yaml").write_text(yaml.safe_dump(info))
    write_manifest(bundle)  # a consistent bundle, just from the future


@pytest.mark.parametrize("changes", [{"format_version": 99}, {"dosirak_version": "9.0.0"}])
def test_bundle_built_by_a_newer_dosirak_is_refused(built: Path, changes: dict[str, object]) -> None:
    _rewrite_info(built, **changes)
    with pytest.raises(BundleVersionError, match="newer dosirak|upgrade dosirak"):
        Bundle.open(built)


def test_export_import_round_trip_into_an_empty_home(built: Path, tmp_path: Path,
                                                     fresh_home: Callable[[], Path]) -> None:
    archive = export_bundle(store.get("fashion_mnist:latest").tag, tmp_path / "fm.bundle")
    fresh_home()
    record = import_bundle(archive)
    assert record.imported and Path(record.path).is_relative_to(get_settings().bundles_root)
    assert verify(Path(record.path)).files == 7
    assert store.get("fashion_mnist:latest").id == record.id


def _archive_with(tmp_path: Path, source: Path, extra: Callable[[tarfile.TarFile], None] | None = None,
                  skip: str | None = None, replace: dict[str, bytes] | None = None) -> Path:
    out = tmp_path / "crafted.bundle"
    with tarfile.open(out, "w:gz") as tar:
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            rel = path.relative_to(source).as_posix()
            if rel == skip:
                continue
            data = (replace or {}).get(rel, path.read_bytes())
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if extra:
            extra(tar)
    return out


def _file(name: str, data: bytes = b"x") -> Callable[[tarfile.TarFile], None]:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return add


def _link(name: str, target: str, hard: bool = False) -> Callable[[tarfile.TarFile], None]:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
        info.linkname = target
        tar.addfile(info)
    return add


@pytest.mark.parametrize(("extra", "message"), [
    (_file("../escape.txt"), "member '../escape.txt' climbs out of the bundle"),
    (_file("src/../../escape.txt"), "climbs out of the bundle"),
    (_file("/etc/evil"), "member '/etc/evil' has an absolute path"),
    (_link("src/passwd", "/etc/passwd"), "member 'src/passwd' is a link that leaves the bundle"),
    (_link("src/up", "../../../../etc/passwd"), "member 'src/up' is a link that leaves the bundle"),
    (_link("src/hard", "/etc/passwd", hard=True), "member 'src/hard' is a hard link"),
])
def test_import_refuses_traversal_and_escaping_links(built: Path, tmp_path: Path,
                                                     fresh_home: Callable[[], Path],
                                                     extra: Callable[[tarfile.TarFile], None], message: str) -> None:
    archive = _archive_with(tmp_path, built, extra)
    home = fresh_home()
    with pytest.raises(BundleIntegrityError, match=message):
        import_bundle(archive)
    assert not (tmp_path / "escape.txt").exists()
    assert store.list_bundles() == []
    assert [p for p in (home / "bundles").rglob("*") if p.is_file()] == []


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"replace": {"src/service.py": b"import os\n"}}, "src/service.py does not match its SHA-256|src/service.py has"),
    ({"replace": {WEIGHTS: b"\0" * 10}}, f"{WEIGHTS} has 10 bytes"),
    ({"skip": "openapi.json"}, "openapi.json listed in the MANIFEST is missing"),
    ({"extra": _file("src/added.py")}, "src/added.py is not in the MANIFEST"),
])
def test_import_refuses_a_tampered_archive_naming_the_file(built: Path, tmp_path: Path,
                                                           fresh_home: Callable[[], Path],
                                                           kwargs: dict[str, object], message: str) -> None:
    archive = _archive_with(tmp_path, built, **kwargs)  # type: ignore[arg-type]
    fresh_home()
    with pytest.raises(BundleIntegrityError, match=message):
        import_bundle(archive)
    assert store.list_bundles() == []


def test_import_refuses_a_truncated_archive(built: Path, tmp_path: Path, fresh_home: Callable[[], Path]) -> None:
    archive = export_bundle(str(built), tmp_path / "fm.bundle")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    home = fresh_home()
    with pytest.raises(BundleIntegrityError, match="truncated or damaged"):
        import_bundle(archive)
    assert [p for p in (home / "bundles").rglob("*") if p.is_file()] == []


def test_import_refuses_a_bundle_from_a_newer_dosirak(built: Path, tmp_path: Path,
                                                     fresh_home: Callable[[], Path]) -> None:
    copy = tmp_path / "future"
    shutil.copytree(built, copy)
    _rewrite_info(copy, format_version=2)
    archive = _archive_with(tmp_path, copy)
    fresh_home()
    with pytest.raises(BundleVersionError, match="format 2"):
        import_bundle(archive)
    assert store.list_bundles() == []


def test_an_unreadable_file_is_an_integrity_error_naming_it_not_a_traceback(built: Path) -> None:
    """Checked as an unprivileged user (root reads every file), on a copy that user can reach."""
    import subprocess
    import sys
    import tempfile

    if os.geteuid() != 0:
        (built / "openapi.json").chmod(0o000)
        with pytest.raises(BundleIntegrityError, match="cannot read file openapi.json"):
            verify(built)
        return
    reachable = Path(tempfile.mkdtemp(prefix="dosirak-unreadable-"))
    try:
        reachable.chmod(0o755)
        copy = Path(shutil.copytree(built, reachable / "bundle"))
        for path in [copy, *copy.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        (copy / "openapi.json").chmod(0o000)
        script = ("import os; from pathlib import Path; from dosirak.bundles.manifest import verify; "
                  f"os.setuid(65534); verify(Path({str(copy)!r}))")  # imported as root, verified as nobody
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("dosirak.errors.BundleIntegrityError") and "cannot read file openapi.json" in last, \
            done.stderr
    finally:
        shutil.rmtree(reachable)
