"""Credentials in component configs: stored by reference, resolved on use, masked when shown.

A component option whose key looks like a credential (``key``, ``secret``, ``token``,
``password``, ``passwd``, ``credential(s)``, ``private_key``, ``access_key``, ``api_key``,
``auth...``, ``connection_string``; any case, ``-`` or ``_`` or camelCase, at any depth of
nested dicts and lists) never holds the credential itself. It holds a reference, the whole
value written ``{env:NAME}`` (an environment variable) or ``{secret:NAME}`` (a named secret,
``dosirak secret create NAME --from-env VAR``, kept outside the metadata store:
:mod:`dosirak.stack.secrets`)::

    dosirak artifact-store register s3 -f fsspec --path=s3://bucket/dosirak \\
        --storage-options='{"key": "{env:AWS_ACCESS_KEY_ID}", "secret": "{env:AWS_SECRET_ACCESS_KEY}"}'

The store keeps the reference; the component reads the variable or secret when it is used
(:func:`resolve`, e.g. when the fsspec artifact store opens its filesystem), in the process
that uses it, and never writes the value back. Registering a clear-text credential is
refused (:func:`refuse_clear_text`) with an error naming the option.

Everything that shows a component config (CLI, dashboard pages, JSON API) shows
:func:`masked` of it: references as they are, every other credential value replaced by
:data:`MASK`, the password of a ``scheme://user:password@host`` URL too. So a store
written before references existed, holding a credential in clear text, still works and
still never shows it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from dosirak.errors import CredentialError
from dosirak.settings import env_value
from dosirak.stack import secrets

#: What a masked credential reads as.
MASK = "********"
#: ``{env:NAME}``: the whole value names an environment variable.
ENV_REFERENCE = re.compile(r"\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
#: ``{secret:NAME}``: the whole value names a secret (:mod:`dosirak.stack.secrets`; checked there).
SECRET_REFERENCE = re.compile(r"\{secret:([^{}]{1,200})\}")
#: Key words that name a credential wherever they appear in a key.
_SECRET_WORDS = frozenset({
    "secret", "secrets", "token", "tokens", "password", "passwords", "passwd", "pwd", "passphrase",
    "credential", "credentials", "apikey", "privatekey", "accesskey", "secretkey", "accountkey", "sas",
})
#: Word sequences that name a credential (``aws_access_key_id``, ``x-api-key``, ``connectionString``).
_SECRET_PHRASES = ("private_key", "access_key", "api_key", "secret_key", "account_key", "connection_string")
#: Words before a final "key" that make it a name or an identifier, not a credential
#: (``cache_key``, ``partition_key``, ``s3_key``, ``kms_key``, ``public_key``).
_NOT_SECRET_KEYS = frozenset({
    "cache", "sort", "partition", "primary", "foreign", "object", "s3", "blob", "file", "path", "hash", "range",
    "row", "group", "shard", "routing", "lookup", "index", "unique", "dedup", "dedupe", "idempotency", "kms",
    "public", "label", "metric", "column", "field", "dict", "map", "join", "order", "result", "output", "input",
})
#: Words starting with "auth" that are not about authentication.
_NOT_AUTH = frozenset({"author", "authors", "authority", "authorities"})
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
#: ``scheme://user:password@`` in any string: the password part.
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*):([^/@\s]+)@")


def is_secret_key(key: str) -> bool:
    """Whether an option named ``key`` holds a credential (``secret``, ``sasToken``, ``x-api-key``...)."""
    words = [w for w in _WORD_SPLIT.split(_CAMEL.sub("_", str(key)).lower()) if w]
    if not words:
        return False
    if any(w in _SECRET_WORDS for w in words):
        return True
    if words[-1] in ("key", "keys") and (len(words) == 1 or words[-2] not in _NOT_SECRET_KEYS):
        return True
    if any(w.startswith("auth") and w not in _NOT_AUTH for w in words):
        return True
    joined = "_".join(words)
    return any(phrase in joined for phrase in _SECRET_PHRASES)


def reference_name(value: object) -> str | None:
    """The variable ``value`` refers to when it is exactly ``{env:NAME}``, else None."""
    if isinstance(value, str):
        found = ENV_REFERENCE.fullmatch(value)
        if found:
            return found.group(1)
    return None


def secret_name(value: object) -> str | None:
    """The secret ``value`` refers to when it is exactly ``{secret:NAME}``, else None."""
    if isinstance(value, str):
        found = SECRET_REFERENCE.fullmatch(value)
        if found:
            return found.group(1)
    return None


def is_reference(value: object) -> bool:
    """Whether ``value`` is a whole ``{env:NAME}`` or ``{secret:NAME}`` reference."""
    return reference_name(value) is not None or secret_name(value) is not None


def masked(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of a component's ``config`` that is safe to show: no credential value in it, references kept."""
    shown: dict[str, Any] = _mask(config, secret=False)
    return shown


