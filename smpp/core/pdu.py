"""SMPP 3.4 PDUs as frozen values.

Every PDU has ``sequence_number``, ``command_status`` and ``tlvs`` (optional parameters:
tag -> raw value, wire order kept, unknown tags kept verbatim; see `smpp.core.tlv`), then the
mandatory body fields of SMPP 3.4 §4 in wire order. Addresses and C-octet strings are `str`
(each character one octet, latin-1); ``short_message`` is `bytes` (sm_length is derived from
it). Every field has a default, so build PDUs with keywords:

    SubmitSm(source_addr="KIMISMS", destination_addr="254712345678", short_message=b"hi")

``sequence_number`` defaults to 0: `EsmeSession.submit` numbers requests itself (the codec can
encode with a sequence number given apart, so nothing is copied).

A command id this module does not model decodes to `UnknownPdu` (its body kept as bytes), so
the session can answer an unknown request with generic_nack ESME_RINVCMDID.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar

from smpp.core.tlv import EMPTY_TLVS

RESPONSE_BIT = 0x80000000
"""Set in the command_id of every response."""


class CommandId(IntEnum):
    """SMPP 3.4 command ids (§5.1.2)."""

    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    REPLACE_SM = 0x00000007
    REPLACE_SM_RESP = 0x80000007
    CANCEL_SM = 0x00000008
    CANCEL_SM_RESP = 0x80000008
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    OUTBIND = 0x0000000B
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    SUBMIT_MULTI = 0x00000021
    SUBMIT_MULTI_RESP = 0x80000021
    ALERT_NOTIFICATION = 0x00000102
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103


@dataclass(frozen=True, slots=True)
class Pdu:
    """Fields every PDU has. `command_id` is the class's; see the subclasses."""

    command_id: ClassVar[int]

    sequence_number: int = 0
    command_status: int = 0
    tlvs: Mapping[int, bytes] = field(default=EMPTY_TLVS, hash=False)  # compared, not hashed

    @property
    def is_response(self) -> bool:
        """True for *_resp and generic_nack."""
        return bool(self.command_id & RESPONSE_BIT)


# --- bind -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Bind(Pdu):
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


@dataclass(frozen=True, slots=True)
class BindTransmitter(_Bind):
    """bind_transmitter (§4.1.1)."""

    command_id: ClassVar[int] = CommandId.BIND_TRANSMITTER


@dataclass(frozen=True, slots=True)
class BindReceiver(_Bind):
    """bind_receiver (§4.1.3)."""

    command_id: ClassVar[int] = CommandId.BIND_RECEIVER


@dataclass(frozen=True, slots=True)
class BindTransceiver(_Bind):
    """bind_transceiver (§4.1.5)."""

    command_id: ClassVar[int] = CommandId.BIND_TRANSCEIVER


@dataclass(frozen=True, slots=True)
class _BindResp(Pdu):
    system_id: str = ""


@dataclass(frozen=True, slots=True)
class BindTransmitterResp(_BindResp):
    """bind_transmitter_resp (§4.1.2); sc_interface_version may be in tlvs."""

    command_id: ClassVar[int] = CommandId.BIND_TRANSMITTER_RESP


@dataclass(frozen=True, slots=True)
class BindReceiverResp(_BindResp):
    """bind_receiver_resp (§4.1.4)."""

    command_id: ClassVar[int] = CommandId.BIND_RECEIVER_RESP


@dataclass(frozen=True, slots=True)
class BindTransceiverResp(_BindResp):
    """bind_transceiver_resp (§4.1.6)."""

    command_id: ClassVar[int] = CommandId.BIND_TRANSCEIVER_RESP


@dataclass(frozen=True, slots=True)
class Outbind(Pdu):
    """outbind (§4.1.7): the SMSC asks the ESME to bind as receiver."""

    command_id: ClassVar[int] = CommandId.OUTBIND

    system_id: str = ""
    password: str = ""


# --- header-only ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unbind(Pdu):
    """unbind (§4.2.1)."""

    command_id: ClassVar[int] = CommandId.UNBIND


@dataclass(frozen=True, slots=True)
class UnbindResp(Pdu):
    """unbind_resp (§4.2.2)."""

    command_id: ClassVar[int] = CommandId.UNBIND_RESP


@dataclass(frozen=True, slots=True)
class EnquireLink(Pdu):
    """enquire_link (§4.11.1)."""

    command_id: ClassVar[int] = CommandId.ENQUIRE_LINK


@dataclass(frozen=True, slots=True)
class EnquireLinkResp(Pdu):
    """enquire_link_resp (§4.11.2)."""

    command_id: ClassVar[int] = CommandId.ENQUIRE_LINK_RESP


