"""SMPP 3.4 command_status values as data: name, meaning and what a sender should do.

Every status of SMPP 3.4 §5.1.3 is in `STATUS_TABLE` with one of four classes:

- ``OK``: the request succeeded.
- ``THROTTLE``: the SMSC wants us slower (ESME_RTHROTTLED, ESME_RMSGQFUL); slow the bind and
  send the same PDU again.
- ``RETRY``: a transient failure on the SMSC side or of the bind state; a bounded retry is sane.
- ``PERMANENT``: the request itself is wrong (bad address, bad field, bad credentials);
  sending it again gives the same answer.

Codes we do not know (the vendor range 0x400-0x4FF and reserved values) are classed ``RETRY``:
an SMSC that answered with an error did not accept the message, so a bounded retry cannot
duplicate it, whereas classing the code ``PERMANENT`` could drop a message the SMSC refused only
for the moment. Vendor codes known to be final are given per SMSC as ``overrides`` to
`status_class`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from types import MappingProxyType


class StatusClass(StrEnum):
    """What a sender does with a command_status."""

    OK = "ok"
    RETRY = "retry"
    THROTTLE = "throttle"
    PERMANENT = "permanent"


class CommandStatus(IntEnum):
    """The command_status values of SMPP 3.4 §5.1.3."""

    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RINVPRTFLG = 0x06
    ESME_RINVREGDLVFLG = 0x07
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RCANCELFAIL = 0x11
    ESME_RREPLACEFAIL = 0x13
    ESME_RMSGQFUL = 0x14
    ESME_RINVSERTYP = 0x15
    ESME_RINVNUMDESTS = 0x33
    ESME_RINVDLNAME = 0x34
    ESME_RINVDESTFLAG = 0x40
    ESME_RINVSUBREP = 0x42
    ESME_RINVESMCLASS = 0x43
    ESME_RCNTSUBDL = 0x44
    ESME_RSUBMITFAIL = 0x45
    ESME_RINVSRCTON = 0x48
    ESME_RINVSRCNPI = 0x49
    ESME_RINVDSTTON = 0x50
    ESME_RINVDSTNPI = 0x51
    ESME_RINVSYSTYP = 0x53
    ESME_RINVREPFLAG = 0x54
    ESME_RINVNUMMSGS = 0x55
    ESME_RTHROTTLED = 0x58
    ESME_RINVSCHED = 0x61
    ESME_RINVEXPIRY = 0x62
    ESME_RINVDFTMSGID = 0x63
    ESME_RX_T_APPN = 0x64
    ESME_RX_P_APPN = 0x65
    ESME_RX_R_APPN = 0x66
    ESME_RQUERYFAIL = 0x67
    ESME_RINVOPTPARSTREAM = 0xC0
    ESME_ROPTPARNOTALLWD = 0xC1
    ESME_RINVPARLEN = 0xC2
    ESME_RMISSINGOPTPARAM = 0xC3
    ESME_RINVOPTPARAMVAL = 0xC4
    ESME_RDELIVERYFAILURE = 0xFE
    ESME_RUNKNOWNERR = 0xFF


@dataclass(frozen=True, slots=True)
class StatusInfo:
    """One command_status: its code, spec name, meaning and class."""

    code: int
    name: str
    meaning: str
    status_class: StatusClass


_S = CommandStatus
_OK, _RETRY, _THROTTLE, _PERM = (
    StatusClass.OK,
    StatusClass.RETRY,
    StatusClass.THROTTLE,
    StatusClass.PERMANENT,
)

_ROWS: tuple[tuple[CommandStatus, str, StatusClass], ...] = (
    (_S.ESME_ROK, "No error", _OK),
    (_S.ESME_RINVMSGLEN, "Message length is invalid", _PERM),
    (_S.ESME_RINVCMDLEN, "Command length is invalid", _PERM),
    (_S.ESME_RINVCMDID, "Invalid command ID", _PERM),
    (_S.ESME_RINVBNDSTS, "Incorrect bind status for given command", _RETRY),
    (_S.ESME_RALYBND, "ESME already in bound state", _RETRY),
    (_S.ESME_RINVPRTFLG, "Invalid priority flag", _PERM),
    (_S.ESME_RINVREGDLVFLG, "Invalid registered delivery flag", _PERM),
    (_S.ESME_RSYSERR, "System error", _RETRY),
    (_S.ESME_RINVSRCADR, "Invalid source address", _PERM),
    (_S.ESME_RINVDSTADR, "Invalid destination address", _PERM),
    (_S.ESME_RINVMSGID, "Message ID is invalid", _PERM),
    (_S.ESME_RBINDFAIL, "Bind failed", _RETRY),
    (_S.ESME_RINVPASWD, "Invalid password", _PERM),
    (_S.ESME_RINVSYSID, "Invalid system ID", _PERM),
    (_S.ESME_RCANCELFAIL, "cancel_sm failed", _PERM),
    (_S.ESME_RREPLACEFAIL, "replace_sm failed", _PERM),
    (_S.ESME_RMSGQFUL, "Message queue full", _THROTTLE),
    (_S.ESME_RINVSERTYP, "Invalid service type", _PERM),
    (_S.ESME_RINVNUMDESTS, "Invalid number of destinations", _PERM),
    (_S.ESME_RINVDLNAME, "Invalid distribution list name", _PERM),
    (_S.ESME_RINVDESTFLAG, "Destination flag is invalid (submit_multi)", _PERM),
    (_S.ESME_RINVSUBREP, "Invalid 'submit with replace' request", _PERM),
    (_S.ESME_RINVESMCLASS, "Invalid esm_class field data", _PERM),
    (_S.ESME_RCNTSUBDL, "Cannot submit to distribution list", _PERM),
    (_S.ESME_RSUBMITFAIL, "submit_sm or submit_multi failed", _RETRY),
    (_S.ESME_RINVSRCTON, "Invalid source address TON", _PERM),
    (_S.ESME_RINVSRCNPI, "Invalid source address NPI", _PERM),
    (_S.ESME_RINVDSTTON, "Invalid destination address TON", _PERM),
    (_S.ESME_RINVDSTNPI, "Invalid destination address NPI", _PERM),
    (_S.ESME_RINVSYSTYP, "Invalid system_type field", _PERM),
    (_S.ESME_RINVREPFLAG, "Invalid replace_if_present flag", _PERM),
    (_S.ESME_RINVNUMMSGS, "Invalid number of messages", _PERM),
    (_S.ESME_RTHROTTLED, "Throttling error (ESME has exceeded allowed message limits)", _THROTTLE),
    (_S.ESME_RINVSCHED, "Invalid scheduled delivery time", _PERM),
    (_S.ESME_RINVEXPIRY, "Invalid message validity period (expiry time)", _PERM),
    (_S.ESME_RINVDFTMSGID, "Predefined message invalid or not found", _PERM),
    (_S.ESME_RX_T_APPN, "ESME receiver temporary app error code", _RETRY),
    (_S.ESME_RX_P_APPN, "ESME receiver permanent app error code", _PERM),
    (_S.ESME_RX_R_APPN, "ESME receiver reject message error code", _PERM),
    (_S.ESME_RQUERYFAIL, "query_sm request failed", _RETRY),
    (_S.ESME_RINVOPTPARSTREAM, "Error in the optional part of the PDU body", _PERM),
    (_S.ESME_ROPTPARNOTALLWD, "Optional parameter not allowed", _PERM),
    (_S.ESME_RINVPARLEN, "Invalid parameter length", _PERM),
    (_S.ESME_RMISSINGOPTPARAM, "Expected optional parameter missing", _PERM),
    (_S.ESME_RINVOPTPARAMVAL, "Invalid optional parameter value", _PERM),
    (_S.ESME_RDELIVERYFAILURE, "Delivery failure (data_sm_resp)", _RETRY),
    (_S.ESME_RUNKNOWNERR, "Unknown error", _RETRY),
)

STATUS_TABLE: Mapping[int, StatusInfo] = MappingProxyType(
    {int(code): StatusInfo(int(code), code.name, meaning, cls) for code, meaning, cls in _ROWS}
)
"""Every SMPP 3.4 command_status by code."""

VENDOR_RANGE = range(0x400, 0x500)
"""SMPP 3.4 reserves 0x400-0x4FF for SMSC vendor specific errors."""

# Hot path: status -> class without building a StatusInfo.
_CLASS_BY_CODE: dict[int, StatusClass] = {c: i.status_class for c, i in STATUS_TABLE.items()}


def lookup(code: int) -> StatusInfo:
    """The StatusInfo of `code`; unknown codes get a synthesised entry classed RETRY."""
    info = STATUS_TABLE.get(code)
    if info is not None:
        return info
    if code in VENDOR_RANGE:
        return StatusInfo(code, f"VENDOR_0x{code:03X}", "SMSC vendor specific error", _RETRY)
    return StatusInfo(code, f"UNKNOWN_0x{code:08X}", "Reserved or unknown status", _RETRY)


def status_class(code: int, overrides: Mapping[int, StatusClass] | None = None) -> StatusClass:
    """The class of `code`; `overrides` (per SMSC) win over the table and the default."""
    if overrides is not None:
        cls = overrides.get(code)
        if cls is not None:
            return cls
    return _CLASS_BY_CODE.get(code, _RETRY)


def status_name(code: int) -> str:
    """The spec name of `code` (ESME_RTHROTTLED) or a VENDOR_/UNKNOWN_ label."""
    return lookup(code).name
