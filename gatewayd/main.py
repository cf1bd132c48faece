"""Composition root: settings → store → recovery → HTTP → workers → binds; and the way back.

`run(settings)` is `gatewayd run`: it builds a `Daemon`, reports READY=1 once the API listens
and the workers run (binds come up in the background: an SMSC outage must not fail the unit),
waits for SIGTERM/SIGINT (or the `shutdown_trigger` tests hand in), then stops in the order
that keeps every message accounted for:

    STOPPING=1 → intake closed (HTTP stops; under `gatewayd run` that is the API's own
    process, gatewayd.intake_process) → dispatchers stop claiming → windows drain for up
    to [shutdown] drain_timeout → binds unbind (unbind_timeout) → what is still unanswered
    stays SUBMITTING and is "in doubt" at the next start → workers stop → Daraja client closed
    → store closed → 0.

Top-ups: the use-cases are always built (offline top-ups need no M-Pesa); the Daraja client,
M-Pesa top-ups and the route Daraja calls back on (the path of `[mpesa] callback_url`, behind
whatever terminates TLS) exist only when `[mpesa]` is configured: without Daraja to confirm a
payment, a callback must not be taken at all. A timer settles M-Pesa top-ups whose callback
never came. `[mpesa]` is read at start; SIGHUP does not change it.

Opt-outs: one `OptOuts` over the store serves both sides: the messaging service refuses
promotional sends to a number that opted out of the sender ID ("Opted out", nothing charged),
and each SMSC's deliver_sm handler hands it every stored MO, so STOP/ONDOKA/TOKA/START sent to
a short code take effect before the SMSC gets its ack.

SIGHUP reloads the prefix table (the reference is swapped: sends in progress finish with the
old one), the `[auth]` signing keys (rotation: tokens of a removed key get 401) and the
`[[smsc]]` tables: binds whose settings did not change stay up, changed or
removed ones are drained and stopped (what they leave unanswered is queued again at once,
counted in doubt: there is no next start to find it), new ones started.

`demo` and `sim` live in `gatewayd.demo`; they are re-exported here for the command line.

Event loop: `gatewayd run` from the command line runs on uvloop when it is importable (a
runtime dependency): the daemon is event-loop bound and uvloop's transports and scheduling cost
a fraction of asyncio's. `GATEWAYD_EVENT_LOOP=asyncio` keeps the standard loop (`uvloop` insists
on it, `auto` is the default). A `run` awaited inside a running loop (tests, the demo) uses that
loop as it is.

Garbage collection: `gatewayd run` from the command line freezes what start-up built (modules,
settings, the app: never garbage) out of the collector's reach and makes its young generation
larger (`settle_gc`). With the defaults the collector ran some 240 times in a 5,000-message
bench run and walked the whole heap twice, about 0.3 s of the event loop's CPU (~60 µs per
message); frozen and with 10,000 young objects per collection, 4 times and 0.03 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, generate_latest

from config.loader import default_config_path, load_settings
from config.settings import HttpSettings, MpesaSettings, Settings, ShutdownSettings, SmscSettings
from gatewayd import __version__
from gatewayd.adapters.daraja import DarajaClient, DarajaConfig
from gatewayd.callback_process import (
    CallbackProcess,
    build_sender,
    callback_policy,
    wants_process,
)
from gatewayd.intake_process import IntakeProcess, listening_socket, wants_intake_process
from gatewayd.lifecycle import Lifecycle, SdNotifier, choose_event_loop, settle_gc
from gatewayd.links import SmscLink, start_link
from gatewayd.logs import get_logger
from gatewayd.metrics import DaemonMetrics
from gatewayd.service.auth import AuthService, SigningKeys
from gatewayd.service.messaging import MessagingService
from gatewayd.service.model import Accepted, InDoubtPolicy, ReceiptResult, RefundPolicy, SenderType
from gatewayd.service.optouts import KeywordScope, OptOuts
from gatewayd.service.ports import Store
from gatewayd.service.topups import DEFAULT_EXPIRY, TopUps
from gatewayd.store import open_store
from gatewayd.workers.callbacks import CallbackSender
from gatewayd.workers.dispatcher import Dispatcher, SmscProfile
from gatewayd.workers.receipts import ReceiptSource
from gatewayd.workers.sweeper import TOPUP_SWEEP_PERIOD, Sweeper, TopUpSweeper
from http_api import ApiDeps, ApiSettings, BindState, Readiness, create_app
from http_api.server import DEFAULT_BACKLOG, ApiServer, start_server, url_of
from http_api.topup_access import AccountTopUps
from routing import PrefixTable, PrefixTableHolder
from smpp.aio import BindMode, PoolConfig
from smpp.core.msgid import MessageIdFormat
from smpp.core.status import StatusClass
from smpp.core.text import LongMessageMethod

log = get_logger("gatewayd.main")

ShutdownTrigger = Callable[[], Awaitable[object]]
SAMPLE_PERIOD = 1.0  # seconds between queue-depth / bind gauges refreshes
SENDER_CACHE_TTL = 1.0  # seconds a send reuses a sender ID lookup (a suspension applies after)
HTTP_STOP_BUDGET = 3.0  # seconds requests in progress get to finish once intake stops
INTAKE_START_TIMEOUT = 30.0  # seconds the API's own process may take to serve
IDLE_GRACE = 1.0  # seconds, once the binds are down, to store the answers already in
STOP_MARGIN = 0.5  # seconds for what follows: workers, Daraja client, store
RELOAD_REQUEUE_SLACK = timedelta(days=1)  # "changed before": every message, however recent


def version() -> str:
    """The running version, for `gatewayd --version` and the logs."""
    return __version__


def utc_now() -> datetime:
    return datetime.now(UTC)


# -- building -------------------------------------------------------------------------------


def load_prefixes(settings: Settings) -> PrefixTable:
    """The prefix table named by [routing] prefixes_file."""
    return PrefixTable.from_toml(settings.routing.prefixes_file.read_text(encoding="utf-8"))


def signing_keys(settings: Settings) -> SigningKeys:
    """[auth] signing keys; without any, a random key for this run only (tokens die with it)."""
    kid = settings.auth.current_kid
    if kid is None:
        log.warning("auth_ephemeral_key", reason="no [auth] signing_keys: tokens end at restart")
        return SigningKeys("ephemeral", {"ephemeral": secrets.token_bytes(32)})
    return SigningKeys(kid, settings.auth.verification_keys())


def daraja_config(mpesa: MpesaSettings) -> DarajaConfig:
    """The Daraja adapter's configuration from `[mpesa]` (the daemon and `admin topup`)."""
    return DarajaConfig(
        consumer_key=mpesa.consumer_key,
        consumer_secret=mpesa.consumer_secret.get_secret_value(),
        shortcode=mpesa.shortcode,
        passkey=mpesa.passkey.get_secret_value(),
        callback_url=mpesa.callback_url,
        base_url=mpesa.base_url,
    )


