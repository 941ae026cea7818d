"""Signed bundles: a signature proves origin where the MANIFEST only proves consistency."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from dosirak.bundles import store
from dosirak.bundles.archive import export_bundle, import_bundle
from dosirak.bundles.manifest import write_manifest
from dosirak.bundles.signing import (
    SIGNATURES,
    check_trusted,
    generate_key,
    load_public_keys,
    read_signatures,
    sign,
    trusted_signers,
)
from dosirak.errors import BundleSignatureError, ConfigError
from dosirak.metadata.store import close_stores
from dosirak.settings import reset_settings
from tests.bundles._fixtures import build_echo_bundle

pytest.importorskip("cryptography")


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    return build_echo_bundle(tmp_path / "svc")


@pytest.fixture
def team_key(tmp_path: Path) -> Path:
    generate_key(tmp_path / "keys" / "team.key", name="ml-team")
    return tmp_path / "keys" / "team.key"


@pytest.fixture
def other_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    def switch(**env: str) -> Path:
        close_stores()
        home = tmp_path / "other_home"
        monkeypatch.setenv("DOSIRAK_HOME", str(home))
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        reset_settings()
        return home
    return switch


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(team_key: Path) -> None:
    assert oct(team_key.stat().st_mode & 0o777) == "0o600"
    (public,) = load_public_keys(Path(f"{team_key}.pub"))
    assert public.name == "ml-team" and len(public.raw) == 32
    with pytest.raises(ConfigError, match="already exists"):
        generate_key(team_key, name="ml-team")


def test_a_signed_bundle_is_trusted_by_its_key_and_not_by_another(bundle_dir: Path, team_key: Path,
                                                                  tmp_path: Path) -> None:
    sign(bundle_dir, team_key)
    trusted = load_public_keys(Path(f"{team_key}.pub"))
    assert [k.name for k in check_trusted(bundle_dir, trusted)] == ["ml-team"]
    generate_key(tmp_path / "mallory.key", name="mallory")
    assert trusted_signers(bundle_dir, load_public_keys(tmp_path / "mallory.key.pub")) == []
    store.open_bundle(str(bundle_dir), check=True)  # SIGNATURES is outside the MANIFEST: still verifies


def test_signing_twice_with_one_key_keeps_one_signature_and_two_keys_keep_two(bundle_dir: Path, team_key: Path,
                                                                            tmp_path: Path) -> None:
    sign(bundle_dir, team_key)
    sign(bundle_dir, team_key)
    assert len(read_signatures(bundle_dir)) == 1
    generate_key(tmp_path / "release.key", name="release")
    sign(bundle_dir, tmp_path / "release.key")
    assert sorted(s.key_name for s in read_signatures(bundle_dir)) == ["ml-team", "release"]


def test_changed_code_with_a_recomputed_manifest_loses_the_signature(bundle_dir: Path, team_key: Path) -> None:
    """The attack the MANIFEST alone cannot catch: change service.py and recompute the MANIFEST."""
    sign(bundle_dir, team_key)
    service = bundle_dir / "src" / "service.py"
    service.chmod(0o644)
    service.write_text(service.read_text() + "\nimport os  # planted\n")
    write_manifest(bundle_dir)
    store.open_bundle(str(bundle_dir), check=True)  # consistent again...
    with pytest.raises(BundleSignatureError, match="none of its 1 signature"):  # ... but no longer signed
        check_trusted(bundle_dir, load_public_keys(Path(f"{team_key}.pub")))


def test_a_damaged_signatures_file_is_refused(bundle_dir: Path, team_key: Path) -> None:
    sign(bundle_dir, team_key)
    (bundle_dir / SIGNATURES).write_text("not a signature line\n")
    with pytest.raises(BundleSignatureError, match="line 1 is malformed"):
        read_signatures(bundle_dir)


def test_import_requires_a_trusted_signature_when_the_setting_says_so(
        bundle_dir: Path, team_key: Path, tmp_path: Path, other_home: Callable[..., Path]) -> None:
    unsigned = export_bundle(str(bundle_dir), tmp_path / "unsigned.bundle")
    sign(bundle_dir, team_key)
    signed = export_bundle(str(bundle_dir), tmp_path / "signed.bundle")
    other_home(DOSIRAK_REQUIRE_SIGNED_BUNDLES="1", DOSIRAK_TRUSTED_KEYS=f"{team_key}.pub")
    with pytest.raises(BundleSignatureError, match="it is not signed, and signed bundles are required"):
        import_bundle(unsigned)
    assert store.list_bundles() == []
    record = import_bundle(signed)
    assert read_signatures(Path(record.path))[0].key_name == "ml-team"


def test_serve_refuses_an_unsigned_bundle_when_signatures_are_required(bundle_dir: Path, team_key: Path) -> None:
    env = {**os.environ, "DOSIRAK_REQUIRE_SIGNED_BUNDLES": "1", "DOSIRAK_TRUSTED_KEYS": f"{team_key}.pub"}
    done = subprocess.run([sys.executable, "-m", "dosirak.cli.main", "serve", str(bundle_dir), "--port", "0"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode != 0
    assert "is refused: it is not signed" in done.stderr, done.stderr


def test_the_cli_signs_and_verify_reports_who_signed(bundle_dir: Path, team_key: Path) -> None:
    cli = [sys.executable, "-m", "dosirak.cli.main", "bundle"]
    done = subprocess.run([*cli, "sign", str(bundle_dir), "--key", str(team_key)], capture_output=True, text=True,
                          timeout=60, check=True)
    assert "with ml-team" in done.stdout
    done = subprocess.run([*cli, "verify", str(bundle_dir)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "DOSIRAK_TRUSTED_KEYS": f"{team_key}.pub"}, check=True)
    assert "signed by ml-team" in done.stdout and "valid, by a trusted key" in done.stdout
