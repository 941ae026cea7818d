"""The metadata store: the one API through which dosirak reads and writes its state.

Every change a user cares about is written in one transaction. Reads hand out frozen
records from :mod:`dosirak.metadata.records`, never live rows. The store is split by
concept into mixins (runs, stacks, ...) that share one engine.

Example::

    store = get_store()              # the store named by the settings, opened once
    run = store.get_run("3f2a")      # a RunRecord (id prefixes work)
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import delete, insert, select

from dosirak.metadata import schema as t
from dosirak.metadata._artifacts import ArtifactsMixin
from dosirak.metadata._bundles import BundlesMixin
from dosirak.metadata._deployments import DeploymentsMixin
from dosirak.metadata._models import ModelsMixin
from dosirak.metadata._overview import OverviewMixin
from dosirak.metadata._runs import RunsMixin
from dosirak.metadata._stacks import StacksMixin
from dosirak.metadata.engine import ensure_schema, make_engine, read_connection, write_transaction

_stores: dict[str, MetadataStore] = {}
_lock = threading.Lock()


class MetadataStore(RunsMixin, ArtifactsMixin, StacksMixin, OverviewMixin, ModelsMixin, BundlesMixin, DeploymentsMixin):
    """Runs, steps, artifacts, stacks, models, bundles and deployments, in one database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        ensure_schema(self.engine, url)

    # -- plumbing shared by the mixins ------------------------------------------------
    def _write(self) -> Any:
        return write_transaction(self.engine)

    def _read(self) -> Any:
        return read_connection(self.engine)

    # -- key/value settings kept in the store -----------------------------------------
    def get_value(self, key: str, default: Any = None) -> Any:
        with self._read() as conn:
            row = conn.execute(select(t.kv.c.value).where(t.kv.c.key == key)).first()
        return default if row is None else row[0]

    def set_value(self, key: str, value: Any) -> None:
        with self._write() as conn:
            conn.execute(delete(t.kv).where(t.kv.c.key == key))
            conn.execute(insert(t.kv).values(key=key, value=value))

    def close(self) -> None:
        self.engine.dispose()


def get_store(url: str | None = None) -> MetadataStore:
    """The store at ``url`` (default: the settings' one), opened once per process."""
    if url is None:
        from dosirak.settings import get_settings

        url = get_settings().metadata_url
    with _lock:
        store = _stores.get(url)
        if store is None:
            store = _stores[url] = MetadataStore(url)
        return store


def close_stores() -> None:
    """Close every open store (tests switch ``DOSIRAK_HOME`` between cases)."""
    with _lock:
        for store in _stores.values():
            store.close()
        _stores.clear()


__all__ = ["MetadataStore", "close_stores", "get_store"]
