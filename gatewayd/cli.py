"""The `gatewayd` command: run | migrate | sim | demo | admin ….

    gatewayd [-c FILE] run          the daemon (systemd runs this); SIGHUP rereads FILE
    gatewayd [-c FILE] migrate      create or upgrade the store's schema
    gatewayd [-c FILE] sim          the SMSC simulator
    gatewayd demo                   simulated SMSCs + the daemon on loopback + a demo account
    gatewayd [-c FILE] admin …      accounts, API clients, sender IDs, floats, top-ups

Without -c the file is $GATEWAYD_CONFIG, else /etc/gatewayd/gatewayd.toml when it exists, else
the defaults (and the environment). Exit status: 0 done, 1 the request could not be done (not
found, no balance …), 2 usage error, 78 configuration error (the unit does not restart on it).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import importlib
import inspect
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from config.loader import ConfigError, default_config_path, load_settings
from config.settings import MpesaSettings, Settings
from gatewayd import __version__, logs
from gatewayd import store as store_backend
from gatewayd.adapters.daraja import DarajaClient
from gatewayd.admin import Admin, AdminError, kes, table, to_jsonable
from gatewayd.service.auth import hash_secret, new_client_credentials
from gatewayd.service.model import (
    CampaignType,
    RefundPolicy,
    SenderStatus,
    SenderType,
    TopUpStatus,
)
from gatewayd.service.ports import Store, StoreError
from gatewayd.service.topups import TopUps

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONFIG = 0, 1, 2, 78
StoreFactory = Callable[[Settings], Store | Awaitable[Store]]


@dataclass(frozen=True, slots=True)
class Output:
    """What an admin command shows: `data` for --json, `text` for people."""

    data: Any
    text: str


class Failed(Exception):
    """A command that could not run; the message goes to stderr."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def main(
    argv: Sequence[str] | None = None,
    *,
    store_factory: StoreFactory | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Parse the command line and run the command; returns the exit status."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    try:
        settings = _settings(args.config)
        return int(args.handler(args, settings, store_factory or open_store, out) or 0)
    except ConfigError as exc:
        print(f"gatewayd: {exc}", file=err)
        return EXIT_CONFIG
    except (Failed, AdminError, StoreError) as exc:
        print(f"gatewayd: {exc}", file=err)
        return getattr(exc, "code", EXIT_FAILED)


def _settings(path: Path | None) -> Settings:
    return load_settings(path if path is not None else default_config_path())


async def open_store(settings: Settings) -> Store:
    """The store named by [store] url, with the configured refund policy (not migrated)."""
    try:
        return await store_backend.open_store(
            settings.store_url, refund_policy=RefundPolicy(settings.store.refund_policy)
        )
    except Exception as exc:  # a bad path, an unreachable server: say which store and why
        raise Failed(f"cannot open the store {_safe_url(settings.store_url)}: {exc}") from None


# -- the daemon commands ------------------------------------------------------------------------


def _entry(name: str) -> Callable[..., Any]:
    """`gatewayd.main.<name>`, imported when the command runs."""
    function = getattr(importlib.import_module("gatewayd.main"), name, None)
    if function is None:
        raise Failed(f"`gatewayd {name}` is not available in this build")
    return function  # type: ignore[no-any-return]


def _call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    result = function(*args, **kwargs)
    if inspect.isawaitable(result):
        result = asyncio.run(_awaited(result))
    return int(result or 0)


async def _awaited(value: Awaitable[Any]) -> Any:
    return await value


def cmd_run(args: argparse.Namespace, settings: Settings, _f: StoreFactory, _o: TextIO) -> int:
    logs.configure(settings.log.level, settings.log.format)
    _warn_if_world_readable(args.config or default_config_path())
    # SIGHUP rereads the file given with -c (without one, the default path again)
    return _call(_entry("run"), settings, config_path=args.config)


