"""Prometheus metrics of a serving worker, summed over workers by the supervisor's directory.

When ``dosirak serve`` runs several workers it points ``PROMETHEUS_MULTIPROC_DIR`` at a
private directory, so every worker's ``/metrics`` answers for all of them.

======================================  =========  =====================================
name                                    type       labels
======================================  =========  =====================================
``dosirak_requests_total``              counter    api, status
``dosirak_request_duration_seconds``    histogram  api
``dosirak_request_errors_total``        counter    api, type
``dosirak_requests_in_flight``          gauge      api
``dosirak_batch_size``                  histogram  api (rows per batch)
``dosirak_batch_queue_wait_seconds``    histogram  api (time from arrival to batch start)
======================================  =========  =====================================
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from dosirak.settings import env_value

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

REQUESTS = Counter("dosirak_requests", "Requests answered, by api and HTTP status.", ["api", "status"])
LATENCY = Histogram(
    "dosirak_request_duration_seconds", "Time from request start to response, by api.", ["api"],
    buckets=_LATENCY_BUCKETS,
)
ERRORS = Counter("dosirak_request_errors", "Requests answered with an error, by api and error type.", ["api", "type"])
IN_FLIGHT = Gauge("dosirak_requests_in_flight", "Requests being handled.", ["api"], multiprocess_mode="livesum")
BATCH_SIZE = Histogram("dosirak_batch_size", "Rows per executed batch.", ["api"], buckets=_BATCH_BUCKETS)
QUEUE_WAIT = Histogram(
    "dosirak_batch_queue_wait_seconds", "Time a request waited before its batch started.", ["api"],
    buckets=_LATENCY_BUCKETS,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def multiprocess_dir() -> str | None:
    """The directory shared by all workers' metric files, if several workers run."""
    return env_value("PROMETHEUS_MULTIPROC_DIR") or None


def render() -> bytes:
    """The Prometheus text exposition of this worker, or of all workers when they share a directory."""
    directory = multiprocess_dir()
    if directory:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def mark_worker_dead(pid: int, directory: Path) -> None:
    """Forget the live gauges of a worker that exited (called by the supervisor)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, path=str(directory))  # type: ignore[no-untyped-call]


class ApiMetrics:
    """Pre-bound metric children of one api, so the request path does no label lookups."""

    def __init__(self, api: str) -> None:
        self.api = api
        self.latency = LATENCY.labels(api)
        self.in_flight_gauge = IN_FLIGHT.labels(api)
        #: Requests being handled now; published to the gauge by :meth:`publish` (a plain
        #: int on the request path: a multiprocess gauge write costs a lock and a PID check).
        self.in_flight = 0
        self.batch_size = BATCH_SIZE.labels(api)
        self.queue_wait = QUEUE_WAIT.labels(api)
        self._by_status: dict[int, Any] = {}

    def publish(self) -> None:
        """Copy the in-flight count to its gauge (called periodically and before each scrape)."""
        self.in_flight_gauge.set(self.in_flight)

    def count(self, status: int) -> None:
        child = self._by_status.get(status)
        if child is None:
            child = self._by_status[status] = REQUESTS.labels(self.api, str(status))
        child.inc()

    def error(self, error_type: str) -> None:
        ERRORS.labels(self.api, error_type).inc()

    def observe_batch(self, rows: int, waits: list[float]) -> None:
        self.batch_size.observe(rows)
        for wait in waits:
            self.queue_wait.observe(wait)


__all__ = ["CONTENT_TYPE", "ApiMetrics", "mark_worker_dead", "multiprocess_dir", "render"]
