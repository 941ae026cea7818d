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
from pathlib import Path
from typing import Any, ClassVar

from dosirak.artifacts import store as stores
from dosirak.artifacts.store import FsspecArtifactStore
from dosirak.errors import ArtifactError, ArtifactStoreAccessError, DosirakError, MissingExtraError
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

    def delete(self, uri: str) -> None:
        """Remove what is at ``uri``; nothing to remove when the store cannot even be opened, or
        when its bucket is missing or denies access altogether (nothing can have been put there)."""
        try:
            super().delete(uri)
        except OSError as exc:
            problem = self.bucket_problem()
            if problem is None:
                raise
            # the bucket cannot be used at all, so nothing was put there; the step's error says why
            log.debug("nothing to remove at %s: %s (%s)", uri, problem, exc)

    @property
    def bucket(self) -> str:
        """The bucket named by the store's path."""
        return self.root.removeprefix("s3://").split("/", 1)[0]

    @property
    def endpoint(self) -> str:
        """Where the store's S3 API is, as the user knows it."""
        return str(self.config.get("endpoint_url") or "the default S3 endpoint (AWS_ENDPOINT_URL or AWS)")

    def bucket_problem(self) -> str | None:
        """One line saying why the bucket cannot be used (missing, access denied, unreachable), or None."""
        try:
            self.fs.call_s3("list_objects_v2", Bucket=self.bucket, MaxKeys=1)
        except FileNotFoundError:
            return (f"artifact-store '{self.name}': bucket '{self.bucket}' does not exist at {self.endpoint}; "
                    f"create it (`aws s3 mb s3://{self.bucket}`) or register the store with a bucket that exists "
                    f"(`dosirak artifact-store register NAME --flavor=s3 --path=s3://BUCKET/PREFIX`)")
        except PermissionError:
            return (f"artifact-store '{self.name}': bucket '{self.bucket}' denies access to these credentials; "
                    f"grant them s3:ListBucket, s3:GetObject, s3:PutObject and s3:DeleteObject on it, or give the "
                    f"store other credentials (--access-key-id/--secret-access-key as {{secret:NAME}})")
        except Exception as exc:  # noqa: BLE001 - anything else means the bucket cannot be reached
            return (f"artifact-store '{self.name}': bucket '{self.bucket}' cannot be reached at {self.endpoint}: "
                    f"{type(exc).__name__}: {str(exc)[:200]}; check --endpoint-url and the network")
        return None

    def _explained(self, exc: BaseException) -> BaseException:
        """``exc``, or an ArtifactError naming the bucket when the bucket is what is wrong."""
        if isinstance(exc, DosirakError) or not isinstance(exc, Exception):
            return exc
        problem = self.bucket_problem()
        return exc if problem is None else ArtifactStoreAccessError(problem)

    def publish(self, staged: Path, uri: str) -> None:
        """Upload as the fsspec store does; a failure caused by the bucket says so in one line."""
        try:
            super().publish(staged, uri)
        except Exception as exc:
            explained = self._explained(exc)
            if explained is exc:
                raise
            raise explained from None

    def write_log(self, uri: str, text: str) -> None:
        """Store a step's log; when the bucket or the credentials are what is wrong, the log is not
        stored (the step that wrote failed saying why) and this says so at DEBUG level."""
        try:
            super().write_log(uri, text)
        except Exception as exc:
            explained = exc if isinstance(exc, DosirakError) else self._explained(exc)
            if explained is exc and not isinstance(exc, DosirakError):
                raise
            # the step that wrote has failed with this same cause, in one line: no second one here
            log.debug("step log %s not stored: %s", uri, explained)


__all__ = ["S3ArtifactStore", "storage_options"]