def topup_expiry(settings: Settings) -> timedelta:
    """How long an M-Pesa top-up waits for its callback: `[mpesa] stk_timeout`."""
    if settings.mpesa is None:
        return DEFAULT_EXPIRY
    return timedelta(seconds=settings.mpesa.stk_timeout)


def topup_sweep_period(settings: Settings) -> float:
    """Seconds between expiry passes: every 30 s, or every stk_timeout when that is shorter
    (an overdue top-up is then settled within twice its timeout)."""
    return min(TOPUP_SWEEP_PERIOD, topup_expiry(settings).total_seconds())


def mpesa_callback_path(settings: Settings) -> str | None:
    """The path of `[mpesa] callback_url`, which Daraja POSTs to; None without `[mpesa]`."""
    if settings.mpesa is None:
        return None
    return urlsplit(settings.mpesa.callback_url).path or "/"


def long_method_for(smscs: Sequence[SmscSettings]) -> LongMessageMethod:
    """The method parts are counted with at accept time: the SMSCs' own when they agree on a
    UDH or SAR method, else 8-bit UDH (the dispatcher falls back to it when counts differ)."""
    methods = {s.long_message for s in smscs if s.enabled} - {"payload"}
    return LongMessageMethod(methods.pop()) if len(methods) == 1 else LongMessageMethod.UDH8


