"""Opt-outs: subscribers who said STOP get no promotional traffic from that sender ID.

`OptOuts` is the use-case behind `MessagingService(opt_outs=...)` (which refuses promotional
sends to an opted-out number with "Opted out", at no cost) and behind the inbound path:
`handle_keyword` turns a mobile-originated "STOP" (or "ONDOKA", "TOKA", or whatever the
configuration lists; case and whitespace do not matter) into an opt-out of the sending number
from the sender ID(s) owning the short code it was sent to, and "START" back in.

Scope (see `model.OptOut`): one sender ID, as Safaricom's rule for promotional traffic has
it. The short code a STOP reaches is a sender ID of its own (type shortcode, one per
operator); `KeywordScope.ACCOUNT_PROMOTIONAL` widens a keyword to every promotional sender ID
of the account that owns the short code, for accounts whose promotions name their short code
as the way out.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from gatewayd.service.model import (
    CampaignType,
    InboundMessage,
    OptOut,
    OptOutSource,
    SenderId,
    SenderType,
)
from gatewayd.service.ports import OptOutStore
from routing import InvalidNumber, normalise

DEFAULT_STOP_WORDS = ("STOP", "ONDOKA", "TOKA")  # English; Swahili "leave", "get out"
DEFAULT_START_WORDS = ("START",)


class KeywordScope(enum.StrEnum):
    """Which sender IDs a keyword sent to a short code applies to."""

    SHORTCODE = "shortcode"  # the short code's own sender ID(s)
    ACCOUNT_PROMOTIONAL = "account_promotional"  # and the owning account's promotional ones


class Action(enum.StrEnum):
    """What `handle_keyword` did with an inbound message."""

    OPTED_OUT = "opted_out"
    OPTED_IN = "opted_in"
    NOT_A_KEYWORD = "not_a_keyword"  # an ordinary MO message: nothing done
    UNKNOWN_SHORTCODE = "unknown_shortcode"  # a keyword to a number no sender ID owns
    INVALID_CONTACT = "invalid_contact"  # a keyword from a number that is not a subscriber's


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of `handle_keyword`: the action, the number, the sender IDs it applied to,
    and those whose state it changed (a repeated STOP changes none; a reply confirming the
    opt-out is worth sending only when `changed`)."""

    action: Action
    contact: str
    sender_ids: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()


class OptOutBackend(OptOutStore, Protocol):
    """The store methods the use-case needs: its own, and the sender IDs to resolve a
    short code."""

    async def list_senders(self, account_id: str | None = None) -> Sequence[SenderId]: ...


def _words(words: Iterable[str]) -> frozenset[str]:
    return frozenset(normalise_keyword(w) for w in words)


def normalise_keyword(text: str) -> str:
    """A message as a keyword: upper case, with every whitespace character removed."""
    return "".join(text.split()).upper()


@dataclass(slots=True)
class OptOuts:
    """Records, lifts and answers opt-outs; satisfies messaging's `OptOuts` protocol."""

    store: OptOutBackend
    stop_words: frozenset[str] = field(default_factory=lambda: _words(DEFAULT_STOP_WORDS))
    start_words: frozenset[str] = field(default_factory=lambda: _words(DEFAULT_START_WORDS))
    scope: KeywordScope = KeywordScope.SHORTCODE

    @classmethod
    def with_words(
        cls,
        store: OptOutBackend,
        stop_words: Iterable[str] = DEFAULT_STOP_WORDS,
        start_words: Iterable[str] = DEFAULT_START_WORDS,
        scope: KeywordScope = KeywordScope.SHORTCODE,
    ) -> OptOuts:
        """Built from configured keyword lists (any case and spacing)."""
        stop, start = _words(stop_words), _words(start_words)
        if stop & start:
            raise ValueError(f"keywords both stop and start: {sorted(stop & start)}")
        return cls(store, stop, start, scope)

    async def is_opted_out(self, sender_id: str, contact: str) -> bool:
        return await self.store.is_opted_out(sender_id, contact)

    async def opt_out(
        self,
        sender_id: str,
        contact: str,
        source: OptOutSource,
        now: datetime,
        reference: str = "",
    ) -> tuple[OptOut, bool]:
        """Opt a number (any form `routing.normalise` takes; InvalidNumber, a ValueError,
        otherwise) out of one sender ID."""
        return await self.store.opt_out(sender_id, normalise(contact), source, now, reference)

    async def opt_in(self, sender_id: str, contact: str) -> bool:
        return await self.store.opt_in(sender_id, normalise(contact))

    async def handle_keyword(self, inbound: InboundMessage) -> Outcome:
        """Act on an MO message that is a STOP or START keyword; anything else is left alone
        (`NOT_A_KEYWORD`). The time of the opt-out is when the message was received, and its
        reference the inbound message id."""
        word = normalise_keyword(inbound.text)
        stop = word in self.stop_words
        if not stop and word not in self.start_words:
            return Outcome(Action.NOT_A_KEYWORD, inbound.source)
        try:
            contact = normalise(inbound.source)
        except InvalidNumber:
            return Outcome(Action.INVALID_CONTACT, inbound.source)
        senders = await self._owners(inbound)
        if not senders:
            return Outcome(Action.UNKNOWN_SHORTCODE, contact)
        changed: list[str] = []
        for sender_id in senders:
            if stop:
                _, did = await self.store.opt_out(
                    sender_id, contact, OptOutSource.KEYWORD, inbound.received_at, inbound.id
                )
            else:
                did = await self.store.opt_in(sender_id, contact)
            if did:
                changed.append(sender_id)
        action = Action.OPTED_OUT if stop else Action.OPTED_IN
        return Outcome(action, contact, tuple(senders), tuple(changed))

    async def _owners(self, inbound: InboundMessage) -> list[str]:
        """The sender IDs a keyword to `inbound.destination` applies to, sorted: the short
        code's own (of the account the inbound path resolved, when it did), and under
        ACCOUNT_PROMOTIONAL the promotional sender IDs of the accounts owning it."""
        code = inbound.destination.strip().lstrip("+")
        senders = await self.store.list_senders(inbound.account_id)
        owners = {
            s.id
            for s in senders
            if s.id == inbound.sender_id or (s.type is SenderType.SHORTCODE and s.name == code)
        }
        if self.scope is KeywordScope.ACCOUNT_PROMOTIONAL and owners:
            accounts = {s.account_id for s in senders if s.id in owners}
            owners |= {
                s.id
                for s in senders
                if s.account_id in accounts and s.campaign is CampaignType.PROMOTIONAL
            }
        return sorted(owners)

