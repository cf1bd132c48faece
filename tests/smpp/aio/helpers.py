"""Small builders shared by the pool tests."""

from __future__ import annotations

from smpp.core.pdu import SubmitSm
from smpp.core.text import LongMessageMethod, plan_message


def sms(text: str = "hello", dest: str = "254712345678", receipt: bool = True) -> SubmitSm:
    """A one-part GSM submit_sm."""
    return SubmitSm(
        source_addr="KIMISMS",
        destination_addr=dest,
        registered_delivery=1 if receipt else 0,
        short_message=text.encode("ascii"),
    )


def long_sms(
    text: str, reference: int, method: LongMessageMethod = LongMessageMethod.UDH8,
    dest: str = "254712345678",
) -> list[SubmitSm]:
    """The submit_sm parts of `text` as `plan_message` splits it."""
    plan = plan_message(text, method, reference)
    return [
        SubmitSm(
            source_addr="KIMISMS",
            destination_addr=dest,
            esm_class=part.esm_class_flags,
            data_coding=plan.data_coding,
            registered_delivery=1,
            short_message=part.short_message,
            tlvs=part.tlvs,
        )
        for part in plan.parts
    ]