def _warn_if_world_readable(path: Path | None) -> None:
    """The file holds secrets: say so when anyone on the host can read it."""
    try:
        mode = path.stat().st_mode if path is not None else 0
    except OSError:
        return
    if mode & 0o004:
        logs.get_logger("gatewayd.cli").warning(
            "config_world_readable", path=str(path), mode=oct(mode & 0o777),
            advice="chmod 0640 and chown root:gatewayd",
        )  # fmt: skip


def cmd_demo(args: argparse.Namespace, settings: Settings, _f: StoreFactory, _o: TextIO) -> int:
    logs.configure(settings.log.level, settings.log.format)
    return _call(_entry("demo"), settings, state_dir=args.state_dir, port=args.port)


def cmd_sim(args: argparse.Namespace, settings: Settings, _f: StoreFactory, _o: TextIO) -> int:
    if args.seed is not None:
        sim = settings.sim.model_copy(update={"seed": args.seed})
        settings = settings.model_copy(update={"sim": sim})
    logs.configure(settings.log.level, settings.log.format)
    return _call(_entry("sim"), settings)


def cmd_migrate(
    args: argparse.Namespace, settings: Settings, factory: StoreFactory, out: TextIO
) -> int:
    async def migrate() -> int:
        store = await _opened(factory, settings)
        try:
            return await store.migrate()
        finally:
            await store.close()

    applied = asyncio.run(migrate())
    print(f"{applied} migration(s) applied to {_safe_url(settings.store_url)}", file=out)
    return EXIT_OK


async def _opened(factory: StoreFactory, settings: Settings) -> Store:
    store = factory(settings)
    return await store if inspect.isawaitable(store) else store


