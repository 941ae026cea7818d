"""The dashboard's state shared by every request: which store it reads, and what it can show.

Models, bundles and deployments are concepts of the store (``store.models``, ...) that
may be absent from an older or slimmer store; :meth:`Dashboard.has` tells the pages and the
API which parts exist, so they show what is there rather than failing.
"""

from __future__ import annotations

import threading
from typing import Any

from dosirak.dashboard.auth import Sessions
from dosirak.errors import DashboardError
from dosirak.metadata.store import get_store
from dosirak.statuses import RUN_STATUSES, RunStatus, is_run_status


class Dashboard:
    """Opens the metadata store on first use and keeps it for the process."""

    def __init__(self, store_url: str | None = None, *, behind_token: bool = False) -> None:
        self.store_url = store_url
        #: Whether every request must carry the dashboard's access token.
        self.behind_token = behind_token
        self.sessions = Sessions()
        self._store: Any = None
        self._lock = threading.Lock()

    @property
    def store(self) -> Any:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = get_store(self.store_url)
        return self._store

    def has(self, concept: str) -> bool:
        """Whether the store offers ``concept`` (e.g. ``models``)."""
        return getattr(self.store, concept, None) is not None


def dashboard_of(request: Any) -> Dashboard:
    return request.app.state.dashboard  # type: ignore[no-any-return]


def run_status_param(request: Any) -> RunStatus | None:
    """The ``?status=`` filter of a runs listing, checked against the statuses a run can have."""
    status: str | None = request.query_params.get("status") or None
    if status is None or is_run_status(status):
        return status
    raise DashboardError(f"status must be one of {', '.join(RUN_STATUSES)}, got '{status}'")


__all__ = ["Dashboard", "dashboard_of", "run_status_param"]
