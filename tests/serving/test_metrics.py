from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from dosirak.serving import metrics
from dosirak.serving.metrics import Tally


def test_a_flushed_tally_renders_exactly_like_direct_observations() -> None:
    values = [0.0, 0.0004, 0.0005, 0.001, 0.0031, 0.7, 2.5, 99.0, 0.0005, 1e-9]
    direct_registry, tallied_registry = CollectorRegistry(), CollectorRegistry()
    buckets = (0.0005, 0.001, 0.005, 0.5, 2.5)
    direct = Histogram("h", "doc", ["api"], buckets=buckets, registry=direct_registry).labels("a")
    tallied = Histogram("h", "doc", ["api"], buckets=buckets, registry=tallied_registry).labels("a")
    tally = Tally(tallied)
    for value in values:
        direct.observe(value)
        tally.observe(value)
    assert exposition(tallied_registry) != exposition(direct_registry)  # nothing published yet
    tally.flush()
    tally.flush()  # a second flush adds nothing
    assert exposition(tallied_registry) == exposition(direct_registry)


def exposition(registry: CollectorRegistry) -> list[str]:
    return [line for line in generate_latest(registry).decode().splitlines() if "_created" not in line]


def test_requests_appear_in_the_exposition_once_published() -> None:
    api = metrics.ApiMetrics("metrics_test_api")
    api.count(200)
    api.count(200)
    api.count(422)
    api.latency.observe(0.002)
    api.observe_batch(3, [0.001, 0.002, 0.003])
    line = 'dosirak_requests_total{api="metrics_test_api",status="200"} 2.0'
    assert line not in metrics.render().decode()
    api.publish()
    text = metrics.render().decode()
    assert line in text
    assert 'dosirak_requests_total{api="metrics_test_api",status="422"} 1.0' in text
    assert 'dosirak_batch_queue_wait_seconds_count{api="metrics_test_api"} 3.0' in text
    assert 'dosirak_request_duration_seconds_count{api="metrics_test_api"} 1.0' in text