def link_parts(
    smsc: SmscSettings, unbind_timeout: float = 5.0
) -> tuple[PoolConfig, SmscProfile, ReceiptSource]:
    """One [[smsc]] table as the pool's, the dispatcher's and the receipt handler's values."""
    id_format = MessageIdFormat(smsc.id_format)
    config = PoolConfig(
        name=smsc.name,
        host=smsc.host,
        port=smsc.port,
        system_id=smsc.system_id,
        password=smsc.password.get_secret_value(),
        system_type=smsc.system_type,
        bind_mode=BindMode(smsc.bind_mode),
        binds=smsc.binds,
        window=smsc.window,
        tps=smsc.tps,
        id_format=id_format,
        enquire_link_interval=smsc.enquire_link_interval,
        response_timeout=smsc.response_timeout,
        bind_timeout=smsc.bind_timeout,
        unbind_timeout=unbind_timeout,
        reconnect_min=smsc.reconnect_min,
        reconnect_max=smsc.reconnect_max,
        addr_ton=smsc.addr_ton,
        addr_npi=smsc.addr_npi,
        address_range=smsc.address_range,
        max_pdu_size=smsc.max_pdu_size,
        max_unanswered_resends=smsc.max_unanswered_resends,
        lenient_receipts=smsc.lenient_receipts,
        status_overrides=MappingProxyType(
            {code: StatusClass(name) for code, name in smsc.status_overrides.items()}
        ),
    )
    profile = SmscProfile(
        name=smsc.name,
        operator=smsc.operator,
        id_format=id_format,
        long_message=LongMessageMethod(smsc.long_message),
        ton_npi={kind: smsc.source_ton_npi(kind.value) for kind in SenderType},
        dest_ton=smsc.dest_ton,
        dest_npi=smsc.dest_npi,
        registered_delivery=smsc.registered_delivery,
    )
    return config, profile, ReceiptSource(smsc.name, smsc.operator, id_format)


def rotate_keys(auth: AuthService, fresh: Settings) -> SigningKeys | None:
    """Key rotation on a reload, in the daemon and in the API's process alike: the configured
    keys replace the running ones (tokens of a removed key are refused from now on), and are
    returned. A file with no keys keeps the running ones (None): a fresh random key would end
    every token issued so far."""
    if fresh.auth.current_kid is None:
        return None
    keys = signing_keys(fresh)
    auth.replace_keys(keys)
    return keys


def api_settings(http: HttpSettings) -> ApiSettings:
    """The HTTP API's tunables from [http]."""
    return ApiSettings(
        rate_limit_per_minute=http.rate_limit_per_minute,
        max_body_bytes=http.max_body_bytes,
        max_queue_depth=http.max_queue_depth,
        busy_retry_after=http.busy_retry_after,
        bulk_max_messages=http.bulk_max_messages,
        bulk_max_body_bytes=http.bulk_max_body_bytes,
    )


class ServedOperators:
    """Operators with an [[smsc]] table (enabled or not) in the running configuration, worked
    out once per configuration (it is asked per recipient)."""

    def __init__(self, settings: Callable[[], Settings]) -> None:
        self._settings = settings
        self._memo: tuple[object, frozenset[str]] = (None, frozenset())

    def __call__(self) -> frozenset[str]:
        tables = self._settings().smsc
        if self._memo[0] is not tables:
            self._memo = (tables, frozenset(smsc.operator for smsc in tables))
        return self._memo[1]


def messaging_service(
    settings: Settings,
    store: Store,
    prefixes: PrefixTableHolder,
    opt_outs: OptOuts,
    on_accepted: Callable[[Accepted], None],
    served: Callable[[], frozenset[str]],
) -> MessagingService:
    """The send use-cases as the API runs them (in the daemon or in its own process)."""
    return MessagingService(
        store=store,
        prefixes=prefixes,
        callback_policy=callback_policy(settings),
        long_method=long_method_for(settings.smsc),
        on_accepted=on_accepted,  # the light Accepted: no full Message built per send
        sender_cache_ttl=SENDER_CACHE_TTL,
        opt_outs=opt_outs,
        served=served,
    )


