"""The shipped prefix table, longest-prefix lookups, validation on load, and reload."""

from __future__ import annotations

from pathlib import Path

import phonenumbers
import pytest
from phonenumbers import carrier

from routing import Operator, PrefixTable, PrefixTableError, PrefixTableHolder

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = (ROOT / "config" / "prefixes_ke.toml").read_text()

# sms-gateways.md §4d, national form: the allocations the shipped file must carry.
EXPECTED: dict[Operator | None, list[str]] = {
    Operator.SAFARICOM: [
        *(f"07{n:02d}" for n in range(30)),
        "0740", "0741", "0742", "0743", "0745", "0746", "0748", "0749",
        "0757", "0758", "0759", "0768", "0769",
        *(f"079{n}" for n in range(10)),
        *(f"011{n}" for n in range(10)),
        *(f"014{n}" for n in range(10)),
        *(f"018{n}" for n in range(10)),
    ],
    Operator.AIRTEL: [
        *(f"073{n}" for n in range(10)),
        "0750", "0751", "0752", "0753", "0754", "0755", "0756",
        "0760", "0762", "0763", "0764", "0765", "0766", "0767",
        *(f"078{n}" for n in range(10)),
        *(f"010{n}" for n in range(10)),
        "0135", "0136", "0137", "0138", "0139",
        "0124",
    ],
    Operator.TELKOM: [*(f"077{n}" for n in range(10)), "0761", "0120"],
    None: ["0744", "0747", "0121", "0130"],
}
# libphonenumber carrier names and the operator whose bind carries them.
CARRIER_TO_OPERATOR: dict[str, Operator | None] = {
    "Safaricom": Operator.SAFARICOM,
    "Airtel": Operator.AIRTEL,
    "Finserve": Operator.AIRTEL,
    "Telkom": Operator.TELKOM,
    "Homeland Media": None,
    "JTL": None,
    "Infura": None,
    "NRG Media Limited": None,
}


@pytest.fixture(scope="module")
def shipped() -> PrefixTable:
    return PrefixTable.from_toml(SHIPPED)


def _number(national_prefix: str) -> str:
    return ("254" + national_prefix[1:] + "000000000")[:12]


@pytest.mark.parametrize(
    ("prefix", "operator"),
    [(prefix, op) for op, prefixes in EXPECTED.items() for prefix in prefixes],
)
def test_every_allocated_range_maps_to_its_operator(
    shipped: PrefixTable, prefix: str, operator: Operator | None
) -> None:
    for tail in ("000000", "999999"):
        assert shipped.operator_for("254" + prefix[1:] + tail) is operator


def test_the_table_holds_exactly_the_expected_ranges(shipped: PrefixTable) -> None:
    expected = {"254" + p[1:]: op for op, prefixes in EXPECTED.items() for p in prefixes}
    assert dict(shipped.routes) == expected


def test_the_table_agrees_with_libphonenumber_where_it_knows_the_range(
    shipped: PrefixTable,
) -> None:
    checked = 0
    for prefix in shipped.routes:
        number = phonenumbers.parse("+" + prefix + "123456789"[: 12 - len(prefix)])
        if not phonenumbers.is_valid_number(number):
            continue  # the (*) ranges of the file: allocated, not yet in libphonenumber
        name = carrier.name_for_number(number, "en")
        assert name in CARRIER_TO_OPERATOR, f"{prefix}: unexpected carrier {name!r}"
        assert shipped.operator_for(prefix + "0" * (12 - len(prefix))) is CARRIER_TO_OPERATOR[name]
        checked += 1
    assert checked >= 140


def test_every_valid_libphonenumber_mobile_range_is_in_the_table(shipped: PrefixTable) -> None:
    for first in "17":
        for n in range(100):
            number = phonenumbers.parse(f"0{first}{n:02d}123456", "KE")
            if phonenumbers.is_valid_number(number):
                assert shipped.match(f"254{first}{n:02d}123456") is not None, f"0{first}{n:02d}"


