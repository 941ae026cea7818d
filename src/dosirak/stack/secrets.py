"""Named secrets: credentials kept outside the metadata store, referred to as ``{secret:NAME}``.

A component option that holds a credential names a secret instead of holding it
(:mod:`dosirak.stack.credentials`)::

    printf %s "$KEY" | dosirak secret create s3-secret --value-stdin
    dosirak artifact-store register team --flavor=s3 --path=s3://bucket/prefix \\
        --secret-access-key='{secret:s3-secret}'

Each secret is one file ``HOME/secrets/NAME`` (the directory mode 0700, the file 0600,
written whole under a temporary name and renamed, never readable by others at any
moment). The metadata store, ``describe``, the dashboard and its API only ever hold or
show the reference; :func:`read` gives the value to the component that uses it, at the
moment it uses it. Names follow :mod:`dosirak.names`.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from dosirak.errors import CredentialError
from dosirak.names import check_name
from dosirak.settings import get_settings

#: The largest secret accepted (bytes of UTF-8).
MAX_BYTES = 64 * 1024


def _root() -> Path:
    return get_settings().secrets_root


def _path(name: str) -> Path:
    check_name(name, "secret name", error=CredentialError)
    return _root() / name


def create(name: str, value: str, *, replace: bool = False) -> Path:
    """Store ``value`` as the secret ``name`` (owner-only file); the path written.

    Raises:
        CredentialError: an invalid name, an empty or oversized value, or a secret of that
            name that exists while ``replace`` is False.
    """
    path = _path(name)
    data = value.encode("utf-8")
    if not data.strip():
        raise CredentialError(f"secret '{name}': the value is empty; give the secret itself "
                              "(`--from-env VAR` with VAR set, or `--value-stdin`)")
    if len(data) > MAX_BYTES:
        raise CredentialError(f"secret '{name}': the value is {len(data)} bytes, more than {MAX_BYTES}")
    if path.exists() and not replace:
        raise CredentialError(f"secret '{name}' exists; `dosirak secret create {name} --replace ...` "
                              f"replaces it, `dosirak secret delete {name}` removes it")
    root = path.parent
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    tmp = root / f".{name}.{uuid.uuid4().hex}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read(name: str, owner: str = "") -> str:
    """The value of the secret ``name``; a one-line CredentialError saying how to create it when missing.

    Args:
        name: the secret's name.
        owner: who asks (``"artifact-store 'team'"``), for the message.
    """
    path = _path(name)
    who = f"{owner}: " if owner else ""
    try:
        with open(path, "rb") as fh:
            return fh.read(MAX_BYTES + 1).decode("utf-8")
    except FileNotFoundError:
        raise CredentialError(
            f"{who}secret '{name}' does not exist in {path.parent}; create it on this machine with "
            f"`dosirak secret create {name} --from-env VAR` (or `--value-stdin`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialError(f"{who}secret '{name}' cannot be read from {path}: {exc}") from None


def names() -> list[str]:
    """The names of the stored secrets, sorted (never their values)."""
    root = _root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_file() and not p.name.startswith("."))


def delete(name: str) -> None:
    """Remove the secret ``name``; CredentialError when there is none."""
    path = _path(name)
    try:
        path.unlink()
    except FileNotFoundError:
        raise CredentialError(f"secret '{name}' does not exist; `dosirak secret list` shows the secrets") from None


__all__ = ["MAX_BYTES", "create", "delete", "names", "read"]
