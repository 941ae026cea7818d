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

from dosirak.metadata._artifacts import ArtifactsMixin
from dosirak.metadata._bundles import BundlesMixin
from dosirak.metadata._deployments import DeploymentsMixin
from dosirak.metadata._models import ModelsMixin
from dosirak.metadata._overview import OverviewMixin
from dosirak.metadata._runs import RunsMixin
from dosirak.metadata._stacks import StacksMixin

_stores: dict[str, MetadataStore] = {}
_lock = threading.Lock()


class MetadataStore(RunsMixin, ArtifactsMixin, StacksMixin, OverviewMixin, ModelsMixin, BundlesMixin, DeploymentsMixin):
    """Runs, steps, artifacts, stacks, models, bundles and deployments, in one database."""


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
