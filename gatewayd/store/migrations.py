"""Versioned schema migrations, one list for both backends, applied by `apply_migrations`.

Each migration has a number, a name and its statements per dialect. Applied versions are
recorded in `schema_migrations`; applying is idempotent and runs in one transaction (SQLite
`BEGIN IMMEDIATE`, PostgreSQL with an advisory lock) so two processes migrating at once do
not race. Later issues append migrations; a shipped migration is never edited.

Times: SQLite INTEGER microseconds since the epoch, PostgreSQL timestamptz.

The tables written on every accept (messages, message_parts, ledger_entries, status_events)
carry no foreign keys and as few indexes as their readers need: the accept checks the sender
inside its transaction, and each foreign-key check or index is paid per row on the hot path.
The queue index is partial (queued messages only), so it stays the size of the queue.
Messages have an internal integer key, `seq`, handed out in accept order; their parts, events
and receipt map entries refer to it, so those indexes grow at one end instead of taking
random UUID keys (each random key dirties its own index page in every commit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gatewayd.store.tx import Tx


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]


def _both(template: str) -> tuple[str, str]:
    """One DDL text for both dialects: {ts} time, {id} auto id, {seq} auto id that needs no
    index of its own, {blob} bytes, {bool} flag, {big} 64-bit integer."""
    sqlite = template.format(
        ts="INTEGER", id="INTEGER PRIMARY KEY", seq="INTEGER PRIMARY KEY", blob="BLOB",
        bool="BOOLEAN", big="INTEGER", norowid=" WITHOUT ROWID", msgseq="INTEGER",
    )  # fmt: skip
    postgres = template.format(
        ts="timestamptz",
        id="bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        seq="bigint GENERATED ALWAYS AS IDENTITY",  # ordered, looked up by message only
        blob="bytea",
        bool="boolean",
        big="bigint",
        norowid="",
        msgseq="bigint DEFAULT nextval('message_seq')",
    )
    return sqlite, postgres


_INITIAL = [
    """CREATE TABLE accounts (
        id text PRIMARY KEY,
        name text NOT NULL,
        created_at {ts} NOT NULL)""",
    """CREATE TABLE api_clients (
        client_id text PRIMARY KEY,
        account_id text NOT NULL REFERENCES accounts(id),
        secret_hash text NOT NULL,
        active {bool} NOT NULL,
        created_at {ts} NOT NULL)""",
    "CREATE INDEX api_clients_account ON api_clients (account_id)",
    """CREATE TABLE senders (
        id text PRIMARY KEY,
        account_id text NOT NULL REFERENCES accounts(id),
        name text NOT NULL,
        operator text NOT NULL,
        type text NOT NULL CHECK (type IN ('alphanumeric', 'shortcode')),
        campaign text NOT NULL CHECK (campaign IN ('promotional', 'transactional')),
        status text NOT NULL,
        created_at {ts} NOT NULL,
        UNIQUE (account_id, name, operator))""",
    """CREATE TABLE floats (
        sender_id text PRIMARY KEY REFERENCES senders(id),
        balance {big} NOT NULL CHECK (balance >= 0))""",
    """CREATE TABLE ledger_entries (
        id {id},
        account_id text NOT NULL,
        sender_id text NOT NULL,
        kind text NOT NULL,
        units {big} NOT NULL,
        balance_after {big} NOT NULL CHECK (balance_after >= 0),
        actor text NOT NULL,
        reason text NOT NULL,
        reference text NOT NULL,
        created_at {ts} NOT NULL)""",
    "CREATE INDEX ledger_entries_sender ON ledger_entries (sender_id, id)",
    """CREATE TABLE packages (
        id text PRIMARY KEY,
        name text NOT NULL,
        operator text NOT NULL,
        rate_cents {big} NOT NULL CHECK (rate_cents >= 0),
        min_units {big} NOT NULL,
        active {bool} NOT NULL)""",
    """CREATE TABLE topups (
        id text PRIMARY KEY,
        account_id text NOT NULL REFERENCES accounts(id),
        sender_id text NOT NULL REFERENCES senders(id),
        package_id text NOT NULL REFERENCES packages(id),
        units {big} NOT NULL CHECK (units > 0),
        amount_cents {big} NOT NULL,
        method text NOT NULL,
        status text NOT NULL,
        created_at {ts} NOT NULL,
        phone text,
        checkout_request_id text UNIQUE,
        merchant_request_id text,
        mpesa_receipt text,
        result_code integer,
        result_desc text,
        settled_at {ts},
        settled_by text)""",
    "CREATE INDEX topups_status ON topups (status, created_at)",
    "CREATE INDEX topups_account ON topups (account_id, created_at)",
    "{pg_only}CREATE SEQUENCE message_seq",
    """CREATE TABLE messages (
        seq {msgseq} PRIMARY KEY,
        id text NOT NULL UNIQUE,
        account_id text NOT NULL,
        sender_id text NOT NULL,
        sender_name text NOT NULL,
        contact text NOT NULL,
        operator text NOT NULL,
        text text NOT NULL,
        units {big} NOT NULL,
        parts integer NOT NULL,
        encoding text NOT NULL,
        priority integer NOT NULL,
        status text NOT NULL,
        description text NOT NULL,
        dispatch text NOT NULL,
        callback_url text,
        callback_on_sent {bool} NOT NULL,
        client_ref text,
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL,
        scheduled_at {ts},
        attempts integer NOT NULL,
        in_doubt integer NOT NULL,
        smsc text,
        refunded_units {big} NOT NULL)""",
    "CREATE INDEX messages_queue ON messages (operator, priority DESC, created_at)"
    " WHERE dispatch = 'queued'",
    "CREATE INDEX messages_account ON messages (account_id, created_at DESC, id DESC)",
    "CREATE INDEX messages_in_flight ON messages (dispatch) WHERE dispatch = 'submitting'",
    """CREATE TABLE message_parts (
        message_seq {big} NOT NULL,
        idx integer NOT NULL,
        total integer NOT NULL,
        status text NOT NULL,
        smsc text,
        smsc_message_id text,
        error text,
        PRIMARY KEY (message_seq, idx)){norowid}""",
    """CREATE TABLE receipt_map (
        smsc text NOT NULL,
        smsc_message_id text NOT NULL,
        message_seq {big} NOT NULL,
        part integer NOT NULL,
        expires_at {ts} NOT NULL,
        PRIMARY KEY (smsc, smsc_message_id)){norowid}""",
    "CREATE INDEX receipt_map_expiry ON receipt_map (expires_at)",
    """CREATE TABLE parked_receipts (
        smsc text NOT NULL,
        smsc_message_id text NOT NULL,
        status text NOT NULL,
        description text NOT NULL,
        received_at {ts} NOT NULL,
        expires_at {ts} NOT NULL,
        PRIMARY KEY (smsc, smsc_message_id))""",
    "CREATE INDEX parked_receipts_expiry ON parked_receipts (expires_at)",
    """CREATE TABLE status_events (
        id {seq},
        message_seq {big} NOT NULL,
        status text NOT NULL,
        description text NOT NULL,
        at {ts} NOT NULL,
        part integer)""",
    "CREATE INDEX status_events_message ON status_events (message_seq, id)",
    """CREATE TABLE idempotency_keys (
        account_id text NOT NULL,
        key text NOT NULL,
        request_hash text NOT NULL,
        status_code integer NOT NULL,
        body {blob} NOT NULL,
        created_at {ts} NOT NULL,
        PRIMARY KEY (account_id, key))""",
    "CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at)",
    """CREATE TABLE callback_outbox (
        id {id},
        message_id text NOT NULL,
        account_id text NOT NULL,
        url text NOT NULL,
        contact text NOT NULL,
        operator text NOT NULL,
        status text NOT NULL,
        description text NOT NULL,
        event_at {ts} NOT NULL,
        state text NOT NULL,
        attempts integer NOT NULL,
        next_attempt_at {ts} NOT NULL,
        created_at {ts} NOT NULL,
        last_error text,
        finished_at {ts})""",
    "CREATE INDEX callback_outbox_due ON callback_outbox (next_attempt_at, id)"
    " WHERE state = 'pending'",
    "CREATE INDEX callback_outbox_message ON callback_outbox (message_id, id)",
    """CREATE TABLE inbound_messages (
        id text PRIMARY KEY,
        smsc text NOT NULL,
        operator text NOT NULL,
        source text NOT NULL,
        destination text NOT NULL,
        text text NOT NULL,
        received_at {ts} NOT NULL,
        account_id text,
        sender_id text,
        smsc_message_id text,
        UNIQUE (smsc, smsc_message_id))""",
    "CREATE INDEX inbound_messages_account ON inbound_messages (account_id, received_at)",
]


# Numbers opted out of a sender ID's promotional traffic. Keyed by the sender ID (Safaricom's
# scope for promotional opt-outs; see model.OptOut), one row while the opt-out stands: START
# deletes it. The account is kept for listing without a join.
_OPT_OUTS = [
    """CREATE TABLE opt_outs (
        sender_id text NOT NULL REFERENCES senders(id),
        contact text NOT NULL,
        account_id text NOT NULL,
        since {ts} NOT NULL,
        source text NOT NULL CHECK (source IN ('keyword', 'admin', 'api')),
        reference text NOT NULL,
        PRIMARY KEY (sender_id, contact))""",
    "CREATE INDEX opt_outs_account ON opt_outs (account_id, since DESC, contact)",
]

# Issue 4: an account may ask for a callback when its messages become SENT, not only when they
# become DELIVERED or FAILED. Accounts that exist keep today's behaviour (off). Each message
# keeps its own copy (messages.callback_on_sent, set when it is accepted).
_ACCOUNT_CALLBACK_ON_SENT = [
    "ALTER TABLE accounts ADD COLUMN callback_on_sent {bool} NOT NULL DEFAULT FALSE",
]

# The outbox's index by message id took a random UUID key per callback job: each receipt that
# wrote a job dirtied a page of its own in that index (SQLite: about 4 of the 5 WAL writes per
# receipt, 25 of its 90 µs of CPU). Jobs now carry the message's integer key, which grows with
# the messages, and are listed through it; rows written before this migration get theirs here.
_OUTBOX_BY_MESSAGE_SEQ = [
    "ALTER TABLE callback_outbox ADD COLUMN message_seq {big}",
    "UPDATE callback_outbox SET message_seq ="
    " (SELECT seq FROM messages WHERE messages.id = callback_outbox.message_id)",
    "DROP INDEX callback_outbox_message",
    "CREATE INDEX callback_outbox_message_seq ON callback_outbox (message_seq, id)",
]

# The queue's expiry (`expire_queued`) reads the oldest queued messages: without an index by
# age it would read and sort the whole queue on the writer once a minute and per batch, at
# its worst when a long SMSC outage has left a deep queue. Two index writes per message
# (accept, claim) buy a read of only the rows it fails.
_QUEUE_BY_AGE = [
    "CREATE INDEX messages_queue_age ON messages (created_at, id) WHERE dispatch = 'queued'",
]

# The parts of long MO messages, kept as they come (each is acknowledged once kept) until
# the last one lets the message be reassembled and recorded, which drops them.
_MO_PARTS = [
    """CREATE TABLE mo_parts (
        smsc text NOT NULL,
        key text NOT NULL,
        seq integer NOT NULL,
        total integer NOT NULL,
        source text NOT NULL,
        destination text NOT NULL,
        data_coding integer NOT NULL,
        esm_class integer NOT NULL,
        short_message {blob} NOT NULL,
        tlvs {blob} NOT NULL,
        received_at {ts} NOT NULL,
        PRIMARY KEY (smsc, key, seq))""",
    "CREATE INDEX mo_parts_received ON mo_parts (received_at)",
]

_PG_ONLY = "{pg_only}"


def _migration(version: int, name: str, statements: list[str]) -> Migration:
    """Statements marked {pg_only} are for PostgreSQL alone."""
    pairs = [_both(s.removeprefix(_PG_ONLY)) for s in statements]
    sqlite = tuple(p[0] for p, s in zip(pairs, statements, strict=True) if s[:9] != _PG_ONLY)
    return Migration(version, name, sqlite, tuple(p[1] for p in pairs))


MIGRATIONS: tuple[Migration, ...] = (
    _migration(1, "initial schema", _INITIAL),
    _migration(2, "opt-outs", _OPT_OUTS),
    _migration(3, "account callback_on_sent", _ACCOUNT_CALLBACK_ON_SENT),
    _migration(4, "callback outbox by message seq", _OUTBOX_BY_MESSAGE_SEQ),
    _migration(5, "queue by age", _QUEUE_BY_AGE),
    _migration(6, "long MO parts", _MO_PARTS),
)

_BOOKKEEPING = {
    "sqlite": "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    "postgres": "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)",
}
_LOCK_KEY = 0x6761_7465  # "gate": serialises concurrent migrators on PostgreSQL


async def apply_migrations(tx: Tx, now: datetime) -> int:
    """Apply the migrations not yet recorded, in order, inside the caller's transaction."""
    if tx.dialect == "postgres":
        await tx.execute(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
    await tx.execute(_BOOKKEEPING[tx.dialect])
    done = {r["version"] for r in await tx.fetch("SELECT version FROM schema_migrations")}
    applied = 0
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        statements = migration.sqlite if tx.dialect == "sqlite" else migration.postgres
        for statement in statements:
            await tx.execute(statement)
        await tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            migration.version,
            migration.name,
            tx.time(now),
        )
        applied += 1
    return applied