def opt_outs_for(settings: Settings, store: Store) -> OptOuts:
    optouts = settings.optouts
    return OptOuts.with_words(
        store, optouts.stop_words, optouts.start_words, KeywordScope(optouts.scope)
    )


def auth_service(settings: Settings, store: Store) -> AuthService:
    return AuthService(
        store=store,
        keys=signing_keys(settings),
        token_ttl=settings.auth.token_ttl,
        offload=asyncio.to_thread,
    )


def api_deps(
    settings: Settings,
    store: Store,
    messaging: MessagingService,
    auth: AuthService,
    topups: TopUps,
    *,
    readiness: Callable[[], Awaitable[Readiness]],
    registry: CollectorRegistry,
    queue_depth: Callable[[], int],
    clock: Callable[[], datetime],
    more_metrics: Callable[[], Awaitable[bytes]] | None = None,
) -> ApiDeps:
    """What the HTTP API is built from, in the daemon or in its own process."""
    return ApiDeps(
        messaging=messaging,
        auth=auth,
        idempotency=store,
        readiness=readiness,
        registry=registry,
        settings=api_settings(settings.http),
        queue_depth=queue_depth,
        clock=clock,
        topups=AccountTopUps(topups, store),
        mpesa_callback_path=mpesa_callback_path(settings),
        more_metrics=more_metrics,
    )


def topups_for(settings: Settings, store: Store) -> tuple[TopUps, DarajaClient | None]:
    """The top-up use-cases; M-Pesa through Daraja only when [mpesa] is configured."""
    mpesa = settings.mpesa
    daraja = DarajaClient(daraja_config(mpesa)) if mpesa is not None else None
    return TopUps(store, daraja, expiry=topup_expiry(settings)), daraja


