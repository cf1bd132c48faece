"""Sender selection: each recipient goes out through the chosen sender ID of its operator.

A sender ID belongs to one operator (seed 000: "You need a separate Sender ID for each telco
provider"). For a send over several sender IDs, each recipient gets the one whose operator
owns the recipient's range; when none does, that recipient fails with "No matching sender".
Works on any sender value that has an `operator` attribute (the service's SenderId, or
`SenderChoice` here), so the store's types stay the store's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Generic, Protocol, TypeVar

from routing.operators import Operator
from routing.prefixes import PrefixTable

NO_MATCHING_SENDER = "No matching sender"


class HasOperator(Protocol):
    """Anything that names the operator it belongs to (value or Operator)."""

    @property
    def operator(self) -> str: ...


S = TypeVar("S", bound=HasOperator)


@dataclass(frozen=True, slots=True)
class SenderChoice:
    """A sender ID as routing needs it: its name and its operator."""

    name: str
    operator: Operator


class NoMatchingSender(LookupError):
    """No chosen sender ID belongs to the recipient's operator (str is seed 000's reason)."""

    def __init__(self, msisdn: str, operator: Operator | None) -> None:
        super().__init__(NO_MATCHING_SENDER)
        self.msisdn = msisdn
        self.operator = operator

    @property
    def reason(self) -> str:
        return NO_MATCHING_SENDER


class DuplicateOperatorSender(ValueError):
    """Two chosen sender IDs belong to the same operator, so the choice is ambiguous."""


@dataclass(frozen=True, slots=True)
class Route(Generic[S]):
    """A recipient with its operator and the sender ID it goes out through."""

    msisdn: str
    operator: Operator
    sender: S


class SenderSelection(Generic[S]):
    """The sender IDs chosen for one send, at most one per operator."""

    __slots__ = ("_by_operator",)

    def __init__(self, senders: Iterable[S]) -> None:
        by_operator: dict[Operator, S] = {}
        for sender in senders:
            operator = Operator.parse(str(sender.operator))
            if operator in by_operator:
                raise DuplicateOperatorSender(
                    f"sender IDs {_name(by_operator[operator])!r} and {_name(sender)!r} both "
                    f"belong to {operator.display_name}; choose one sender ID per operator"
                )
            by_operator[operator] = sender
        self._by_operator: Mapping[Operator, S] = MappingProxyType(by_operator)

    @property
    def operators(self) -> frozenset[Operator]:
        return frozenset(self._by_operator)

    def for_operator(self, operator: Operator | None, msisdn: str = "") -> S:
        """The sender ID of `operator`, or NoMatchingSender."""
        sender = self._by_operator.get(operator) if operator is not None else None
        if sender is None:
            raise NoMatchingSender(msisdn, operator)
        return sender

    def route(self, msisdn: str, table: PrefixTable) -> Route[S]:
        """Route the canonical `msisdn`: its operator from `table` and that operator's sender."""
        operator = table.operator_for(msisdn)
        sender = self.for_operator(operator, msisdn)
        assert operator is not None
        return Route(msisdn, operator, sender)

    def route_all(
        self, msisdns: Iterable[str], table: PrefixTable
    ) -> tuple[list[Route[S]], list[NoMatchingSender]]:
        """Split canonical recipients into routed ones and those that fail "No matching sender"."""
        routed: list[Route[S]] = []
        failed: list[NoMatchingSender] = []
        for msisdn in msisdns:
            try:
                routed.append(self.route(msisdn, table))
            except NoMatchingSender as exc:
                failed.append(exc)
        return routed, failed


def _name(sender: object) -> str:
    return str(getattr(sender, "name", sender))
