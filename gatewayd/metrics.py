"""The daemon's Prometheus metrics (the HTTP API registers its own on the same registry).

Submits and receipts are counted where they happen (the workers); queue depth, window
occupancy, achieved TPS, bind states and the callback backlog are gauges refreshed by a
sampler in the composition root. Label values are bounded: SMSC and bind names come from the
config, statuses and outcomes from enums.

What happens once per message (submits, receipts and their lag, callback outcomes; the HTTP
API's requests too) is counted in plain numbers on the event loop and added to the
prometheus_client metrics whenever the registry is read (`Deferred`): a Counter increment
takes a lock and a Histogram observation walks its buckets under locks, about 1 µs each,
where adding to an attribute costs a tenth of that. The exposition is the same. Read the
values through the registry (`registry.get_sample_value`), not a child's own value.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric

_LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


class Tally:
    """Increments of one counter child not yet added to it."""

    __slots__ = ("child", "pending")

    def __init__(self, child: Any) -> None:
        self.child = child
        self.pending = 0.0

    def flush(self) -> None:
        pending, self.pending = self.pending, 0.0
        if pending:
            self.child.inc(pending)


class HistogramTally:
    """Observations of one histogram child not yet added to it: a count per bucket (the
    first whose upper bound is at least the value, as `Histogram.observe` picks it) and a sum."""

    __slots__ = ("bounds", "child", "counts", "total")

    def __init__(self, child: Any) -> None:
        self.child = child
        self.bounds: list[float] = list(child._upper_bounds)  # ends with +Inf
        self.counts = [0] * len(self.bounds)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def flush(self) -> None:
        counts, self.counts = self.counts, [0] * len(self.bounds)
        total, self.total = self.total, 0.0
        if not any(counts):
            return
        self.child._sum.inc(total)
        for bucket, count in zip(self.child._buckets, counts, strict=True):
            if count:
                bucket.inc(count)


class Deferred:
    """A collector that yields nothing: reading the registry runs its `collect`, which adds
    the pending tallies to their metrics first. It must be registered before them (the
    registry collects in the order of registration), and a restricted registry, which skips
    collectors without names, would not see pending counts (the daemon serves the whole)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._tallies: list[Tally | HistogramTally] = []
        registry.register(self)

    def counter(self, child: Any) -> Tally:
        tally = Tally(child)
        self._tallies.append(tally)
        return tally

    def histogram(self, child: Any) -> HistogramTally:
        tally = HistogramTally(child)
        self._tallies.append(tally)
        return tally

    def flush(self) -> None:
        for tally in self._tallies:
            tally.flush()

    def describe(self) -> Iterable[Metric]:
        return ()

    def collect(self) -> Iterable[Metric]:
        self.flush()
        return ()


class DaemonMetrics:
    """Every metric the message lifecycle reports."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        reg = self.registry
        self.deferred = Deferred(reg)  # before the metrics it feeds: collected first
        self.submits = Counter(
            "gatewayd_smpp_submits",
            "submit_sm answered (or given up), by SMSC and outcome.",
            ["smsc", "outcome"],
            registry=reg,
        )
        self.messages_claimed = Counter(
            "gatewayd_messages_claimed",
            "Messages taken from the queue for submitting, by SMSC.",
            ["smsc"],
            registry=reg,
        )
        self.receipts = Counter(
            "gatewayd_receipts",
            "Delivery receipts received, by SMSC, status and what they did.",
            ["smsc", "status", "outcome"],
            registry=reg,
        )
        self.receipt_lag = Histogram(
            "gatewayd_receipt_lag_seconds",
            "From accept to the receipt that made a message final, by SMSC.",
            ["smsc"],
            buckets=_LAG_BUCKETS,
            registry=reg,
        )
        self.inbound = Counter(
            "gatewayd_inbound_messages",
            "Mobile-originated messages kept, by SMSC.",
            ["smsc"],
            registry=reg,
        )
        self.expired = Counter(
            "gatewayd_messages_expired",
            "Messages failed because they waited in the queue longer than [store] queue_expiry"
            " (no bind for their operator, an SMSC down, a backlog).",
            registry=reg,
        )
        self.in_doubt = Counter(
            "gatewayd_messages_in_doubt",
            "Messages that may have reached the SMSC without an answer kept (found submitting"
            " at start-up, unanswered, an answer not stored, a link stopped by a reload), by"
            " what was done with them.",
            ["policy"],
            registry=reg,
        )
        self.queue_depth = Gauge(
            "gatewayd_queue_depth",
            "Messages waiting to be submitted, by operator.",
            ["operator"],
            registry=reg,
        )
        self.window_in_flight = Gauge(
            "gatewayd_bind_window_in_flight",
            "submit_sm written and not yet answered, by bind.",
            ["bind"],
            registry=reg,
        )
        self.window_size = Gauge(
            "gatewayd_bind_window_size",
            "Largest number of submit_sm in flight allowed, by bind.",
            ["bind"],
            registry=reg,
        )
        self.achieved_tps = Gauge(
            "gatewayd_bind_achieved_tps",
            "submit_sm per second over the last sampling period, by bind.",
            ["bind"],
            registry=reg,
        )
        self.bind_up = Gauge(
            "gatewayd_bind_up",
            "1 when the bind is bound, else 0.",
            ["bind", "smsc"],
            registry=reg,
        )
        self.callbacks = Counter(
            "gatewayd_callbacks",
            "Delivery callback attempts, by outcome (delivered, retry, given_up).",
            ["outcome"],
            registry=reg,
        )
        self.callback_backlog = Gauge(
            "gatewayd_callback_backlog",
            "Callbacks waiting in the outbox.",
            registry=reg,
        )
