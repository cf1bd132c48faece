"""Delivery callbacks: jobs of the durable outbox → signed JSON POSTs to clients' callback_url.

The store writes a job in the transaction that makes a message DELIVERED or FAILED (SENT when
asked), so no status change is lost; this worker claims due jobs in batches (each claim leases
the job, so a crash mid-POST means a retry after the lease, never a loss) and POSTs seed 000's
payload, `{"message_id", "contact", "status", "description", "provider"}`, as JSON.

Delivery is at least once: a client may see the same job twice (after a crash, or when its
2xx was lost) and can tell by `X-Gatewayd-Callback-Id`. Callbacks never push back on SMS
traffic: they only read the outbox, and a slow or dead endpoint only delays its own jobs.

Headers of every POST:

- `Content-Type: application/json`, `User-Agent: gatewayd/<version>`;
- `X-Gatewayd-Timestamp`: unix seconds when the attempt was made;
- `X-Gatewayd-Signature: sha256=<hex>`: HMAC-SHA256 keyed with the configured signing secret
  over the bytes `<timestamp>.<raw body>` (left out when no secret is configured);
- `X-Gatewayd-Callback-Id` (the outbox job id, the same on every attempt) and
  `X-Gatewayd-Attempt` (1 for the first).

Outcomes: any 2xx within the timeout (5 s by default, whole request) is done. Anything else
(another status, a redirect, a timeout, a connection or DNS error) is retried after an
exponential back-off with full jitter: attempt n waits uniform(0, min(max, base·2^(n−1)))
seconds, until the retry period counted from the status change has passed; then the job is
given up with the last error recorded. A URL the policy refuses (scheme, a literal or
resolved address in a refused class) is given up at once: it would never succeed.

Suspension (seed 002): a host whose POSTs failed `suspend_after` times in a row is suspended
for `suspend_for`; its jobs are rescheduled to the end of the cool-down without a request.
After the cool-down one probe goes through; its success lifts the suspension, its failure
starts another cool-down. `resume(host)` lifts a suspension by hand. This state lives in
memory: a restart clears it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import hmac
import random
import socket
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
import orjson
from aiohttp.abc import AbstractResolver, ResolveResult

from gatewayd import __version__
from gatewayd.logs import debug_enabled, get_logger
from gatewayd.metrics import DaemonMetrics, Tally
from gatewayd.service.callback_policy import MAX_URL_LENGTH, CallbackPolicy, CallbackTarget
from gatewayd.service.errors import CallbackUrlRejected
from gatewayd.service.model import CallbackJob
from gatewayd.service.ports import CallbackOutbox
from gatewayd.workers.batching import TurnBatch
from gatewayd.workers.keepalive import KeepAlivePoster
from routing import Operator

_LOGGER = "gatewayd.callbacks"
log = get_logger(_LOGGER)

Clock = Callable[[], datetime]

TIMESTAMP_HEADER = "X-Gatewayd-Timestamp"
SIGNATURE_HEADER = "X-Gatewayd-Signature"
CALLBACK_ID_HEADER = "X-Gatewayd-Callback-Id"
ATTEMPT_HEADER = "X-Gatewayd-Attempt"
USER_AGENT = f"gatewayd/{__version__}"
_MAX_ERROR = 300  # characters of an error kept on the job
_TARGETS_KEPT = 1024  # parsed callback URLs remembered (clients use a handful each)


class CallbackOutcome(enum.StrEnum):
    """What one claimed job came to (the `outcome` label of `gatewayd_callbacks`)."""

    DELIVERED = "delivered"
    RETRY = "retry"
    GIVEN_UP = "given_up"
    DEFERRED = "deferred"  # its host is suspended: rescheduled without a request


# -- the wire: payload, signature, back-off ------------------------------------------------


_PROVIDERS = {operator.value: operator.display_name for operator in Operator}


def payload(job: CallbackJob) -> bytes:
    """Seed 000's callback body for `job`, with the operator's display name as `provider`
    (an operator the routing table does not know goes by its stored name)."""
    provider = _PROVIDERS.get(job.operator, job.operator)
    return orjson.dumps(
        {
            "message_id": job.message_id,
            "contact": job.contact,
            "status": job.status.value,
            "description": job.description,
            "provider": provider,
        }
    )


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The `X-Gatewayd-Signature` value: `sha256=` + hex HMAC-SHA256 of `<timestamp>.<body>`."""
    return Signer(secret)(timestamp, body)