@dataclass(frozen=True, slots=True)
class GenericNack(Pdu):
    """generic_nack (§4.3.1): the peer could not process a PDU (status says why)."""

    command_id: ClassVar[int] = CommandId.GENERIC_NACK


# --- messages -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ShortMessage(Pdu):
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""


@dataclass(frozen=True, slots=True)
class SubmitSm(_ShortMessage):
    """submit_sm (§4.4.1)."""

    command_id: ClassVar[int] = CommandId.SUBMIT_SM


@dataclass(frozen=True, slots=True)
class DeliverSm(_ShortMessage):
    """deliver_sm (§4.6.1): an MO message or a delivery receipt (esm_class bit 2)."""

    command_id: ClassVar[int] = CommandId.DELIVER_SM


@dataclass(frozen=True, slots=True)
class _MessageIdResp(Pdu):
    message_id: str = ""


@dataclass(frozen=True, slots=True)
class SubmitSmResp(_MessageIdResp):
    """submit_sm_resp (§4.4.2)."""

    command_id: ClassVar[int] = CommandId.SUBMIT_SM_RESP


@dataclass(frozen=True, slots=True)
class DeliverSmResp(_MessageIdResp):
    """deliver_sm_resp (§4.6.2); message_id is unused and normally empty."""

    command_id: ClassVar[int] = CommandId.DELIVER_SM_RESP


@dataclass(frozen=True, slots=True)
class DataSm(Pdu):
    """data_sm (§4.7.1): payload in the message_payload TLV."""

    command_id: ClassVar[int] = CommandId.DATA_SM

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0


@dataclass(frozen=True, slots=True)
class DataSmResp(_MessageIdResp):
    """data_sm_resp (§4.7.2)."""

    command_id: ClassVar[int] = CommandId.DATA_SM_RESP


@dataclass(frozen=True, slots=True)
class QuerySm(Pdu):
    """query_sm (§4.8.1)."""

    command_id: ClassVar[int] = CommandId.QUERY_SM

    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""


@dataclass(frozen=True, slots=True)
class QuerySmResp(Pdu):
    """query_sm_resp (§4.8.2)."""

    command_id: ClassVar[int] = CommandId.QUERY_SM_RESP

    message_id: str = ""
    final_date: str = ""
    message_state: int = 0
    error_code: int = 0


@dataclass(frozen=True, slots=True)
class AlertNotification(Pdu):
    """alert_notification (§4.12.1): an MS became available; no response is sent."""

    command_id: ClassVar[int] = CommandId.ALERT_NOTIFICATION

    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    esme_addr_ton: int = 0
    esme_addr_npi: int = 0
    esme_addr: str = ""


@dataclass(frozen=True, slots=True)
class UnknownPdu(Pdu):
    """A PDU whose command id is not modelled here (submit_multi, cancel_sm, vendor ids...).

    ``raw_command_id`` is the id on the wire and ``body`` everything after the header (its
    ``tlvs`` stay empty: without the layout the optional part cannot be found).
    """

    command_id: ClassVar[int] = -1

    raw_command_id: int = 0
    body: bytes = b""

    @property
    def is_response(self) -> bool:
        """True when the wire id has the response bit."""
        return bool(self.raw_command_id & RESPONSE_BIT)


BindRequest = BindTransmitter | BindReceiver | BindTransceiver
BindResponse = BindTransmitterResp | BindReceiverResp | BindTransceiverResp

PDU_CLASSES: tuple[type[Pdu], ...] = (
    BindTransmitter,
    BindTransmitterResp,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    Outbind,
    Unbind,
    UnbindResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    SubmitSm,
    SubmitSmResp,
    DeliverSm,
    DeliverSmResp,
    DataSm,
    DataSmResp,
    QuerySm,
    QuerySmResp,
    AlertNotification,
)
"""Every modelled PDU class (UnknownPdu aside)."""

CLASS_BY_COMMAND_ID: Mapping[int, type[Pdu]] = {cls.command_id: cls for cls in PDU_CLASSES}
"""command_id -> PDU class."""

RESPONSE_CLASS: Mapping[type[Pdu], type[Pdu]] = {
    BindTransmitter: BindTransmitterResp,
    BindReceiver: BindReceiverResp,
    BindTransceiver: BindTransceiverResp,
    Unbind: UnbindResp,
    EnquireLink: EnquireLinkResp,
    SubmitSm: SubmitSmResp,
    DeliverSm: DeliverSmResp,
    DataSm: DataSmResp,
    QuerySm: QuerySmResp,
}
"""Request class -> its response class (outbind and alert_notification have none)."""
