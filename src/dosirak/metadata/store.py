"""The metadata store: the one API through which dosirak reads and writes its state.

Every change a user cares about is written in one transaction. Reads hand out frozen
records from :mod:`dosirak.metadata.records`, never live rows. The store is split by
concept into mixins (runs, stacks, ...) that share one database; what a pipeline run
needs is in :mod:`dosirak.metadata.recorder`, which works without SQLAlchemy on SQLite.

Example::

    store = get_store()              # the store named by the settings, opened once
    run = store.get_run("3f2a")      # a RunRecord (id prefixes work)
"""

from __future__ import annotations

from dosirak.metadata._artifacts import ArtifactsMixin
from dosirak.metadata._bundles import BundlesMixin
from dosirak.metadata._deployments import DeploymentsMixin
from dosirak.metadata._models import ModelsMixin
from dosirak.metadata._overview import OverviewMixin
from dosirak.metadata._runs import RunsMixin
from dosirak.metadata._stacks import StacksMixin
from dosirak.metadata.recorder import close_stores, open_store


class MetadataStore(RunsMixin, ArtifactsMixin, StacksMixin, OverviewMixin, ModelsMixin, BundlesMixin, DeploymentsMixin):
    """Runs, steps, artifacts, stacks, models, bundles and deployments, in one database."""


def get_store(url: str | None = None) -> MetadataStore:
    """The store at ``url`` (default: the settings' one), opened once per process."""
    return open_store(url, MetadataStore)


__all__ = ["MetadataStore", "close_stores", "get_store"]
