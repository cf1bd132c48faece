"""Each recipient gets the chosen sender ID of its operator, or "No matching sender"."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from routing import (
    DuplicateOperatorSender,
    NoMatchingSender,
    Operator,
    PrefixTable,
    SenderChoice,
    SenderSelection,
)

TABLE = PrefixTable.from_toml(
    '[safaricom]\nprefixes = ["0700-0729"]\n[airtel]\nprefixes = ["0730-0739"]\n'
    '[telkom]\nprefixes = ["0770-0779"]\n[unrouted]\nprefixes = ["0747"]\n'
)
SAF = SenderChoice("KIMISMS", Operator.SAFARICOM)
AIR = SenderChoice("KIMISMS-A", Operator.AIRTEL)


def test_each_recipient_gets_the_sender_of_its_operator() -> None:
    selection = SenderSelection([SAF, AIR])
    routed, failed = selection.route_all(
        ["254712345678", "254733000000", "254777000000", "254747000000", "254150000000"], TABLE
    )
    assert [(r.msisdn, r.operator, r.sender) for r in routed] == [
        ("254712345678", Operator.SAFARICOM, SAF),
        ("254733000000", Operator.AIRTEL, AIR),
    ]
    assert [(f.msisdn, f.operator, str(f)) for f in failed] == [
        ("254777000000", Operator.TELKOM, "No matching sender"),
        ("254747000000", None, "No matching sender"),
        ("254150000000", None, "No matching sender"),
    ]


def test_a_single_sender_refuses_another_operators_number() -> None:
    selection = SenderSelection([SAF])
    assert selection.route("254700000001", TABLE).sender is SAF
    with pytest.raises(NoMatchingSender) as caught:
        selection.route("254730000001", TABLE)
    assert caught.value.reason == "No matching sender"
    assert caught.value.operator is Operator.AIRTEL


def test_two_senders_of_one_operator_are_refused_by_name() -> None:
    with pytest.raises(
        DuplicateOperatorSender, match="'KIMISMS' and 'OTHER' both belong to Safaricom"
    ):
        SenderSelection([SAF, SenderChoice("OTHER", Operator.SAFARICOM)])


@dataclass(frozen=True)
class StoreSender:
    """The shape of the service's SenderId: operator held as its string value."""

    id: str
    name: str
    operator: str


def test_works_with_any_sender_that_names_its_operator() -> None:
    sender = StoreSender("s1", "BRAND", "telkom")
    selection = SenderSelection([sender])
    assert selection.operators == frozenset({Operator.TELKOM})
    assert selection.route("254770000000", TABLE).sender is sender
    with pytest.raises(ValueError, match="operator: unknown operator 'orange'"):
        SenderSelection([StoreSender("s2", "X", "orange")])


def test_operator_display_names_follow_seed_000() -> None:
    assert [op.display_name for op in Operator] == ["Safaricom", "Airtel", "Telkom"]
    assert [op.value for op in Operator] == ["safaricom", "airtel", "telkom"]
    assert Operator.parse("Airtel") is Operator.AIRTEL
