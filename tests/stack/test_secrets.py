"""Named secrets: owner-only files under the home, referred to as {secret:NAME}, resolved on use."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from dosirak.errors import CredentialError
from dosirak.stack import secrets
from dosirak.stack.credentials import masked, refuse_clear_text, resolve


def test_a_secret_is_an_owner_only_file_in_an_owner_only_directory(dosirak_home: Path) -> None:
    path = secrets.create("db-password", "pa55-word")
    assert path == dosirak_home / "secrets" / "db-password"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert secrets.read("db-password") == "pa55-word" and secrets.names() == ["db-password"]
    assert [p.name for p in path.parent.iterdir()] == ["db-password"]  # no temporary file left


@pytest.mark.parametrize("name", ["../up", "a/b", ".hidden", "", "x" * 200, "sp ace"])
def test_a_secret_name_outside_the_grammar_is_refused(name: str, dosirak_home: Path) -> None:
    with pytest.raises(CredentialError, match="invalid secret name"):
        secrets.create(name, "v")
    assert not (dosirak_home / "secrets").exists() or not any((dosirak_home / "secrets").iterdir())


def test_an_existing_secret_is_replaced_only_when_asked() -> None:
    secrets.create("token", "one")
    with pytest.raises(CredentialError, match="exists"):
        secrets.create("token", "two")
    secrets.create("token", "two", replace=True)
    assert secrets.read("token") == "two"


def test_an_empty_or_oversized_value_is_refused() -> None:
    with pytest.raises(CredentialError, match="empty"):
        secrets.create("token", "  \n")
    with pytest.raises(CredentialError, match="bytes"):
        secrets.create("token", "x" * (secrets.MAX_BYTES + 1))


def test_a_missing_secret_says_how_to_create_it_in_one_line() -> None:
    with pytest.raises(CredentialError) as caught:
        secrets.read("nope", "artifact-store 'team'")
    message = str(caught.value)
    assert "\n" not in message and "secret 'nope' does not exist" in message
    assert "dosirak secret create nope --from-env VAR" in message


def test_secret_references_are_accepted_masked_as_they_are_and_resolved_on_use() -> None:
    secrets.create("team-s3", "the-value")
    config = {"path": "s3://b", "secret_access_key": "{secret:team-s3}"}
    refuse_clear_text(config, "artifact-store 'team'")
    assert masked(config) == config
    assert resolve(config, "artifact-store 'team'") == {"path": "s3://b", "secret_access_key": "the-value"}
    secrets.delete("team-s3")
    with pytest.raises(CredentialError, match="secret 'team-s3' does not exist"):
        resolve(config, "artifact-store 'team'")
    with pytest.raises(CredentialError, match="does not exist"):
        secrets.delete("team-s3")


def test_a_refused_clear_text_credential_names_both_kinds_of_reference() -> None:
    with pytest.raises(CredentialError) as caught:
        refuse_clear_text({"secret_access_key": "hunter2"}, "artifact-store 'team'")
    message = str(caught.value)
    assert "{secret:" in message and "dosirak secret create" in message and "{env:" in message
    assert "hunter2" not in message
