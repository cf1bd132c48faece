"""The daemon's Prometheus metrics (the HTTP API registers its own on the same registry).

Submits and receipts are counted where they happen (the workers); queue depth, window
occupancy, achieved TPS, bind states and the callback backlog are gauges refreshed by a
sampler in the composition root. Label values are bounded: SMSC and bind names come from the
config, statuses and outcomes from enums.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


class DaemonMetrics:
    """Every metric the message lifecycle reports."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        reg = self.registry
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
