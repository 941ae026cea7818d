"""The metadata store: the one API through which dosirak reads and writes its state.

One object per concept, on one database: ``store.runs``, ``store.artifacts``,
``store.stacks``, ``store.references``, ``store.metrics``, ``store.models``, ``store.bundles``,
``store.deployments``, ``store.overview``. Each reads and writes the same one way: SQL text
through the database's driver (:mod:`dosirak.metadata.driver`), so an up-to-date SQLite
store never imports SQLAlchemy; a PostgreSQL URL is driven by a SQLAlchemy engine. Every
change a user cares about is written in one transaction; reads hand out frozen records from
:mod:`dosirak.metadata.records`, never live rows. A process opens each store once
(:func:`get_store`).

Example::

    store = get_store()                 # the store named by the settings, opened once
    run = store.runs.get_run("3f2a")    # a RunRecord (id prefixes work)
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from dosirak.metadata._artifacts import Artifacts
from dosirak.metadata._bundles import Bundles
from dosirak.metadata._deployments import Deployments
from dosirak.metadata._metrics import Metrics
from dosirak.metadata._models import Models
from dosirak.metadata._overview import Overview
from dosirak.metadata._references import References
from dosirak.metadata._runs import Runs
from dosirak.metadata._stacks import Stacks
from dosirak.metadata.database import Database
from dosirak.metadata.driver import Driver
from dosirak.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


class MetadataStore:
    """Runs, artifacts, stacks, models, bundles and deployments, in one database."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.runs = Runs(self.db)
        self.artifacts = Artifacts(self.db)
        self.stacks = Stacks(self.db)
        self.references = References(self.db)
        self.metrics = Metrics(self.db)
        self.models = Models(self.db)
        self.bundles = Bundles(self.db)
        self.deployments = Deployments(self.db)
        self.overview = Overview(self.db)

    @property
    def url(self) -> str:
        return self.db.url

    @property
    def sql(self) -> Driver:
        """SQL text on the store's database (see :mod:`dosirak.metadata.driver`)."""
        return self.db.sql

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, created (and SQLAlchemy imported) on first use."""
        return self.db.engine

    def close(self) -> None:
        self.db.close()


# ------------------------------------------------------------ one store per process
_opened: dict[str, MetadataStore] = {}
_lock = threading.Lock()


def get_store(url: str | None = None) -> MetadataStore:
    """The store at ``url`` (default: the settings' one), opened once per process."""
    if url is None:
        url = get_settings().metadata_url
    with _lock:
        store = _opened.get(url)
        if store is None:
            store = _opened[url] = MetadataStore(url)
        return store


def close_stores() -> None:
    """Close every open store (tests switch ``DOSIRAK_HOME`` between cases)."""
    with _lock:
        for store in _opened.values():
            store.close()
        _opened.clear()


__all__ = ["MetadataStore", "close_stores", "get_store"]
