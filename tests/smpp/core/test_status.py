"""The command_status table: complete, classed, and sane for codes it does not know."""

from __future__ import annotations

from smpp.core.status import (
    STATUS_TABLE,
    CommandStatus,
    StatusClass,
    lookup,
    status_class,
    status_name,
)


def test_every_smpp34_status_is_in_the_table_with_name_and_meaning() -> None:
    assert set(STATUS_TABLE) == {int(c) for c in CommandStatus}
    assert len(STATUS_TABLE) == 48
    for code, info in STATUS_TABLE.items():
        assert info.code == code
        assert info.name == CommandStatus(code).name
        assert info.meaning


def test_classes_of_the_statuses_that_drive_behaviour() -> None:
    assert status_class(0) is StatusClass.OK
    assert status_class(CommandStatus.ESME_RTHROTTLED) is StatusClass.THROTTLE
    assert status_class(CommandStatus.ESME_RMSGQFUL) is StatusClass.THROTTLE
    assert status_class(CommandStatus.ESME_RSYSERR) is StatusClass.RETRY
    assert status_class(CommandStatus.ESME_RINVDSTADR) is StatusClass.PERMANENT
    assert status_class(CommandStatus.ESME_RINVPASWD) is StatusClass.PERMANENT
    assert status_class(CommandStatus.ESME_RX_T_APPN) is StatusClass.RETRY
    assert status_class(CommandStatus.ESME_RX_P_APPN) is StatusClass.PERMANENT


def test_only_rok_is_ok() -> None:
    assert [c for c, i in STATUS_TABLE.items() if i.status_class is StatusClass.OK] == [0]


def test_unknown_and_vendor_codes_are_retry_and_named() -> None:
    assert status_class(0x401) is StatusClass.RETRY
    assert status_name(0x401) == "VENDOR_0x401"
    assert lookup(0x1234).name == "UNKNOWN_0x00001234"
    assert status_class(0x1234) is StatusClass.RETRY


def test_overrides_win() -> None:
    overrides = {0x401: StatusClass.PERMANENT, 0x58: StatusClass.RETRY}
    assert status_class(0x401, overrides) is StatusClass.PERMANENT
    assert status_class(0x58, overrides) is StatusClass.RETRY
    assert status_class(0x0B, overrides) is StatusClass.PERMANENT
