"""Credentials in component configs: masked when shown, refused in clear text, resolved on use."""

from __future__ import annotations

import json
import re

import pytest

from dosirak.artifacts.store import FsspecArtifactStore, artifact_store_for
from dosirak.errors import CredentialError
from dosirak.metadata.store import get_store
from dosirak.settings import get_settings
from dosirak.stack.credentials import MASK, is_secret_key, masked, refuse_clear_text, resolve
from tests.stack.planting import MARKER, NUMBER, PLANTED, plant_clear_text_credentials


@pytest.mark.parametrize("key", [
    "key", "KEY", "secret", "Secret", "token", "password", "passwd", "pwd", "credential", "credentials",
    "private_key", "privateKey", "access_key", "aws_access_key_id", "AWS_SECRET_ACCESS_KEY", "secretAccessKey",
    "api_key", "apiKey", "x-api-key", "auth", "Authorization", "auth_token", "oauth_token", "sas_token", "sasToken",
    "account_key", "AccountKey", "SSECustomerKey", "connection_string", "connectionString", "client_secret",
    "aws_session_token", "passphrase", "signing_key", "master_key", "encryption_key", "hmac_key",
])
def test_credential_keys_are_recognised_in_any_spelling(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", [
    "path", "port", "host", "region_name", "endpoint_url", "anon", "use_ssl", "client_kwargs", "author",
    "authority", "key_file_format", "port_policy", "ready_timeout_s", "storage_options", "monkey_patch", "",
    "cache_key", "partition_key", "sortKey", "s3_key", "kms_key", "public_key", "idempotency_key",
])
def test_ordinary_keys_are_not_taken_for_credentials(key: str) -> None:
    assert not is_secret_key(key)


def test_masking_hides_every_credential_at_any_depth_and_keeps_the_rest() -> None:
    for config in PLANTED.values():
        shown = masked(config)
        assert MARKER not in json.dumps(shown) and str(NUMBER) not in json.dumps(shown)
    shown = masked(PLANTED[("artifact-store", "legacy_s3")])
    assert shown["path"] == f"s3://alice:{MASK}@bucket/dosirak"
    options = shown["storage_options"]
    assert options["key"] == options["secret"] == MASK
    assert options["client_kwargs"] == {"aws_session_token": MASK, "region_name": "eu-west-1"}
    assert options["headers"] == [{"Authorization": MASK}, {"X-Api-Key": MASK}]
    assert options["credentials"] == {"type": MASK, "private_key": MASK}
    deployer = masked(PLANTED[("model-deployer", "legacy_deployer")])
    assert deployer["port"] == 3100 and deployer["passwd"] == MASK


def test_masking_shows_references_booleans_and_empty_values_as_they_are() -> None:
    config = {"storage_options": {"key": "{env:AWS_ACCESS_KEY_ID}", "token": None, "anon": False, "secret": ""}}
    assert masked(config) == config
    original = {"secret": "clear"}
    assert masked(original) == {"secret": MASK} and original == {"secret": "clear"}


def test_a_clear_text_credential_is_refused_with_the_option_named_and_the_reference_syntax() -> None:
    with pytest.raises(CredentialError) as caught:
        refuse_clear_text({"path": "s3://b", "storage_options": {"key": "{env:K}", "secret": "hunter2"}},
                          "artifact-store 's3'")
    message = str(caught.value)
    assert "artifact-store 's3': option 'storage_options.secret' holds a credential in clear text" in message
    assert '"{env:SECRET}"' in message
    assert "hunter2" not in message


@pytest.mark.parametrize(("config", "path"), [
    ({"password": 1234}, "password"),
    ({"headers": [{"Authorization": "Bearer x"}]}, "headers[0].Authorization"),
    ({"credentials": {"type": "service_account"}}, "credentials.type"),
    ({"path": "s3://user:pw@bucket"}, "path"),
    ({"token": "{env:NOT A NAME}"}, "token"),
    ({"token": "Bearer {env:TOKEN}"}, "token"),
])
def test_every_kind_of_clear_text_credential_is_refused(config: dict[str, object], path: str) -> None:
    with pytest.raises(CredentialError, match=re.escape(f"option '{path}'")):
        refuse_clear_text(config, "model-deployer 'd'")


def test_references_booleans_and_ordinary_options_are_accepted() -> None:
    refuse_clear_text({"path": "s3://bucket/x", "storage_options": {
        "key": "{env:AWS_ACCESS_KEY_ID}", "secret": "{env:AWS_SECRET_ACCESS_KEY}", "anon": False, "token": None,
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"}}}, "artifact-store 's3'")


def test_references_resolve_from_the_environment_at_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DK_TEST_SECRET", "resolved-value")
    config = {"storage_options": {"secret": "{env:DK_TEST_SECRET}", "list": ["{env:DK_TEST_SECRET}", 1]}}
    assert resolve(config, "artifact-store 's3'") == {
        "storage_options": {"secret": "resolved-value", "list": ["resolved-value", 1]}}
    assert config["storage_options"]["secret"] == "{env:DK_TEST_SECRET}"
    monkeypatch.delenv("DK_TEST_SECRET")
    with pytest.raises(CredentialError, match="artifact-store 's3': option 'storage_options.secret' refers to the "
                                              "environment variable DK_TEST_SECRET, which is not set"):
        resolve(config, "artifact-store 's3'")


def test_the_store_refuses_clear_text_credentials_on_register_and_update() -> None:
    store = get_store()
    with pytest.raises(CredentialError, match="option 'storage_options.secret'"):
        store.stacks.register_component("artifact-store", "s3", "fsspec", {"storage_options": {"secret": "hunter2"}})
    store.stacks.register_component("artifact-store", "s3", "fsspec", {"storage_options": {"secret": "{env:S}"}})
    with pytest.raises(CredentialError, match="option 'storage_options.key'"):
        store.stacks.update_component("artifact-store", "s3", {"storage_options": {"key": "AKIA"}})
    assert store.stacks.get_component("artifact-store", "s3").config == {"storage_options": {"secret": "{env:S}"}}


def test_the_fsspec_store_opens_its_filesystem_with_the_resolved_options(monkeypatch: pytest.MonkeyPatch) -> None:
    config = {"path": "memory://dk-credentials/arts", "storage_options": {"dk_secret": "{env:DK_SKIP}"}}
    monkeypatch.setenv("DK_SKIP", "yes")
    store = artifact_store_for("fsspec", config, name="s3")
    assert isinstance(store, FsspecArtifactStore)
    assert store.fs.storage_options == {"dk_secret": "yes"}
    assert store.config == config  # the reference is what the component keeps
    monkeypatch.delenv("DK_SKIP")
    unopened = artifact_store_for("fsspec", config, name="s3")  # loading the stack reads no credential
    with pytest.raises(CredentialError, match="artifact-store 's3': option 'storage_options.dk_secret' "
                                              "refers to the environment variable DK_SKIP, which is not set"):
        unopened.exists(config["path"])  # its first use does


def test_a_store_planted_with_clear_text_credentials_keeps_them_and_still_uses_them() -> None:
    store = get_store()
    plant_clear_text_credentials(store, get_settings().metadata_url)
    assert store.stacks.get_component("artifact-store", "legacy_s3").config == PLANTED[("artifact-store", "legacy_s3")]
    legacy = artifact_store_for("fsspec", {"path": "memory://dk-legacy", "storage_options": {"secret": "clear"}})
    assert legacy.fs.storage_options == {"secret": "clear"}  # type: ignore[attr-defined]
