"""Signed bundles: who built a bundle, proven with Ed25519 signatures over its MANIFEST.

The MANIFEST proves a bundle is *consistent* (every file matches its hash), not where it
came from: anyone can change ``src/service.py`` and recompute the MANIFEST. A signature
proves origin. A team makes a key pair once (``dosirak bundle keygen``), keeps the private
key secret, and lists the public key in every machine's trusted-keys file; the builder
signs (``dosirak bundle sign TAG --key KEY``); importers and servers check.

What is signed is ``dosirak-bundle-signature-v1``, the bundle's ``name:version`` and the
SHA-256 of its MANIFEST, which in turn covers every file's SHA-256 (``bundle.yaml``
included). Signatures live in the bundle's ``SIGNATURES`` file, one line each
(``KEY_ID SIGNATURE_BASE64 KEY_NAME``); it is outside the MANIFEST, so a bundle can be
signed after it was built, by several keys, without changing its content.

Keys: a private key is a PKCS#8 PEM file (mode 0600); a public key is one line,
``dosirak-ed25519 BASE64 NAME``, and a trusted-keys file holds one per line (``#`` comments
allowed), like ssh's ``authorized_keys``. With ``require_signed_bundles`` on
(``DOSIRAK_REQUIRE_SIGNED_BUNDLES=1``), importing or serving a bundle without a valid
signature by a trusted key (``DOSIRAK_TRUSTED_KEYS=FILE``) is refused.

Example::

    public = generate_key(Path("team.key"), name="ml-team")     # team.key + team.key.pub
    sign(Path(bundle_dir), Path("team.key"))
    check_trusted(Path(bundle_dir), load_public_keys(Path("trusted_keys")))
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dosirak._extras import require
from dosirak.bundles.bundle import read_bundle_yaml
from dosirak.bundles.manifest import SIGNATURES, read_manifest, verify
from dosirak.errors import BundleError, BundleSignatureError, ConfigError
from dosirak.settings import get_settings

log = logging.getLogger(__name__)

PUBLIC_KEY_PREFIX = "dosirak-ed25519"
_CONTEXT = b"dosirak-bundle-signature-v1\n"
_KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
#: A SIGNATURES file larger than this is not read (a signature line is ~150 bytes).
_MAX_SIGNATURES_BYTES = 64 * 1024


@dataclass(frozen=True)
class PublicKey:
    """A trusted Ed25519 public key: its 32 raw bytes, a short id and the name it was given."""

    raw: bytes
    name: str

    @property
    def key_id(self) -> str:
        """First 16 hex digits of the SHA-256 of the raw key: what a signature line names."""
        return hashlib.sha256(self.raw).hexdigest()[:16]

    def line(self) -> str:
        """The one-line text form, as written to ``KEY.pub`` and read from trusted-keys files."""
        return f"{PUBLIC_KEY_PREFIX} {base64.b64encode(self.raw).decode()} {self.name}"


@dataclass(frozen=True)
class Signature:
    """One line of a bundle's ``SIGNATURES``."""

    key_id: str
    signature: bytes
    key_name: str


def _crypto() -> Any:
    require("cryptography", extra="sign", purpose="signing and checking bundles")
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519


def _message(root: Path) -> bytes:
    info = read_bundle_yaml(root)
    _entries, manifest_sha256 = read_manifest(root)
    return _CONTEXT + f"{info['name']}:{info['version']}\n{manifest_sha256}\n".encode()


def generate_key(path: Path, *, name: str) -> PublicKey:
    """Write a new private key to ``path`` (0600, refused if it exists) and its public key to ``path.pub``."""
    ed25519 = _crypto()
    from cryptography.hazmat.primitives import serialization

    if not _KEY_NAME.fullmatch(name):
        raise ConfigError(f"invalid key name '{name}': use 1-64 letters, digits, '_', '-', '.', '@'")
    path = Path(path)
    public_path = path.with_name(path.name + ".pub")
    for target in (path, public_path):
        if target.exists():
            raise ConfigError(f"{target} already exists; choose another path (keys are never overwritten)")
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    public = PublicKey(raw=raw, name=name)
    public_path.write_text(public.line() + "\n", encoding="utf-8")
    return public


def _load_private_key(path: Path) -> Any:
    ed25519 = _crypto()
    from cryptography.hazmat.primitives import serialization

    path = Path(path)
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the private key {path}: {exc.strerror or exc}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("private key %s is readable by other users; `chmod 600 %s`", path, path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path} is not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigError(f"{path} is not an Ed25519 key; make one with `dosirak bundle keygen`")
    return key


def _public_of(private: Any, name: str) -> PublicKey:
    from cryptography.hazmat.primitives import serialization

    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PublicKey(raw=raw, name=name)


def parse_public_key(line: str, where: str = "public key") -> PublicKey:
    """A :class:`PublicKey` from its one-line form (``dosirak-ed25519 BASE64 NAME``)."""
    parts = line.split()
    if len(parts) != 3 or parts[0] != PUBLIC_KEY_PREFIX:
        raise ConfigError(f"{where}: expected '{PUBLIC_KEY_PREFIX} BASE64 NAME', got {line[:80]!r}")
    try:
        raw = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"{where}: the key is not base64") from exc
    if len(raw) != 32 or not _KEY_NAME.fullmatch(parts[2]):
        raise ConfigError(f"{where}: not a 32-byte Ed25519 key with a valid name")
    return PublicKey(raw=raw, name=parts[2])


