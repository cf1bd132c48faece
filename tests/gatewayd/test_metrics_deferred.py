"""Tallies kept as plain numbers read back exactly as prometheus_client's own metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from gatewayd.metrics import Deferred

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
VALUES = (0.0, 0.0004, 0.001, 0.0010001, 0.0025, 0.07, 0.25, 2.5, 3.0, 60.0, 0.003)


def exposition(registry: CollectorRegistry) -> list[str]:
    """/metrics text without the `_created` lines (creation times differ between registries)."""
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]


def metrics(registry: CollectorRegistry) -> tuple[Counter, Histogram]:
    counter = Counter("demo_requests", "Requests.", ["route"], registry=registry)
    histogram = Histogram("demo_seconds", "Latency.", ["route"], registry=registry, buckets=BUCKETS)
    return counter, histogram


def test_deferred_tallies_read_back_as_direct_increments_and_observations() -> None:
    direct = CollectorRegistry()
    counter, histogram = metrics(direct)
    deferred_registry = CollectorRegistry()
    deferred = Deferred(deferred_registry)
    d_counter, d_histogram = metrics(deferred_registry)
    tally = deferred.counter(d_counter.labels("/a"))
    timer = deferred.histogram(d_histogram.labels("/a"))
    for round_ in range(2):  # read between rounds: pending numbers are added once only
        for value in VALUES:
            counter.labels("/a").inc()
            histogram.labels("/a").observe(value)
            tally.pending += 1
            timer.observe(value)
        assert exposition(deferred_registry) == exposition(direct), round_
    assert deferred_registry.get_sample_value("demo_requests_total", {"route": "/a"}) == 22
    assert (
        deferred_registry.get_sample_value("demo_seconds_bucket", {"route": "/a", "le": "0.001"})
        == 6
    )
