"""The ``s3`` artifact store: artifacts as objects in an S3 bucket (AWS, MinIO, moto, any S3 API).

::

    dosirak artifact-store register team --flavor=s3 --path=s3://bucket/prefix \\
        [--endpoint-url=http://127.0.0.1:9000] [--region=eu-west-1] \\
        [--access-key-id='{env:AWS_ACCESS_KEY_ID}'] [--secret-access-key='{secret:team-s3}']

Without credentials options, boto's usual chain applies (``AWS_ACCESS_KEY_ID``..., a
profile, an instance role); without ``--endpoint-url``, ``AWS_ENDPOINT_URL`` or AWS itself.
Credentials options are references (``{env:NAME}`` or ``{secret:NAME}``), resolved when
the store opens its filesystem; the metadata store keeps only the references.

Writes are those of :class:`~dosirak.artifacts.store.FsspecArtifactStore`: a step's outputs
are staged locally and uploaded only once complete, and an artifact is visible (its row
in the metadata store) only after its whole upload; an upload or a step that fails removes
every object it had put. A bucket that does not exist, denies access or cannot be reached
is one :class:`~dosirak.errors.ArtifactError` naming the bucket and what to do, raised by
the step that wrote (so the run is recorded as failed with that cause).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from dosirak.artifacts import store as stores
from dosirak.artifacts.store import FsspecArtifactStore
from dosirak.errors import ArtifactError, DosirakError, MissingExtraError
from dosirak.stack.credentials import resolve

log = logging.getLogger(__name__)


#: The credential options of an ``s3`` store, and the s3fs option each becomes.
_CREDENTIALS = {"access_key_id": "key", "secret_access_key": "secret", "session_token": "token"}


def storage_options(config: dict[str, Any]) -> dict[str, Any]:
    """The s3fs options of an ``s3`` store's config, references (``{env:..}``, ``{secret:..}``) kept."""
    options: dict[str, Any] = {}
    for option, s3fs_name in _CREDENTIALS.items():
        if config.get(option):
            options[s3fs_name] = config[option]
    client: dict[str, Any] = {}
    if config.get("endpoint_url"):
        client["endpoint_url"] = config["endpoint_url"]
    if config.get("region"):
        client["region_name"] = config["region"]
    if client:
        options["client_kwargs"] = client
    return options


class S3ArtifactStore(FsspecArtifactStore):
    """Artifacts under ``s3://BUCKET/PREFIX``, through s3fs (the ``s3`` extra)."""

    flavor = "s3"
    config_model: ClassVar[str | None] = "dosirak.stack.configs:S3ArtifactStoreConfig"

    def _open(self) -> Any:
        """The s3fs filesystem with the resolved credentials (never kept in config), on first use:
        in the step that writes, so a missing secret fails that step."""
        import fsspec

        owner = f"{self.component_type} '{self.name}'"
        given = {k: self.config[k] for k in _CREDENTIALS if self.config.get(k)}
        if given:  # resolved by the user's option names, for the messages
            options = {**self._options, **storage_options(resolve(given, owner))}
        else:
            options = resolve(self._options, owner)
        fs, _ = fsspec.core.url_to_fs(self.root, **options)
        return fs

    @classmethod
    def from_config(cls, name: str, config: dict[str, Any]) -> S3ArtifactStore:
        """The store at ``path`` (``s3://bucket[/prefix]``) with its endpoint, region and credentials."""
        path = str(config.get("path") or "")
        if not path.startswith("s3://") or not path[5:].strip("/"):
            raise ArtifactError(f"artifact-store '{name}': --path must be s3://BUCKET[/PREFIX], not '{path[:100]}'")
        try:
            import s3fs  # noqa: F401 - only to say which extra is missing
        except ImportError:
            raise MissingExtraError(f"artifact-store '{name}' (flavor s3) needs s3fs: "
                                    "`pip install 'dosirak[s3]' -c constraints.txt`") from None
        store = cls(path, name, config=config, **storage_options(config))

        stores._OPENED[store.root] = store  # its URIs are read back with its options (store_for_uri)
        return store

    def ensure_usable(self) -> None:
        """Nothing is contacted when the stack is loaded: the bucket is checked by the first write."""


def bucket_problem(store: FsspecArtifactStore) -> str | None:
    """One line saying why the bucket of an ``s3://`` store (either flavor) cannot be used
    (missing, access denied, unreachable), or None when it can."""
    bucket = store.root.removeprefix("s3://").split("/", 1)[0]
    endpoint = _endpoint(store)
    s3 = store.flavor == "s3"
    try:
        store.fs.call_s3("list_objects_v2", Bucket=bucket, MaxKeys=1)
    except FileNotFoundError:
        return (f"artifact-store '{store.name}': bucket '{bucket}' does not exist at {endpoint}; "
                f"create it (`aws s3 mb s3://{bucket}`) or register the store with a bucket that exists "
                f"(`dosirak artifact-store register NAME --flavor=s3 --path=s3://BUCKET/PREFIX`)")
    except PermissionError:
        given = ("--access-key-id/--secret-access-key" if s3 else "--storage-options' key/secret")
        return (f"artifact-store '{store.name}': bucket '{bucket}' denies access to these credentials; "
                f"grant them s3:ListBucket, s3:GetObject, s3:PutObject and s3:DeleteObject on it, or give the "
                f"store other credentials ({given} as {{secret:NAME}})")
    except DosirakError as exc:  # the credentials cannot even be read: that error says what to do
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - anything else means the bucket cannot be reached
        where = "--endpoint-url" if s3 else "--storage-options' client_kwargs.endpoint_url"
        return (f"artifact-store '{store.name}': bucket '{bucket}' cannot be reached at {endpoint}: "
                f"{type(exc).__name__}: {str(exc)[:200]}; check {where} and the network")
    return None


def _endpoint(store: FsspecArtifactStore) -> str:
    """Where the store's S3 API is, as the user gave it."""
    given = store.config.get("endpoint_url")
    if not given:
        client = (store.config.get("storage_options") or {}).get("client_kwargs") or {}
        given = client.get("endpoint_url") if isinstance(client, dict) else None
    return str(given or "the default S3 endpoint (AWS_ENDPOINT_URL or AWS)")


__all__ = ["S3ArtifactStore", "bucket_problem", "storage_options"]
