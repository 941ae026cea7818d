"""Prometheus metrics of a serving worker, summed over workers by the supervisor's directory.

When ``dosirak serve`` runs several workers it points ``PROMETHEUS_MULTIPROC_DIR`` at a
private directory, so every worker's ``/metrics`` answers for all of them.

The request path never writes those files: each worker tallies requests, latencies and
batches in plain Python numbers (:class:`ApiMetrics`) and adds them to the Prometheus
metrics in :meth:`ApiMetrics.publish`, which the app calls every 0.25 s and before it
answers ``/metrics``. A scrape therefore sees this worker's requests at once and the
other workers' within a quarter of a second.

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

from bisect import bisect_left
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


class Tally:
    """Observations of one histogram child, kept in this process until :meth:`flush`."""

    def __init__(self, child: Any) -> None:
        self.child = child
        self.bounds: list[float] = list(child._upper_bounds)  # ends with +Inf
        self.counts = [0] * len(self.bounds)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # the first bucket whose bound >= value
        self.total += value

    def flush(self) -> None:
        """Add the tallied observations to the Prometheus histogram (what ``observe`` would have done)."""
        counts, buckets = self.counts, self.child._buckets
        if not any(counts):
            return
        for i, n in enumerate(counts):
            if n:
                buckets[i].inc(n)
                counts[i] = 0
        self.child._sum.inc(self.total)
        self.total = 0.0


class ApiMetrics:
    """The metrics of one api, tallied in-process and published periodically (see the module docstring)."""

    def __init__(self, api: str) -> None:
        self.api = api
        self.latency = Tally(LATENCY.labels(api))
        self.in_flight_gauge = IN_FLIGHT.labels(api)
        #: Requests being handled now; published to the gauge by :meth:`publish`.
        self.in_flight = 0
        self.batch_size = Tally(BATCH_SIZE.labels(api))
        self.queue_wait = Tally(QUEUE_WAIT.labels(api))
        self._statuses: dict[int, int] = {}
        self._by_status: dict[int, Any] = {}

    def publish(self) -> None:
        """Add what was tallied since the last call to the Prometheus metrics."""
        self.in_flight_gauge.set(self.in_flight)
        statuses = self._statuses
        if statuses:
            self._statuses = {}
            for status, n in statuses.items():
                child = self._by_status.get(status)
                if child is None:
                    child = self._by_status[status] = REQUESTS.labels(self.api, str(status))
                child.inc(n)
        self.latency.flush()
        self.batch_size.flush()
        self.queue_wait.flush()

    def count(self, status: int) -> None:
        statuses = self._statuses
        statuses[status] = statuses.get(status, 0) + 1

    def error(self, error_type: str) -> None:
        ERRORS.labels(self.api, error_type).inc()

    def observe_batch(self, rows: int, waits: list[float]) -> None:
        self.batch_size.observe(rows)
        observe = self.queue_wait.observe
        for wait in waits:
            observe(wait)


__all__ = ["CONTENT_TYPE", "ApiMetrics", "Tally", "mark_worker_dead", "multiprocess_dir", "render"]