def _safe_url(url: str) -> str:
    """The URL without a password, for messages."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:***@{host}"


# -- admin --------------------------------------------------------------------------------------

AdminHandler = Callable[[Admin, argparse.Namespace], Awaitable[Output]]


def cmd_admin(
    args: argparse.Namespace, settings: Settings, factory: StoreFactory, out: TextIO
) -> int:
    logs.configure("warning", settings.log.format, logs.STDERR)
    output = asyncio.run(_admin(args, settings, factory))
    if args.json:
        print(json.dumps(to_jsonable(output.data), indent=2, ensure_ascii=False), file=out)
    else:
        print(output.text, file=out)
    return EXIT_OK


async def _admin(args: argparse.Namespace, settings: Settings, factory: StoreFactory) -> Output:
    # The daemon builds Daraja and the top-up expiry from [mpesa] the same way.
    from gatewayd.main import daraja_config, topup_expiry  # noqa: PLC0415 (only admin needs it)

    store = await _opened(factory, settings)
    daraja: DarajaClient | None = None
    try:
        await store.migrate()
        if getattr(args, "needs_daraja", False):
            daraja = DarajaClient(daraja_config(_mpesa(settings, args)))
        hash_secret, new_credentials = _credential_tools()
        admin = Admin(
            store,
            actor=args.actor,
            hash_secret=hash_secret,
            new_credentials=new_credentials,
            topups=TopUps(store, daraja, expiry=topup_expiry(settings)),
        )
        handler: AdminHandler = args.admin_handler
        return await handler(admin, args)
    finally:
        if daraja is not None:
            await daraja.close()
        await store.close()


def _mpesa(settings: Settings, args: argparse.Namespace) -> MpesaSettings:
    if settings.mpesa is None:
        raise Failed(
            f"`admin topup {args.action}` asks Daraja about M-Pesa top-ups: configure [mpesa]"
        )
    return settings.mpesa


def _credential_tools() -> tuple[Callable[[str], str], Callable[[], tuple[str, str]]]:
    """How client secrets are made and hashed (the HTTP API verifies with the same module)."""
    return hash_secret, new_client_credentials


def _default_actor() -> str:
    return os.environ.get("SUDO_USER") or getpass.getuser()


async def account_create(admin: Admin, args: argparse.Namespace) -> Output:
    account = await admin.create_account(args.name)
    return Output(account, f"account {account.name} created: id {account.id}")


async def account_list(admin: Admin, args: argparse.Namespace) -> Output:
    accounts = await admin.list_accounts()
    rows = [(a.id, a.name, a.callback_on_sent, a.created_at) for a in accounts]
    return Output(list(accounts), table(("ID", "NAME", "CALLBACK_ON_SENT", "CREATED"), rows))


async def account_set(admin: Admin, args: argparse.Namespace) -> Output:
    if args.callback_on_sent is None:
        raise Failed("nothing to set: give --callback-on-sent on|off", EXIT_USAGE)
    account = await admin.set_callback_on_sent(args.account, args.callback_on_sent == "on")
    state = "on" if account.callback_on_sent else "off"
    return Output(account, f"account {account.name}: callback_on_sent {state}")


async def client_create(admin: Admin, args: argparse.Namespace) -> Output:
    created = await admin.create_client(args.account)
    data = {**to_jsonable(created.client), "client_secret": created.client_secret}
    text = (
        f"client_id:     {created.client.client_id}\n"
        f"client_secret: {created.client_secret}\n"
        "Keep the secret now: it is stored only as a hash and cannot be shown again."
    )
    return Output(data, text)


async def client_list(admin: Admin, args: argparse.Namespace) -> Output:
    clients = await admin.list_clients(args.account)
    rows = [(c.client_id, c.active, c.created_at) for c in clients]
    return Output(list(clients), table(("CLIENT_ID", "ACTIVE", "CREATED"), rows))


async def sender_create(admin: Admin, args: argparse.Namespace) -> Output:
    sender = await admin.create_sender(
        args.account, args.name, args.operator, SenderType(args.type), CampaignType(args.campaign)
    )
    return Output(sender, f"sender {sender.name} ({sender.operator}) created: id {sender.id}")


async def sender_list(admin: Admin, args: argparse.Namespace) -> Output:
    floats = await admin.list_senders(args.account)
    names = {a.id: a.name for a in await admin.list_accounts()}
    rows = [
        (f.sender.id, names.get(f.sender.account_id, f.sender.account_id), f.sender.name,
         f.sender.operator, f.sender.type, f.sender.campaign, f.sender.status, f.balance)
        for f in floats
    ]  # fmt: skip
    headers = ("ID", "ACCOUNT", "NAME", "OPERATOR", "TYPE", "CAMPAIGN", "STATUS", "FLOAT")
    data = [{**to_jsonable(f.sender), "balance": f.balance} for f in floats]
    return Output(data, table(headers, rows))


async def sender_suspend(admin: Admin, args: argparse.Namespace) -> Output:
    return await _sender_status(admin, args, SenderStatus.SUSPENDED)


async def sender_activate(admin: Admin, args: argparse.Namespace) -> Output:
    return await _sender_status(admin, args, SenderStatus.ACTIVE)


async def _sender_status(admin: Admin, args: argparse.Namespace, status: SenderStatus) -> Output:
    sender = await admin.set_sender_status(await _sender_of(admin, args), status)
    return Output(sender, f"sender {sender.name} ({sender.operator}) is {sender.status.value}")


async def _sender_of(admin: Admin, args: argparse.Namespace) -> Any:
    return await admin.sender(args.sender, account_ref=args.account, operator=args.operator)


async def float_credit(admin: Admin, args: argparse.Namespace) -> Output:
    sender = await _sender_of(admin, args)
    entry = await admin.credit_float(sender, args.units, args.reason)
    return Output(entry, f"{sender.name} ({sender.operator}): +{entry.units} units, "
                         f"float now {entry.balance_after}")  # fmt: skip


async def float_debit(admin: Admin, args: argparse.Namespace) -> Output:
    sender = await _sender_of(admin, args)
    entry = await admin.debit_float(sender, args.units, args.reason)
    return Output(entry, f"{sender.name} ({sender.operator}): {entry.units} units, "
                         f"float now {entry.balance_after}")  # fmt: skip


async def float_show(admin: Admin, args: argparse.Namespace) -> Output:
    sender = await _sender_of(admin, args)
    statement = await admin.statement(sender)
    rows = [
        (e.id, e.created_at, e.kind, e.units, e.balance_after, e.actor, e.reason, e.reference)
        for e in statement.entries
    ]
    headers = ("#", "WHEN", "KIND", "UNITS", "BALANCE", "ACTOR", "REASON", "REFERENCE")
    text = f"{sender.name} ({sender.operator}, id {sender.id}): {statement.balance} units\n"
    return Output(statement, text + table(headers, rows))


async def package_create(admin: Admin, args: argparse.Namespace) -> Output:
    package = await admin.create_package(args.name, args.operator, args.rate_cents, args.min_units)
    return Output(package, f"package {package.name} ({package.operator}, "
                           f"{kes(package.rate_cents)}/unit) created: id {package.id}")  # fmt: skip


async def package_list(admin: Admin, args: argparse.Namespace) -> Output:
    packages = await admin.list_packages(args.operator)
    rows = [(p.id, p.name, p.operator, p.rate_cents, p.min_units, p.active) for p in packages]
    headers = ("ID", "NAME", "OPERATOR", "RATE_CENTS", "MIN_UNITS", "ACTIVE")
    return Output(list(packages), table(headers, rows))


async def topup_create(admin: Admin, args: argparse.Namespace) -> Output:
    sender = await _sender_of(admin, args)
    topup = await admin.request_topup(sender, args.package, args.units)
    return Output(topup, f"top-up {topup.id}: {topup.units} units for {sender.name} "
                         f"({kes(topup.amount_cents)}), PENDING approval")  # fmt: skip


async def topup_list(admin: Admin, args: argparse.Namespace) -> Output:
    status = TopUpStatus(args.status.upper()) if args.status else None
    topups = await admin.list_topups(status, args.account)
    rows = [
        (t.id, t.account_id, t.sender_id, t.units, kes(t.amount_cents), t.method, t.status,
         t.created_at)
        for t in topups
    ]  # fmt: skip
    headers = ("ID", "ACCOUNT", "SENDER", "UNITS", "AMOUNT", "METHOD", "STATUS", "CREATED")
    return Output(list(topups), table(headers, rows))


async def topup_approve(admin: Admin, args: argparse.Namespace) -> Output:
    topup = await admin.approve_topup(args.id)
    return Output(topup, f"top-up {topup.id} COMPLETED: {topup.units} units credited")


async def topup_reject(admin: Admin, args: argparse.Namespace) -> Output:
    topup = await admin.reject_topup(args.id, args.reason)
    return Output(topup, f"top-up {topup.id} FAILED: {topup.result_desc}")


async def topup_query(admin: Admin, args: argparse.Namespace) -> Output:
    topup = await admin.query_topup(args.id)
    why = f": {topup.result_desc}" if topup.result_desc else ""
    return Output(topup, f"top-up {topup.id} {topup.status.value}{why}")


async def topup_expire(admin: Admin, args: argparse.Namespace) -> Output:
    swept = await admin.expire_topups()
    counts: dict[str, int] = {}
    for one in swept:
        counts[one.topup.status.value] = counts.get(one.topup.status.value, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"
    lines = [f"{len(swept)} expired M-Pesa top-up(s) checked: {summary}"]
    lines += [f"  {s.topup.id} {s.topup.status.value}" for s in swept]
    lines += [f"REVIEW {s.topup.id}: {s.review}" for s in swept if s.review]
    data = [{"topup": s.topup, "changed": s.changed, "review": s.review} for s in swept]
    return Output(data, "\n".join(lines))


# -- the parser ---------------------------------------------------------------------------------

OPERATOR_CHOICES = ("safaricom", "airtel", "telkom")
REFS = (
    "Accounts are named by id or name. Sender IDs are named by id or name; when a name is "
    "used more than once, narrow it with --account and --operator."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gatewayd",
        description="SMPP-native SMS gateway for Kenyan networks.",
        epilog="Exit status: 0 done, 1 not done (not found, no balance …), 2 usage, "
        "78 configuration error.",
    )
    parser.add_argument("--version", action="version", version=f"gatewayd {__version__}")
    parser.add_argument(
        "-c", "--config", type=Path, metavar="FILE",
        help="TOML configuration (default: $GATEWAYD_CONFIG, else /etc/gatewayd/gatewayd.toml "
        "if present, else built-in defaults); GATEWAYD_* environment variables override it",
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("run", help="run the daemon").set_defaults(handler=cmd_run)
    commands.add_parser("migrate", help="create or upgrade the store schema").set_defaults(
        handler=cmd_migrate
    )
    sim = commands.add_parser(
        "sim", help="run simulated SMSCs ([[sim.smsc]]; default one per operator on 2775–2777)"
    )
    sim.add_argument("--seed", type=int, help="seed the random choices (default: [sim] seed)")
    sim.set_defaults(handler=cmd_sim)
    demo = commands.add_parser(
        "demo", help="simulated SMSCs + the daemon on loopback + a demo account, with curl lines"
    )
    demo.add_argument("--state-dir", type=Path, help="keep the demo's state here (default: temp)")
    demo.add_argument("--port", type=int, default=None, help="HTTP port (default: a free one)")
    demo.set_defaults(handler=cmd_demo)
    _add_admin(commands)
    return parser


def _add_admin(commands: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    common.add_argument(
        "--as", dest="actor", default=_default_actor(),
        help="who is acting, for the ledger (default: $SUDO_USER or the login name)",
    )  # fmt: skip
    admin = commands.add_parser(
        "admin", help="manage accounts, API clients, sender IDs, floats and top-ups",
        description=f"Operator commands on the store named by [store] url. {REFS} Run them as "
        "the service user (sudo -u gatewayd …) so a new SQLite file stays the daemon's.",
    )  # fmt: skip
    admin.set_defaults(handler=cmd_admin)
    groups = _Groups(admin.add_subparsers(dest="group", metavar="GROUP", required=True), common)
    _add_accounts_and_clients(groups)
    _add_senders_and_floats(groups)
    _add_packages_and_topups(groups)


class _Groups:
    """Builds `admin GROUP ACTION` parsers sharing --json and --as."""

    def __init__(self, groups: Any, common: argparse.ArgumentParser) -> None:
        self._groups = groups
        self._common = common

    def group(self, name: str, help: str) -> Any:
        return _group(self._groups, name, help)

    def leaf(
        self, group: Any, name: str, handler: AdminHandler, help: str, aliases: Sequence[str] = ()
    ) -> Any:
        parser = group.add_parser(name, help=help, parents=[self._common], aliases=list(aliases))
        parser.set_defaults(admin_handler=handler)
        return parser


def _sender_ref(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sender", metavar="SENDER", help="sender ID: id or name")
    parser.add_argument("--account", help="the sender's account (id or name)")
    parser.add_argument("--operator", choices=OPERATOR_CHOICES)


def _add_accounts_and_clients(g: _Groups) -> None:
    account = g.group("account", "accounts (tenants)")
    g.leaf(account, "create", account_create, "create an account").add_argument("name")
    g.leaf(account, "list", account_list, "list accounts")
    aset = g.leaf(account, "set", account_set, "change an account's settings")
    aset.add_argument("account", help="id or name")
    aset.add_argument(
        "--callback-on-sent", choices=("on", "off"),
        help="also POST a callback when a message becomes SENT (DELIVERED and FAILED always "
        "are); applies to messages accepted from then on (default off)",
    )  # fmt: skip
    client = g.group("client", "API clients (client_id + client_secret)")
    g.leaf(client, "create", client_create, "create an API client; prints its secret once"
           ).add_argument("account", help="id or name")  # fmt: skip
    g.leaf(client, "list", client_list, "list an account's API clients").add_argument(
        "account", help="id or name"
    )


def _add_senders_and_floats(g: _Groups) -> None:
    sender = g.group("sender", "sender IDs")
    create = g.leaf(sender, "create", sender_create, "register a sender ID for an account")
    create.add_argument("account", help="id or name")
    create.add_argument("name", help="alphanumeric name (≤ 11) or short code digits")
    create.add_argument("--operator", required=True, choices=OPERATOR_CHOICES)
    create.add_argument("--type", default="alphanumeric", choices=[t.value for t in SenderType])
    create.add_argument(
        "--campaign", default="transactional", choices=[c.value for c in CampaignType]
    )
    g.leaf(sender, "list", sender_list, "list sender IDs with their floats").add_argument(
        "account", nargs="?", help="only this account's (id or name)"
    )
    _sender_ref(g.leaf(sender, "suspend", sender_suspend, "refuse sends from a sender ID"))
    _sender_ref(g.leaf(sender, "activate", sender_activate, "allow sends from it again"))
    floats = g.group("float", "sender ID floats (SMS units)")
    for name, handler, words in (
        ("credit", float_credit, "add units to a float"),
        ("debit", float_debit, "take units off a float (a correction; needs --reason)"),
    ):
        parser = g.leaf(floats, name, handler, words)
        _sender_ref(parser)
        parser.add_argument("units", type=_positive, help="whole SMS units")
        parser.add_argument("--reason", default="", help="why, for the ledger")
    _sender_ref(g.leaf(floats, "show", float_show, "balance and ledger of a float"))


def _add_packages_and_topups(g: _Groups) -> None:
    package = g.group("package", "top-up packages (price per unit)")
    pcreate = g.leaf(package, "create", package_create, "create a package")
    pcreate.add_argument("name")
    pcreate.add_argument("--operator", required=True, choices=OPERATOR_CHOICES)
    pcreate.add_argument("--rate-cents", type=_positive, required=True, help="KES cents per unit")
    pcreate.add_argument("--min-units", type=_positive, default=1)
    g.leaf(package, "list", package_list, "list packages").add_argument(
        "--operator", choices=OPERATOR_CHOICES
    )
    topup = g.group("topup", "float top-ups")
    tcreate = g.leaf(
        topup, "create", topup_create, "record an offline top-up (PENDING)", aliases=["request"]
    )
    _sender_ref(tcreate)
    tcreate.add_argument("package", help="package id or name")
    tcreate.add_argument("units", type=_positive)
    tlist = g.leaf(topup, "list", topup_list, "list top-ups")
    tlist.add_argument("--status", type=str.upper, choices=[s.value for s in TopUpStatus])
    tlist.add_argument("--account", help="only this account's (id or name)")
    g.leaf(topup, "approve", topup_approve, "approve a PENDING offline top-up: credit the float"
           ).add_argument("id")  # fmt: skip
    reject = g.leaf(topup, "reject", topup_reject, "reject a PENDING offline top-up")
    reject.add_argument("id")
    reject.add_argument("--reason", default="", help="why, kept on the top-up")
    query = g.leaf(topup, "query", topup_query, "ask Daraja about a PENDING M-Pesa top-up")
    query.add_argument("id")
    query.set_defaults(needs_daraja=True)
    g.leaf(
        topup, "expire", topup_expire,
        "one expiry sweep (the daemon runs it on a timer): M-Pesa top-ups PENDING past "
        "[mpesa] stk_timeout are asked about through Daraja, then credited or FAILED",
    ).set_defaults(needs_daraja=True)  # fmt: skip


def _group(groups: Any, name: str, help: str) -> Any:
    parser = groups.add_parser(name, help=help, description=f"{help.capitalize()}. {REFS}")
    return parser.add_subparsers(dest="action", metavar="ACTION", required=True)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


if __name__ == "__main__":
    sys.exit(main())