@dataclass
class Daemon:
    """Everything one run of the daemon holds; `start()` then `stop()`."""

    settings: Settings
    config_path: Path | None = None
    clock: Callable[[], datetime] = utc_now
    callback_process: bool = False  # the callback sender in a process of its own
    intake_process: bool = False  # the HTTP API in a process of its own
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    store: Store | None = None
    server: ApiServer | None = None
    links: dict[str, SmscLink] = field(default_factory=dict)
    in_doubt: int = 0
    accepting: bool = False
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _queue_depth: int = 0

    def __post_init__(self) -> None:
        self.metrics = DaemonMetrics(self.registry)
        self.prefixes = PrefixTableHolder(load_prefixes(self.settings))
        self.sweeper: Sweeper | None = None
        self.callbacks: CallbackSender | CallbackProcess | None = None
        self.daraja: DarajaClient | None = None
        self.topups: TopUps | None = None
        self.topup_sweeper: TopUpSweeper | None = None
        self.opt_outs: OptOuts | None = None  # STOP/START: refused promotional sends, MO
        self.auth: AuthService | None = None  # its signing keys follow SIGHUP
        self.intake: IntakeProcess | None = None
        self._listener: socket.socket | None = None
        self._served_operators = ServedOperators(lambda: self.settings)

    # -- start ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Store → recovery → HTTP → workers; binds connect in the background."""
        self.store = await self._open_store()
        await self._recover(self.store)
        self.opt_outs = opt_outs_for(self.settings, self.store)
        self.topups = self._topups(self.store)
        self.accepting = True
        if self.intake_process:
            host, port = await self._start_intake()
        else:
            self.server = await self._serve(self.store, self._messaging(self.store), self.topups)
            host, port = self.server.host, self.server.port
        log.info("http_listening", url=url_of(host, port), host=host, port=port)
        self._start_workers(self.store)
        for smsc in self.settings.smsc:
            if smsc.enabled:
                await self._start_link(smsc)

    async def _open_store(self) -> Store:
        url = self.settings.store_url
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///") :].split("?", 1)[0]).parent.mkdir(
                parents=True, exist_ok=True
            )
        store = await open_store(url, refund_policy=RefundPolicy(self.settings.store.refund_policy))
        applied = await store.migrate()
        log.info("store_open", backend=url.partition(":")[0], migrations_applied=applied)
        return store

    async def _recover(self, store: Store) -> None:
        policy = InDoubtPolicy(self.settings.store.in_doubt_policy)
        found = await store.recover_in_doubt(self.clock(), policy)
        self.in_doubt = len(found)
        if found:
            self.metrics.in_doubt.labels(policy.value).inc(len(found))
        for message in found:
            log.warning(
                "message_in_doubt",
                message_id=message.id,
                policy=policy.value,
                in_doubt=message.in_doubt,
                status=message.status.value,
            )
        log.info("recovery_done", in_doubt=len(found), policy=policy.value)

    def _messaging(self, store: Store) -> MessagingService:
        assert self.opt_outs is not None
        return messaging_service(
            self.settings, store, self.prefixes, self.opt_outs, self._kick,
            self._served_operators,
        )  # fmt: skip

    def _topups(self, store: Store) -> TopUps:
        topups, self.daraja = topups_for(self.settings, store)
        mpesa = self.settings.mpesa
        if mpesa is not None:
            log.info("mpesa_configured", base_url=mpesa.base_url, shortcode=mpesa.shortcode,
                     callback_path=mpesa_callback_path(self.settings))  # fmt: skip
        return topups

    async def _serve(self, store: Store, messaging: MessagingService, topups: TopUps) -> ApiServer:
        http = self.settings.http
        auth = self.auth = auth_service(self.settings, store)
        deps = api_deps(
            self.settings, store, messaging, auth, topups, readiness=self._readiness,
            registry=self.registry, queue_depth=lambda: self._queue_depth, clock=self.clock,
        )  # fmt: skip
        return await start_server(
            create_app(deps), http.host, http.port, shutdown_timeout=HTTP_STOP_BUDGET
        )

    async def _start_intake(self) -> tuple[str, int]:
        """The API in a process of its own (gatewayd.intake_process), on a socket opened
        here; returns once it serves."""
        http = self.settings.http
        self._listener = listening_socket(http.host, http.port, DEFAULT_BACKLOG)
        host, port = self._listener.getsockname()[:2]
        self.intake = IntakeProcess(
            self.settings, self._listener, budget=HTTP_STOP_BUDGET, readiness=self._readiness,
            metrics=lambda: generate_latest(self.registry), on_accepted=self._kick_operator,
        )  # fmt: skip
        running = asyncio.get_running_loop().create_task(self.intake.run(), name="intake")
        self._tasks.append(running)
        ready = asyncio.ensure_future(self.intake.ready.wait())
        await asyncio.wait(
            {ready, running}, timeout=INTAKE_START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        if not ready.done():
            ready.cancel()
            raise RuntimeError(f"the API process did not start in {INTAKE_START_TIMEOUT} s")
        return str(host), int(port)

    async def _start_link(self, smsc: SmscSettings) -> None:
        assert self.store is not None
        config, profile, source = link_parts(smsc, self.settings.shutdown.unbind_timeout)
        self.links[smsc.name] = await start_link(
            smsc, config, profile, source, self.store, self.metrics, self.clock,
            on_change=self._message_moved, keywords=self.opt_outs,
        )  # fmt: skip

    def _start_workers(self, store: Store) -> None:
        loop = asyncio.get_running_loop()
        expiry = self.settings.store.queue_expiry
        self.sweeper = Sweeper(
            store, self.clock, dispatchers=self._dispatchers, metrics=self.metrics,
            queue_expiry=timedelta(seconds=expiry) if expiry > 0 else None,
        )  # fmt: skip
        self._tasks.append(loop.create_task(self.sweeper.run(), name="sweeper"))
        self._tasks.append(loop.create_task(self._sample(), name="sampler"))
        if self.callback_process:  # see gatewayd.callback_process
            self.callbacks = CallbackProcess(self.settings, self.metrics)
        else:
            self.callbacks = build_sender(self.settings, store, self.clock, metrics=self.metrics)
        self._tasks.append(loop.create_task(self.callbacks.run(), name="callbacks"))
        if self.topups is not None:
            self.topup_sweeper = TopUpSweeper(
                self.topups, self.clock, period=topup_sweep_period(self.settings)
            )
            self._tasks.append(loop.create_task(self.topup_sweeper.run(), name="topup_sweeper"))

    def _dispatchers(self) -> dict[str, Dispatcher]:
        """The running SMSCs' dispatchers by name, for the sweeper's orphan pass."""
        return {name: link.dispatcher for name, link in self.links.items()}

    def _message_moved(self, receipt: ReceiptResult) -> None:
        """A receipt moved a message: its callback may be due now."""
        if receipt.callback_url and self.callbacks is not None:
            self.callbacks.wake()

    def _kick(self, message: Accepted) -> None:
        self._kick_operator(message.operator)

    def _kick_operator(self, operator: str) -> None:
        """Messages were accepted for `operator`: its dispatchers look at the queue now."""
        for link in self.links.values():
            if link.operator == operator:
                link.dispatcher.kick()

    # -- observing --------------------------------------------------------------------------

    async def _readiness(self) -> Readiness:
        store_ok = True
        try:
            assert self.store is not None
            await self.store.ping()
        except Exception:
            store_ok = False
        binds = [
            BindState(bind_id, link.operator, state)
            for link in self.links.values()
            for bind_id, state in link.bind_states().items()
        ]
        return Readiness(store_ok=store_ok, binds=binds, accepting=self.accepting)

    def status_line(self) -> str:
        """For STATUS=: binds up per SMSC and the queue."""
        parts = [
            f"{name} {link.bound_count()}/{link.bind_total()}" for name, link in self.links.items()
        ]
        binds = ", ".join(parts) if parts else "no SMSC configured"
        return f"binds: {binds}; queued: {self._queue_depth}"

    async def _sample(self) -> None:
        """Refresh the gauges (and the API's cheap queue-depth reading) every second."""
        assert self.store is not None
        while True:
            try:
                for operator in sorted({s.operator for s in self.settings.smsc}):
                    depth = await self.store.queue_depth(operator)
                    self.metrics.queue_depth.labels(operator).set(depth)
                self._queue_depth = await self.store.queue_depth()
                if self.intake is not None:
                    self.intake.queue_depth(self._queue_depth)
                self.metrics.callback_backlog.set(await self.store.callback_backlog())
                for link in self.links.values():
                    link.sample(self.metrics)
            except Exception:
                log.exception("sample_failed")
            await asyncio.sleep(SAMPLE_PERIOD)

    # -- reload -----------------------------------------------------------------------------

    async def reload(self) -> None:
        """SIGHUP: the prefix table, the [auth] signing keys and the [[smsc]] tables from the
        config file again."""
        path = self.config_path or default_config_path()
        fresh = load_settings(path) if path is not None else self.settings
        table = load_prefixes(fresh)
        self.prefixes.replace(table)
        log.info("prefixes_reloaded", version=table.version, prefixes=len(table))
        self._reload_keys(fresh)
        # The new tables decide at once which networks are served (a send to one whose table
        # went away is refused, not queued), also while the old links drain below.
        self.settings = fresh
        if self.intake is not None:
            self.intake.reload(fresh)
        await self._reload_links(fresh.smsc)

    def _reload_keys(self, fresh: Settings) -> None:
        if self.auth is None:
            return
        keys = rotate_keys(self.auth, fresh)
        if keys is None:
            log.warning("auth_keys_kept", reason="no [auth] signing_keys in the reloaded file")
            return
        log.info("auth_keys_reloaded", active_kid=keys.signing_kid, kids=sorted(keys.keys))

    async def _reload_links(self, wanted: Sequence[SmscSettings]) -> None:
        by_name = {s.name: s for s in wanted if s.enabled}
        for name, link in list(self.links.items()):
            if by_name.get(name) != link.key:
                log.info("smsc_reload_stop", smsc=name)
                await link.stop(
                    self.settings.shutdown.drain_timeout, self.settings.shutdown.unbind_timeout
                )
                del self.links[name]
                await self._requeue_left_on(name)
        for name, smsc in by_name.items():
            if name not in self.links:
                log.info("smsc_reload_start", smsc=name)
                await self._start_link(smsc)
            else:
                log.info("smsc_unchanged", smsc=name)

    async def _requeue_left_on(self, smsc: str) -> None:
        """After a reload stopped an SMSC's link: what it left SUBMITTING (written, never
        answered) would wait for a next start that may be weeks away, so it is queued again
        now, counted in doubt. Before the new link of that name starts, which could claim."""
        assert self.store is not None
        now = self.clock()
        left = await self.store.submitting_on(smsc, now + RELOAD_REQUEUE_SLACK)
        for message_id in left:
            await self.store.requeue(message_id, now, in_doubt=True)
            log.warning("message_in_doubt", message_id=message_id, smsc=smsc, reason="reload")
        if left:
            self.metrics.in_doubt.labels("resend").inc(len(left))

    # -- stop -------------------------------------------------------------------------------

    async def stop(self, force: asyncio.Event | None = None) -> None:
        """Intake → dispatching → drain → unbind → workers → store, within `stop_budget`:
        the callbacks stop beside the links, and the links as a whole get drain_timeout +
        unbind_timeout + IDLE_GRACE. `force` (a second SIGTERM) cuts the drain and unbind
        short; either cut leaves what is in flight SUBMITTING, in doubt at the next start."""
        budget = self.settings.shutdown
        self.accepting = False
        if self.server is not None:
            await self.server.stop()
            log.info("http_stopped")
        if self.intake is not None:
            await self.intake.stop(HTTP_STOP_BUDGET)
            log.info("http_stopped")
        if self._listener is not None:
            self._listener.close()
        for link in self.links.values():
            link.dispatcher.stop_claiming()
        if self.sweeper is not None:
            self.sweeper.stop()
        if self.topup_sweeper is not None:
            self.topup_sweeper.stop()
        links = asyncio.gather(
            *(
                link.stop(budget.drain_timeout, budget.unbind_timeout)
                for link in self.links.values()
            ),
            *([self.callbacks.stop(budget.unbind_timeout)] if self.callbacks is not None else []),
        )
        deadline = budget.drain_timeout + budget.unbind_timeout + IDLE_GRACE
        if await _unless_forced(links, force, deadline):
            for link in self.links.values():  # unanswered: they stay SUBMITTING, in doubt
                await link.dispatcher.cancel_in_flight()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.daraja is not None:
            await self.daraja.close()
        if self.store is not None:
            await self.store.close()
            log.info("store_closed")


async def _unless_forced(
    work: asyncio.Future[Any], force: asyncio.Event | None, deadline: float | None = None
) -> bool:
    """Await `work`, or cancel it when `force` is set or `deadline` seconds pass first (then
    True)."""
    forced: asyncio.Future[Any] = asyncio.ensure_future(
        force.wait() if force is not None else asyncio.Event().wait()
    )
    try:
        await asyncio.wait({work, forced}, timeout=deadline, return_when=asyncio.FIRST_COMPLETED)
    finally:
        by_force = forced.done()
        forced.cancel()
    cut = not work.done()
    if cut:
        reason = "second stop signal" if by_force else "stop budget spent"
        log.warning("drain_cut_short", reason=reason)
        work.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await work
    return cut


# -- entry points ---------------------------------------------------------------------------


def run(
    settings: Settings,
    *,
    shutdown_trigger: ShutdownTrigger | None = None,
    config_path: Path | None = None,
    started: Callable[[Daemon], Awaitable[None] | None] | None = None,
) -> Coroutine[Any, Any, int]:
    """`gatewayd run`: serve until SIGTERM/SIGINT (or `shutdown_trigger()` returns); 0 on a
    clean stop. `started` is told of the running daemon (tests read its address).

    Called with no loop running (the command line, which then runs the coroutine), it first
    picks the event loop (`choose_event_loop`) and, once started, settles the garbage
    collector (`settle_gc`): the process is the daemon's alone, unlike a test's."""
    own_process = False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        choose_event_loop()
        own_process = True
    return _run(
        settings,
        shutdown_trigger=shutdown_trigger,
        config_path=config_path,
        started=started,
        tune_gc=own_process,
        callback_process=wants_process(settings, own_process),
        intake_process=wants_intake_process(settings, own_process),
    )


async def _run(
    settings: Settings,
    *,
    shutdown_trigger: ShutdownTrigger | None,
    config_path: Path | None,
    started: Callable[[Daemon], Awaitable[None] | None] | None,
    tune_gc: bool = False,
    callback_process: bool = False,
    intake_process: bool = False,
) -> int:
    daemon = Daemon(
        settings, config_path=config_path, callback_process=callback_process,
        intake_process=intake_process,
    )  # fmt: skip
    install = shutdown_trigger is None
    holder: list[Lifecycle] = []

    async def reload() -> None:
        for life in holder:
            await reload_reporting(daemon, life.notifier)

    async with Lifecycle(on_reload=reload, install_signals=install) as life:
        holder.append(life)
        try:
            await daemon.start()
        except BaseException:
            await daemon.stop()
            raise
        if tune_gc:
            settle_gc()
        life.ready(daemon.status_line())
        log.info("ready", version=version(), in_doubt=daemon.in_doubt, loop=_loop_name())
        if started is not None:
            pending = started(daemon)
            if pending is not None:
                await pending
        status = asyncio.get_running_loop().create_task(_report_status(daemon, life))
        try:
            await (shutdown_trigger() if shutdown_trigger is not None else life.wait_for_shutdown())
        finally:
            status.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await status
            life.stopping("draining")
            life.notifier.extend_timeout(stop_budget(daemon.settings.shutdown))
            log.info("stopping")
            await daemon.stop(force=life.signals.force)
    log.info("stopped")
    return 0


async def reload_reporting(daemon: Daemon, notifier: SdNotifier) -> None:
    """SIGHUP under systemd: RELOADING=1, the reload, then READY=1 however it ended. systemd
    holds the unit "reloading" until READY=1 comes, so a bad config file must send it too,
    with the failure in STATUS=; the error is raised on for the signal handler to log."""
    notifier.reloading("reloading binds and prefixes")
    failure: str | None = None
    try:
        await daemon.reload()
    except Exception as exc:
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        failure = f"reload failed: {reason}"
        raise
    finally:
        status = daemon.status_line()
        notifier.ready(f"{failure}; {status}" if failure else status)


def stop_budget(shutdown: ShutdownSettings) -> float:
    """The longest a stop takes: requests in progress (HTTP_STOP_BUDGET), then the links
    (drain, unbind, IDLE_GRACE to store the last answers) with the callbacks stopping beside
    them, then the rest (STOP_MARGIN). 29.5 s with the defaults, under the unit's
    TimeoutStopSec=30; the daemon also asks systemd for it (EXTEND_TIMEOUT_USEC) when it
    starts to stop, so a configuration with longer timeouts is not killed midway."""
    return (
        HTTP_STOP_BUDGET + shutdown.drain_timeout + shutdown.unbind_timeout + IDLE_GRACE
        + STOP_MARGIN
    )  # fmt: skip


def _loop_name() -> str:
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


async def _report_status(daemon: Daemon, life: Lifecycle) -> None:
    """STATUS= whenever the bind summary changes (checked every second)."""
    last = ""
    while True:
        line = daemon.status_line()
        if line != last:
            life.status(line)
            last = line
        await asyncio.sleep(SAMPLE_PERIOD)


def demo(settings: Settings, *, state_dir: Path | None = None, port: int | None = None) -> Any:
    """`gatewayd demo`: see `gatewayd.demo`."""
    from gatewayd import demo as demo_module  # noqa: PLC0415 (only the demo needs the simulator)

    return demo_module.demo(settings, state_dir=state_dir, port=port)


def sim(settings: Settings) -> Any:
    """`gatewayd sim`: see `gatewayd.demo`."""
    from gatewayd import demo as demo_module  # noqa: PLC0415

    return demo_module.sim(settings)