def load_public_keys(path: Path) -> list[PublicKey]:
    """Every key of a trusted-keys file (one per line; blank lines and ``#`` comments skipped)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the trusted keys file {path}: {exc}") from exc
    keys = [parse_public_key(line.strip(), f"{path} line {number}")
            for number, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")]
    if not keys:
        raise ConfigError(f"the trusted keys file {path} lists no key")
    return keys


def read_signatures(root: Path) -> list[Signature]:
    """The signatures in the bundle's ``SIGNATURES`` file ([] if it has none)."""
    path = Path(root) / SIGNATURES
    if not path.exists():
        return []
    if path.is_symlink() or not path.is_file() or path.stat().st_size > _MAX_SIGNATURES_BYTES:
        raise BundleSignatureError(f"{path} is not a plain file under {_MAX_SIGNATURES_BYTES} bytes")
    found: list[Signature] = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        parts = line.split()
        try:
            if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{16}", parts[0]):
                raise ValueError
            found.append(Signature(parts[0], base64.b64decode(parts[1], validate=True), parts[2]))
        except (binascii.Error, ValueError):
            raise BundleSignatureError(f"{path} line {number} is malformed") from None
    return found


def sign(root: Path, key_path: Path) -> PublicKey:
    """Add a signature by the private key at ``key_path`` to the bundle at ``root`` (verified first).

    Signing again with the same key replaces that key's earlier signature.
    """
    private = _load_private_key(key_path)
    verify(root)
    public = _public_of(private, Path(key_path).stem if _KEY_NAME.fullmatch(Path(key_path).stem) else "key")
    pub_file = Path(str(key_path) + ".pub")
    if pub_file.is_file():  # keep the name the key was made with
        try:
            named = parse_public_key(pub_file.read_text(encoding="utf-8").strip())
            public = PublicKey(raw=public.raw, name=named.name) if named.raw == public.raw else public
        except ConfigError:
            pass
    signature = private.sign(_message(root))
    kept = [s for s in read_signatures(root) if s.key_id != public.key_id]
    lines = [f"{s.key_id} {base64.b64encode(s.signature).decode()} {s.key_name}" for s in kept]
    lines.append(f"{public.key_id} {base64.b64encode(signature).decode()} {public.name}")
    target = Path(root) / SIGNATURES
    partial = target.with_name(f".{SIGNATURES}.partial")
    partial.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(partial, target)
    log.info("signed bundle %s with key %s (%s)", root, public.name, public.key_id)
    return public


def trusted_signers(root: Path, keys: list[PublicKey]) -> list[PublicKey]:
    """The trusted keys whose signature over the bundle at ``root`` is valid (may be empty)."""
    ed25519 = _crypto()
    from cryptography.exceptions import InvalidSignature

    by_id = {k.key_id: k for k in keys}
    message = _message(root)
    valid: list[PublicKey] = []
    for sig in read_signatures(root):
        key = by_id.get(sig.key_id)
        if key is None:
            continue
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(key.raw).verify(sig.signature, message)
        except InvalidSignature:
            continue
        valid.append(key)
    return valid


def check_trusted(root: Path, keys: list[PublicKey], what: str | None = None) -> list[PublicKey]:
    """The trusted signers of the bundle at ``root``; BundleSignatureError when there is none.

    ``what`` names the bundle in the message (default: its path).
    """
    signers = trusted_signers(root, keys)
    if not signers:
        present = read_signatures(root)
        why = ("it is not signed" if not present else
               f"none of its {len(present)} signature(s) is a valid one by a trusted key")
        raise BundleSignatureError(
            f"bundle {what or root} is refused: {why}, and signed bundles are required (require_signed_bundles). "
            "Sign it with `dosirak bundle sign TAG --key KEY` and list that key's .pub line in the trusted "
            "keys file (DOSIRAK_TRUSTED_KEYS)")
    return signers


def enforce_policy(root: Path, what: str | None = None) -> list[PublicKey]:
    """Apply the settings' signing policy to the bundle at ``root`` (import, serve and verify call this).

    Returns the trusted signers; [] when signatures are not required and no keys are configured.
    """
    settings = get_settings()
    if not settings.require_signed_bundles:
        if settings.trusted_keys is None:
            return []
        return trusted_signers(root, load_public_keys(settings.trusted_keys))
    if settings.trusted_keys is None:
        raise BundleError("require_signed_bundles is on but no trusted keys are configured: set "
                          "DOSIRAK_TRUSTED_KEYS (or trusted_keys in the config file) to a file of public keys")
    return check_trusted(root, load_public_keys(settings.trusted_keys), what)


__all__ = ["PUBLIC_KEY_PREFIX", "SIGNATURES", "PublicKey", "Signature", "check_trusted", "enforce_policy",
           "generate_key", "load_public_keys", "parse_public_key", "read_signatures", "sign", "trusted_signers"]