class Signer:
    """`sign` with one secret: the HMAC keyed once and copied per callback (keying it again
    per callback cost more than the hashing)."""

    def __init__(self, secret: bytes) -> None:
        self._keyed = hmac.new(secret, digestmod=hashlib.sha256)

    def __call__(self, timestamp: int, body: bytes) -> str:
        mac = self._keyed.copy()
        mac.update(b"%d." % timestamp)
        mac.update(body)
        return "sha256=" + mac.hexdigest()


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait after failed attempt `attempt` (1 = first): full jitter, so clients
    recovering from an outage are not hit by every job at the same instant."""
    ceiling = min(cap, base * 2.0 ** min(max(attempt - 1, 0), 62))
    return rng.uniform(0.0, ceiling)


# -- address screening at connect time ----------------------------------------------------


class TargetRefused(OSError):
    """A callback host resolved to an address the policy refuses (an OSError so aiohttp
    reports it as a connection error carrying it as `os_error`)."""


class PolicyResolver(AbstractResolver):
    """Resolves with `inner`, then refuses the name if any address is in a refused class.

    aiohttp connects only to the addresses its resolver returned, so the check covers the
    very addresses used (no second lookup an attacker's DNS could answer differently).
    IP literals never reach a resolver; `CallbackPolicy.check_url` judges those.
    """

    def __init__(self, policy: CallbackPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner if inner is not None else aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            try:
                self._policy.check_address(result["host"])
            except CallbackUrlRejected as exc:
                raise TargetRefused(f"{host} resolves to {result['host']}: {exc.reason}") from None
        return results

    async def close(self) -> None:
        await self._inner.close()


# -- per-host suspension --------------------------------------------------------------------


@dataclass(slots=True)
class _HostState:
    failures: int = 0
    suspended_until: datetime | None = None
    probing: bool = False


class HostBreaker:
    """Consecutive failures per host; suspends a host after `threshold` of them.

    Only failing hosts are remembered (a success forgets the host), at most `max_hosts`.
    """

    def __init__(self, threshold: int, cool_down: timedelta, max_hosts: int = 10_000) -> None:
        self._threshold = threshold
        self._cool_down = cool_down
        self._max_hosts = max_hosts
        self._hosts: OrderedDict[str, _HostState] = OrderedDict()

    def admit(self, host: str, now: datetime) -> datetime | None:
        """None when a request to `host` may go now; else when to try again. After a
        cool-down the first caller is let through as the probe; others wait for its answer."""
        state = self._hosts.get(host)
        if state is None or state.suspended_until is None:
            return None
        if now < state.suspended_until:
            return state.suspended_until
        if state.probing:
            return now + min(self._cool_down, timedelta(seconds=30))
        state.probing = True
        return None

    def success(self, host: str) -> None:
        if self._hosts.pop(host, None) is not None:
            log.info("callback_host_recovered", host=host)

    def failure(self, host: str, now: datetime) -> None:
        state = self._hosts.pop(host, None) or _HostState()
        self._hosts[host] = state  # most recently failing last
        state.failures += 1
        state.probing = False
        if self._threshold > 0 and state.failures >= self._threshold:
            state.suspended_until = now + self._cool_down
            log.warning(
                "callback_host_suspended", host=host, failures=state.failures,
                until=state.suspended_until.isoformat(),
            )  # fmt: skip
        while len(self._hosts) > self._max_hosts:
            self._hosts.popitem(last=False)

    def release(self, host: str) -> None:
        """The probe ended without an answer about the host (refused, cancelled)."""
        state = self._hosts.get(host)
        if state is not None:
            state.probing = False

    def resume(self, host: str) -> bool:
        """Lift `host`'s suspension (and forget its failures); False if it was not suspended."""
        state = self._hosts.pop(host, None)
        return state is not None and state.suspended_until is not None

    def suspended(self) -> dict[str, datetime]:
        """Suspended hosts and the end of their current cool-down."""
        return {h: s.suspended_until for h, s in self._hosts.items() if s.suspended_until}


# -- the sender -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallbackTuning:
    """Loop timings and bounds; the defaults suit production and tests alike."""

    max_in_flight: int = 64  # POSTs at once (also the connection pool's size)
    limit_per_host: int = 32  # connections to one host at once
    batch_size: int = 32  # jobs claimed at once, at most
    poll_interval: float = 1.0  # seconds between outbox polls when nothing woke us
    lease: float = 60.0  # seconds a claimed job is held before another claim may take it
    stop_budget: float = 10.0  # seconds `stop()` lets in-flight POSTs finish
    suspend_after: int = 20  # consecutive failures that suspend a host (0 = never)
    suspend_for: float = 300.0  # seconds of a suspension's cool-down


@dataclass(frozen=True, slots=True)
class _Attempt:
    """The answer to one POST: ok, or why not (refused = never worth retrying)."""

    ok: bool
    error: str = ""
    refused: bool = False


OutcomeHook = Callable[[CallbackJob, CallbackOutcome], None]


class CallbackSender:
    """Claims due callback jobs and POSTs them until `stop()`; never raises out of `run()`."""

    def __init__(
        self,
        outbox: CallbackOutbox,
        clock: Clock,
        *,
        policy: CallbackPolicy,
        signing_secret: bytes | str | None,
        timeout: float = 5.0,
        retry_period: float = 86_400.0,
        backoff_base: float = 2.0,
        backoff_max: float = 600.0,
        tuning: CallbackTuning | None = None,
        metrics: DaemonMetrics | None = None,
        on_outcome: OutcomeHook | None = None,
        rng: random.Random | None = None,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self._tuning = tuning or CallbackTuning()
        _check_settings(timeout, backoff_base, backoff_max, self._tuning)
        self._outbox = outbox
        self._clock = clock
        self._policy = policy
        self._secret = (
            signing_secret.encode() if isinstance(signing_secret, str) else signing_secret
        )
        self._signer = Signer(self._secret) if self._secret is not None else None
        self._timeout = timeout
        self._retry_period = timedelta(seconds=retry_period)
        self._base = backoff_base
        self._cap = backoff_max
        self._metrics = metrics
        self._on_outcome = on_outcome
        self._rng = rng or random.Random()
        self._resolver = resolver
        self._breaker = HostBreaker(
            self._tuning.suspend_after, timedelta(seconds=self._tuning.suspend_for)
        )
        self._counts: Counter[CallbackOutcome] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._kick = asyncio.Event()
        self._stopping = asyncio.Event()
        self._finished = asyncio.Event()
        self._starved = False  # waiting for a free slot: a finished POST should wake us
        self._session: aiohttp.ClientSession | None = None
        self._poster: KeepAlivePoster | None = None  # plain http: see gatewayd.workers.keepalive
        self._stop_budget = self._tuning.stop_budget
        # Deliveries recorded together: those finished in one loop turn share one store write.
        self._delivered: TurnBatch[tuple[int, datetime], None] = TurnBatch(
            outbox.callbacks_done, "callbacks-done"
        )
        self._unrecorded = 0  # deliveries answered, their store write not yet committed
        self._max_unrecorded = 4 * self._tuning.max_in_flight
        self._origins: dict[str, _Origin] = {}
        self._outcome_tallies: dict[CallbackOutcome, Tally] = {}

    # -- control ----------------------------------------------------------------------------

    def wake(self) -> None:
        """A job was written: look at the outbox now instead of at the next poll."""
        self._kick.set()

    async def stop(self, budget: float | None = None) -> None:
        """Stop claiming; let in-flight POSTs finish for up to `budget` seconds (the tuning's
        `stop_budget` by default), then cancel the rest (their jobs come back after the
        lease). Returns when `run()` has ended; at once if it never started."""
        if budget is not None:
            self._stop_budget = budget
        self._stopping.set()
        self._kick.set()
        if self._session is not None:
            await self._finished.wait()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    @property
    def counts(self) -> dict[CallbackOutcome, int]:
        """Jobs handled so far, by outcome (for the composition root or tests)."""
        return dict(self._counts)

    def suspended_hosts(self) -> dict[str, datetime]:
        """`host:port` of each suspended endpoint and the end of its cool-down."""
        return self._breaker.suspended()

    def resume(self, host: str) -> bool:
        """Re-enable a suspended endpoint (`host:port`) now; False if it was not suspended."""
        return self._breaker.resume(host)

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Claim and POST until `stop()`; every iteration waits on something."""
        if self._session is not None:
            raise RuntimeError("CallbackSender.run() is already running")
        self._session = self._open_session()
        self._poster = KeepAlivePoster(
            PolicyResolver(self._policy, self._resolver),
            self._tuning.limit_per_host,
            USER_AGENT,
        )
        if self._secret is None:
            log.warning("callbacks_unsigned", reason="no [callbacks] signing_secret configured")
        log.info("callback_sender_started", max_in_flight=self._tuning.max_in_flight)
        try:
            while not self._stopping.is_set():
                await self._round()
        finally:
            await self._drain()
            self._poster.close()
            await self._session.close()
            self._finished.set()
            counts = {k.value: v for k, v in self._counts.items()}
            log.info("callback_sender_stopped", counts=counts)

    async def _round(self) -> None:
        """One claim when there is room, then a wait unless the outbox may hold more."""
        self._kick.clear()
        room = self._tuning.max_in_flight - len(self._tasks)
        low_water = max(1, min(self._tuning.batch_size, self._tuning.max_in_flight) // 4)
        # No room, or the store is behind on recording answered deliveries: let it catch up.
        if room < low_water or self._unrecorded >= self._max_unrecorded:
            self._starved = True
            await self._wait()
            return
        self._starved = False
        want = min(self._tuning.batch_size, room)
        claimed = await self._claim(want)
        if claimed < want:
            await self._wait()

    async def _wait(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._kick.wait(), self._tuning.poll_interval)

    async def _claim(self, limit: int) -> int:
        """Claim up to `limit` due jobs and start a POST for each; -1 when the store failed."""
        try:
            jobs = await self._outbox.claim_callbacks(
                self._clock(), limit, timedelta(seconds=self._tuning.lease)
            )
        except Exception:  # the store is down or busy: try again at the next poll
            log.exception("callback_claim_failed")
            return -1
        for job in jobs:
            task = asyncio.create_task(self._handle(job), name=f"callback-{job.id}")
            self._tasks.add(task)
            task.add_done_callback(self._done)
        return len(jobs)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._starved:
            self._kick.set()

    async def _drain(self) -> None:
        """Give in-flight POSTs the stop budget, then cancel what is left; then let the
        deliveries already answered be recorded (else they would be sent again)."""
        tasks = list(self._tasks)
        if tasks:
            await self._drain_tasks(tasks)
        try:  # within the budget too: what misses it is sent again after its lease
            await asyncio.wait_for(self._delivered.settle(), self._stop_budget)
        except TimeoutError:
            log.warning("callback_records_abandoned_at_stop", count=self._unrecorded)

    async def _drain_tasks(self, tasks: list[asyncio.Task[None]]) -> None:
        _, pending = await asyncio.wait(tasks, timeout=self._stop_budget)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if pending:
            log.warning("callbacks_abandoned_at_stop", count=len(pending))

    def _open_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._tuning.max_in_flight,
            limit_per_host=self._tuning.limit_per_host,
            resolver=PolicyResolver(self._policy, self._resolver),
        )
        return aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            headers={"User-Agent": USER_AGENT},
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )

    # -- one job ------------------------------------------------------------------------------

    async def _handle(self, job: CallbackJob) -> None:
        """Send `job` and record what came of it; never raises (a failure to record it leaves
        the job leased, so it is tried again after the lease)."""
        try:
            outcome = await self._send(job)
        except Exception:
            log.exception("callback_record_failed", callback_id=job.id, message_id=job.message_id)
            return
        self._counts[outcome] += 1
        if self._metrics is not None:
            tally = self._outcome_tallies.get(outcome)
            if tally is None:  # a label lookup costs more than the increment: keep it
                child = self._metrics.callbacks.labels(outcome.value)
                tally = self._outcome_tallies[outcome] = self._metrics.deferred.counter(child)
            tally.pending += 1
        if self._on_outcome is not None:
            self._on_outcome(job, outcome)

    async def _send(self, job: CallbackJob) -> CallbackOutcome:
        now = self._clock()
        try:
            origin = self._origin(job.url)
        except CallbackUrlRejected as exc:
            return await self._give_up(job, f"refused: {exc.reason}", now)
        host = origin.host
        not_before = self._breaker.admit(host, now)
        if not_before is not None:
            return await self._defer(job, host, not_before, now)
        try:
            attempt = await self._post(job, now, origin.target)
        except BaseException:  # cancelled at stop: the host's probe, if it was one, is free
            self._breaker.release(host)
            raise
        now = self._clock()
        if attempt.ok:
            self._breaker.success(host)
            self._record_delivered(job, now)
            if debug_enabled(_LOGGER):  # one line per message: debug only, free when off
                log.debug("callback_delivered", callback_id=job.id, message_id=job.message_id,
                          attempt=job.attempts)  # fmt: skip
            return CallbackOutcome.DELIVERED
        if attempt.refused:
            self._breaker.release(host)
            return await self._give_up(job, f"refused: {attempt.error}", now)
        self._breaker.failure(host, now)
        return await self._retry(job, attempt.error, now)

    def _record_delivered(self, job: CallbackJob, now: datetime) -> None:
        """Hand the delivery to the store without holding the POST's slot until it commits:
        the endpoint has answered, so the slot is free for the next job at once (waiting
        for the commit held each of 32 slots a store round trip longer than its POST). Once
        `max_unrecorded` deliveries wait for their write, no more jobs are claimed (those in
        flight may add up to `max_in_flight` more).
        A write that fails leaves its job leased: it is sent again after the lease, as after
        a crash between the answer and the write (delivery is at least once)."""
        self._unrecorded += 1
        future = self._delivered.put_nowait((job.id, now))  # one write per loop turn
        future.add_done_callback(lambda done: self._recorded(done, job))

    def _recorded(self, done: asyncio.Future[None], job: CallbackJob) -> None:
        self._unrecorded -= 1
        error = None if done.cancelled() else done.exception()
        if error is not None:
            log.error("callback_record_failed", callback_id=job.id, message_id=job.message_id,
                      error=_describe(error))  # fmt: skip
        if self._starved:
            self._kick.set()

    def _origin(self, url: str) -> _Origin:
        """`policy.check_url(url)`, judged once per origin (`scheme://authority`): the policy
        is fixed, and what it judges (scheme, host, port, a literal address; names are judged
        at resolve time) comes from the origin alone, so another URL of an origin accepted
        once is accepted too when it has no character the URL check refuses. Clients often
        put a per-message query in their callback URL: parsing each one cost more than the
        rest of a callback's bookkeeping. The target kept is the origin's first URL's."""
        key = _origin_of(url)
        known = self._origins.get(key) if key else None
        if known is not None and len(url) <= MAX_URL_LENGTH and _plain(url):
            return known
        target = self._policy.check_url(url)  # raises CallbackUrlRejected
        if key:
            if len(self._origins) >= _TARGETS_KEPT:
                self._origins.clear()
            known = self._origins[key] = _Origin(target, f"{target.host}:{target.port}")
            return known
        return _Origin(target, f"{target.host}:{target.port}")

    async def _post(self, job: CallbackJob, now: datetime, target: CallbackTarget) -> _Attempt:
        """One signed POST; its answer, with no exception escaping for network trouble."""
        assert self._session is not None
        body = payload(job)
        timestamp = int(now.timestamp())
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            CALLBACK_ID_HEADER: str(job.id),
            ATTEMPT_HEADER: str(job.attempts),
        }
        if self._signer is not None:
            headers[SIGNATURE_HEADER] = self._signer(timestamp, body)
        if self._poster is not None and KeepAlivePoster.handles(target, job.url):
            return await self._post_lean(self._poster, target, job.url, headers, body)
        try:
            async with self._session.post(
                job.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                if 200 <= response.status < 300:
                    return _Attempt(ok=True)
                return _Attempt(ok=False, error=f"HTTP {response.status}")
        except TimeoutError:
            return _Attempt(ok=False, error=f"timed out after {self._timeout:g} s")
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, TargetRefused):
                return _Attempt(ok=False, error=str(exc.os_error), refused=True)
            return _Attempt(ok=False, error=_describe(exc))
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return _Attempt(ok=False, error=_describe(exc))

    async def _post_lean(
        self,
        poster: KeepAlivePoster,
        target: CallbackTarget,
        url: str,
        headers: dict[str, str],
        body: bytes,
    ) -> _Attempt:
        """The same POST on the keep-alive client, its errors told the same way."""
        try:
            status = await poster.post(
                target, list(headers.items()), body, url, budget=self._timeout
            )
        except TimeoutError:
            return _Attempt(ok=False, error=f"timed out after {self._timeout:g} s")
        except TargetRefused as exc:
            return _Attempt(ok=False, error=str(exc), refused=True)
        except (OSError, ValueError) as exc:
            return _Attempt(ok=False, error=_describe(exc))
        if 200 <= status < 300:
            return _Attempt(ok=True)
        return _Attempt(ok=False, error=f"HTTP {status}")

    def _deadline(self, job: CallbackJob) -> datetime:
        return job.event_at + self._retry_period

    async def _retry(self, job: CallbackJob, error: str, now: datetime) -> CallbackOutcome:
        """Reschedule after the back-off, or give up once the retry period has passed."""
        deadline = self._deadline(job)
        if now >= deadline:
            return await self._give_up(job, f"retry period passed; last error: {error}", now)
        delay = timedelta(seconds=backoff_delay(job.attempts, self._base, self._cap, self._rng))
        next_at = min(now + delay, deadline)  # one last try when the period ends
        await self._outbox.reschedule_callback(job.id, next_at, error[:_MAX_ERROR], now)
        log.info("callback_retry", callback_id=job.id, message_id=job.message_id,
                 attempt=job.attempts, error=error, next_at=next_at.isoformat())  # fmt: skip
        return CallbackOutcome.RETRY

    async def _defer(
        self, job: CallbackJob, host: str, not_before: datetime, now: datetime
    ) -> CallbackOutcome:
        """The host is suspended: no request; the job waits for the end of the cool-down."""
        if not_before >= self._deadline(job):
            return await self._give_up(job, f"retry period passed; {host} suspended", now)
        spread = timedelta(seconds=self._rng.uniform(0.0, min(self._cap, 60.0)))
        next_at = min(not_before + spread, self._deadline(job))
        await self._outbox.reschedule_callback(job.id, next_at, f"{host} suspended", now)
        return CallbackOutcome.DEFERRED

    async def _give_up(self, job: CallbackJob, error: str, now: datetime) -> CallbackOutcome:
        await self._outbox.give_up_callback(job.id, error[:_MAX_ERROR], now)
        log.warning("callback_given_up", callback_id=job.id, message_id=job.message_id,
                    attempt=job.attempts, error=error)  # fmt: skip
        return CallbackOutcome.GIVEN_UP


@dataclass(frozen=True, slots=True)
class _Origin:
    """A judged callback origin: where to connect, and its `host:port` for the breaker."""

    target: CallbackTarget
    host: str


def _origin_of(url: str) -> str:
    """`scheme://authority` of `url` as `urllib.parse.urlsplit` reads it (the authority ends
    at the first "/", "?" or "#"); "" when `url` has no "://"."""
    start = url.find("://")
    if start < 0:
        return ""
    end = len(url)
    for mark in "/?#":
        at = url.find(mark, start + 3, end)
        if at >= 0:
            end = at
    return url[:end]


def _plain(url: str) -> bool:
    """No whitespace nor control character anywhere (what the URL check refuses); a URL
    with some other unprintable character is not plain either and gets the full check."""
    return url.isprintable() and " " not in url


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _check_settings(timeout: float, base: float, cap: float, tuning: CallbackTuning) -> None:
    """Refuse settings that would make the loop misbehave (naming the setting)."""
    if timeout <= 0:
        raise ValueError("timeout must be > 0")
    if not 0 < base <= cap:
        raise ValueError("backoff_base must be > 0 and <= backoff_max")
    if tuning.max_in_flight < 1 or tuning.batch_size < 1:
        raise ValueError("max_in_flight and batch_size must be >= 1")
    if tuning.lease <= timeout:
        raise ValueError("lease must be longer than the timeout, or a slow POST is sent twice")
    if tuning.poll_interval <= 0:
        raise ValueError("poll_interval must be > 0")
