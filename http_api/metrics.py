"""The HTTP API's own Prometheus metrics, registered on the registry the daemon hands in.

Other parts (binds, dispatcher, callbacks) register theirs on the same registry; /metrics
serves all of it.

What every request bumps (requests by route and status, latency by route, accepts and units)
is kept as plain numbers and added to the prometheus_client metrics when the registry is read
(`gatewayd.metrics.Deferred`): a Counter increment takes a lock and a Histogram observation
walks its buckets, ~3 µs per request in all, where a plain addition costs a tenth of that.
The metrics, their names, labels and values on /metrics are the same.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CollectorRegistry, Counter, Histogram

from gatewayd.metrics import Deferred, HistogramTally, Tally
from http_api.errors import answer


class ApiMetrics:
    """Requests by route and status, latency by route, accepts and refusals."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deferred = Deferred(registry)  # before the metrics it feeds: collected first
        self.requests = Counter(
            "gatewayd_http_requests",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "gatewayd_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.accepted = Counter(
            "gatewayd_api_messages_accepted",
            "Messages accepted through the API, by operator.",
            ["operator"],
            registry=registry,
        )
        self.accepted_units = Counter(
            "gatewayd_api_units_debited",
            "SMS units debited for messages accepted through the API, by operator.",
            ["operator"],
            registry=registry,
        )
        self.rejected = Counter(
            "gatewayd_api_sends_rejected",
            "Sends refused by a business rule (nothing stored or charged), by reason.",
            ["reason"],
            registry=registry,
        )
        self.throttled = Counter(
            "gatewayd_api_rate_limited",
            "Requests answered 429 by the per-client rate limit.",
            registry=registry,
        )
        self.busy = Counter(
            "gatewayd_api_backpressure",
            "Sends answered 503 because the queue was deeper than the configured limit.",
            registry=registry,
        )
        self.replays = Counter(
            "gatewayd_api_idempotent_replays",
            "Requests answered from a stored Idempotency-Key response.",
            registry=registry,
        )
        self.topups = Counter(
            "gatewayd_api_topups_created",
            "Top-ups created through the API (PENDING), by payment method.",
            ["method"],
            registry=registry,
        )
        self.push_failures = Counter(
            "gatewayd_api_topup_push_failures",
            "M-Pesa top-ups answered 503 because Daraja did not take the STK push (FAILED).",
            registry=registry,
        )
        self.mpesa_callbacks = Counter(
            "gatewayd_mpesa_callbacks",
            "Daraja STK callbacks received, by what they did (error: failed on our side).",
            ["outcome"],
            registry=registry,
        )
        self.mpesa_reviews = Counter(
            "gatewayd_mpesa_callbacks_for_review",
            "Callbacks a person should look at (money reported that was not credited).",
            registry=registry,
        )

        self._accepted: dict[str, tuple[Tally, Tally]] = {}

    def count_accept(self, operator: str, units: int) -> None:
        """One accepted message and its units (tallies per operator: operators are few)."""
        tallies = self._accepted.get(operator)
        if tallies is None:
            tallies = (
                self.deferred.counter(self.accepted.labels(operator)),
                self.deferred.counter(self.accepted_units.labels(operator)),
            )
            self._accepted[operator] = tallies
        tallies[0].pending += 1
        tallies[1].pending += units

    def middleware(self, max_body: int | None = None) -> Middleware:
        """Counts every answer (errors included) under its route template. With `max_body`
        it also turns failures into JSON answers (`errors.answer`, the error middleware's
        work) inside the same middleware, one layer instead of two."""

        # Tallies per label set (route templates, methods and status codes are few).
        counters: dict[tuple[str, str, int], Tally] = {}
        routes: dict[Any, str] = {}  # the app's routes → their templates (not error routes)
        timers: dict[str, HistogramTally] = {}
        deferred = self.deferred

        @web.middleware
        async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
            started = time.perf_counter()
            if max_body is None:
                response = await handler(request)
            else:
                response = await answer(request, handler, max_body)
            match = request.match_info
            route = routes.get(match.route)
            if route is None:
                route = _route_of(request)
                if match.http_exception is None:  # a route of the app: few, and kept
                    routes[match.route] = route
            method = request.method if request.method in _METHODS else "OTHER"
            key = (route, method, response.status)
            counter = counters.get(key)
            if counter is None:
                child = self.requests.labels(route, key[1], str(key[2]))
                counter = counters[key] = deferred.counter(child)
            counter.pending += 1
            timer = timers.get(route)
            if timer is None:
                timer = timers[route] = deferred.histogram(self.latency.labels(route))
            timer.observe(time.perf_counter() - started)
            return response

        return count


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _route_of(request: web.Request) -> str:
    """The route template (`/api/v1/messages/{id}`), never the raw path: bounded labels."""
    info = request.match_info
    if info.http_exception is not None:
        return "unmatched"
    resource = info.route.resource
    return resource.canonical if resource is not None else "unmatched"