def _mask(value: Any, *, secret: bool) -> Any:
    if isinstance(value, dict):
        return {k: _mask(v, secret=secret or is_secret_key(str(k))) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v, secret=secret) for v in value]
    if value is None or isinstance(value, bool) or is_reference(value):
        return value
    if secret:
        return value if value == "" else MASK
    if isinstance(value, str):
        return _URL_PASSWORD.sub(rf"\1:{MASK}@", value)
    return value


def _clear_text(value: Any, path: str, *, secret: bool) -> Iterator[tuple[str, str]]:
    """(option path, what is wrong) for every credential held in clear text."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _clear_text(v, f"{path}.{k}" if path else str(k), secret=secret or is_secret_key(str(k)))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _clear_text(v, f"{path}[{i}]", secret=secret)
    elif value is None or isinstance(value, bool) or value == "" or is_reference(value):
        return
    elif secret:
        yield path, "holds a credential in clear text"
    elif isinstance(value, str) and _URL_PASSWORD.search(value):
        yield path, "holds a URL with a password in it"


def refuse_clear_text(config: dict[str, Any], owner: str) -> None:
    """Raise :class:`CredentialError` if ``config`` holds a credential that is not a reference.

    Args:
        config: the component options about to be stored.
        owner: the component, as messages name it (``"artifact-store 's3'"``).
    """
    problems = list(_clear_text(config, "", secret=False))
    if not problems:
        return
    path, what = problems[0]
    others = f" (and {', '.join(p for p, _ in problems[1:])})" if len(problems) > 1 else ""
    hint = _suggested_variable(path)
    raise CredentialError(
        f"{owner}: option '{path}'{others} {what}, which would be stored and shown; give a reference instead, "
        f"the whole value written {{env:NAME}} (e.g. \"{{env:{hint}}}\", an environment variable set where the "
        f"component is used) or {{secret:NAME}} (a secret: `dosirak secret create {_secret_hint(hint)} --from-env "
        f"{hint}` or `--value-stdin`, then \"{{secret:{_secret_hint(hint)}}}\"): it is read then, never stored"
    )


def _suggested_variable(path: str) -> str:
    last = re.split(r"[.\[]", path)[-1].rstrip("]")
    name = re.sub(r"[^A-Za-z0-9]+", "_", _CAMEL.sub("_", last)).strip("_").upper()
    return name if name and not name[0].isdigit() else "SECRET"


def _secret_hint(variable: str) -> str:
    return variable.lower().replace("_", "-")


def resolve(config: Any, owner: str, *, at: str = "") -> Any:
    """A copy of ``config`` with every ``{env:NAME}`` and ``{secret:NAME}`` replaced by its value.

    Call it when the component uses its options, and keep the result only as long as that
    use needs it: it holds the credentials themselves.

    Args:
        config: the options (or a part of them) as stored.
        owner: the component, as messages name it (``"artifact-store 's3'"``).
        at: where ``config`` sits in the component's options (``"storage_options"``), for messages.

    Raises:
        CredentialError: a referenced variable is not set in this process's environment, or a
            referenced secret does not exist on this machine.
    """
    return _resolve(config, owner, at)


def _resolve(value: Any, owner: str, path: str) -> Any:
    if isinstance(value, dict):
        return {k: _resolve(v, owner, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_resolve(v, owner, f"{path}[{i}]") for i, v in enumerate(value)]
    secret = secret_name(value)
    if secret is not None:
        return secrets.read(secret, f"{owner}: option '{path}'")
    name = reference_name(value)
    if name is None:
        return value

    found = env_value(name)
    if found is None:
        raise CredentialError(
            f"{owner}: option '{path}' refers to the environment variable {name}, which is not set; set it in "
            f"the environment of the process that uses this component (e.g. `export {name}=...`)"
        )
    return found


__all__ = ["ENV_REFERENCE", "MASK", "SECRET_REFERENCE", "is_reference", "is_secret_key", "secret_name", "masked", "reference_name", "refuse_clear_text", "resolve"]
