"""The names a pipeline run used to reach the store by, kept while callers move to :mod:`dosirak.metadata.store`.

A run records through ``get_store().runs`` (SQL text: a run on the default SQLite store
never imports SQLAlchemy); :data:`RunRecorder` and :func:`get_recorder` are the store and
:func:`~dosirak.metadata.store.get_store` under their former names.
"""

from __future__ import annotations

from dosirak.metadata._runs import HEARTBEAT_STALE_AFTER
from dosirak.metadata._stacks import ACTIVE_STACK_KEY
from dosirak.metadata.store import MetadataStore, close_stores, get_store

RunRecorder = MetadataStore
get_recorder = get_store

__all__ = [
    "ACTIVE_STACK_KEY", "HEARTBEAT_STALE_AFTER", "RunRecorder", "close_stores", "get_recorder",
]