def test_unknown_ranges_have_no_operator(shipped: PrefixTable) -> None:
    assert shipped.operator_for("254150123456") is None
    assert shipped.match("254150123456") is None


def test_longest_prefix_wins() -> None:
    table = PrefixTable.from_toml(
        '[safaricom]\nprefixes = ["074"]\n[airtel]\nprefixes = ["0744"]\n'
        '[telkom]\nprefixes = ["07445"]\n[unrouted]\nprefixes = ["0747"]\n'
    )
    assert table.operator_for("254740123456") is Operator.SAFARICOM
    assert table.operator_for("254744123456") is Operator.AIRTEL
    assert table.operator_for("254744523456") is Operator.TELKOM
    assert table.operator_for("254747123456") is None
    match = table.match("254747123456")
    assert match is not None and match.prefix == "254747" and match.operator is None


def test_the_table_is_immutable(shipped: PrefixTable) -> None:
    with pytest.raises(AttributeError):
        shipped.version = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        shipped.routes["254700"] = Operator.AIRTEL  # type: ignore[index]


def test_reload_replaces_the_table_and_a_bad_file_keeps_the_old_one(shipped: PrefixTable) -> None:
    holder = PrefixTableHolder(shipped)
    number = "254712345678"
    assert holder.current.operator_for(number) is Operator.SAFARICOM
    new = holder.reload_toml('version = "2"\n[airtel]\nprefixes = ["0712"]\n')
    assert holder.current is new and new.version == "2"
    assert holder.current.operator_for(number) is Operator.AIRTEL
    with pytest.raises(PrefixTableError):
        holder.reload_toml('[airtel]\nprefixes = ["07x2"]\n')
    assert holder.current is new
    assert holder.replace(shipped) is new
    assert holder.current.operator_for(number) is Operator.SAFARICOM


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            '[safaricom]\nprefixes = ["0722"]\n[airtel]\nprefixes = ["0700-0729"]\n',
            "prefix 0722 from '0700-0729' (line 4) is already given "
            "in [safaricom] by '0722' (line 2)",
        ),
        ('[safaricom]\nprefixes = [\n  "0722",\n  "0722",\n]\n', "(line 4) is already given"),
        ('[orange]\nprefixes = ["0722"]\n', "[orange] (line 1): unknown operator"),
        ('[safaricom]\nprefixes = ["07a2"]\n', "prefix '07a2' (line 2) must be digits"),
        ('[safaricom]\nprefixes = ["722"]\n', "must be in national form"),
        ('[safaricom]\nprefixes = ["0729-0700"]\n', "must run upwards"),
        ('[safaricom]\nprefixes = ["070-0729"]\n', "equal length"),
        ('[safaricom]\nprefixes = ["07000-09999"]\n', "covers 3000 prefixes"),
        ('[safaricom]\nprefixes = [722]\n', "must be a quoted string"),
        ('[safaricom]\nprefixes = []\n', "non-empty list"),
        ('[safaricom]\nprefix = ["0722"]\n', "unknown key 'prefix' (line 2)"),
        ("", "lists no prefixes"),
        ("[safaricom\n", "not valid TOML"),
        ('version = 3\n[safaricom]\nprefixes = ["0722"]\n', "version: must be a string (line 1)"),
    ],
)
def test_invalid_files_fail_naming_the_line_and_prefix(text: str, fragment: str) -> None:
    with pytest.raises(PrefixTableError) as caught:
        PrefixTable.from_toml(text)
    assert fragment in str(caught.value)


def test_a_table_from_parsed_data_validates_the_same_way() -> None:
    table = PrefixTable.from_mapping({"telkom": {"prefixes": ["0770-0779"]}})
    assert table.operator_for("254775000000") is Operator.TELKOM
    with pytest.raises(PrefixTableError, match="unknown operator"):
        PrefixTable.from_mapping({"jtl": {"prefixes": ["0747"]}})
