"""The prefix table: which operator a canonical number's range belongs to.

The table is data (`config/prefixes_ke.toml`), read by the composition root and handed here as
text or as parsed TOML. Each operator section lists national-format prefixes (`"0722"`) or
ranges of equal-length prefixes (`"0700-0729"`); the section `[unrouted]` lists ranges of
operators we hold no bind for, which resolve to no operator (a send to them fails with
"No matching sender"). Longest prefix wins, so `"074"` for one operator and `"0744"` for another
is allowed; the same prefix given twice is an error.

A `PrefixTable` is immutable. Reloading builds a new one and swaps the reference held by a
`PrefixTableHolder`; a file that fails validation leaves the running table untouched. Lookups
probe one dict per prefix length, longest first: no parsing on the hot path.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from routing.numbers import COUNTRY_CODE
from routing.operators import Operator

UNROUTED_SECTION = "unrouted"
MAX_RANGE_SIZE = 1000  # one range line may stand for at most this many prefixes
_MAX_PREFIX_DIGITS = 9  # national prefix digits after the leading 0 (a whole number at most)


class PrefixTableError(ValueError):
    """The prefix file is invalid; the message names the section, prefix and line."""


@dataclass(frozen=True, slots=True)
class PrefixMatch:
    """The longest prefix (international form, `254…`) that matched and what it routes to."""

    prefix: str
    operator: Operator | None


@dataclass(frozen=True, slots=True)
class _Origin:
    section: str
    token: str


class PrefixTable:
    """An immutable map from international prefixes (`2547…`) to operators (or None)."""

    __slots__ = ("_by_length", "_lengths", "_routes", "version")

    _routes: Mapping[str, Operator | None]
    _lengths: tuple[int, ...]
    _by_length: tuple[tuple[int, Mapping[str, Operator | None]], ...]
    version: str

    def __init__(self, routes: Mapping[str, Operator | None], version: str = "") -> None:
        """`routes` maps international prefixes (`254…`, digits) to an operator or None."""
        for prefix in routes:
            if not (prefix.isascii() and prefix.isdigit() and prefix.startswith(COUNTRY_CODE)):
                raise PrefixTableError(f"prefix {prefix!r}: must be digits starting 254")
        object.__setattr__(self, "_routes", MappingProxyType(dict(routes)))
        lengths = tuple(sorted({len(p) for p in routes}, reverse=True))
        by_length = tuple(
            (n, MappingProxyType({p: op for p, op in routes.items() if len(p) == n}))
            for n in lengths
        )
        object.__setattr__(self, "_lengths", lengths)
        object.__setattr__(self, "_by_length", by_length)
        object.__setattr__(self, "version", version)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"PrefixTable is immutable (tried to set {name})")

    @classmethod
    def from_toml(cls, text: str) -> PrefixTable:
        """Parse and validate the text of a prefix file such as `config/prefixes_ke.toml`."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PrefixTableError(f"prefix file is not valid TOML: {exc}") from None
        return cls.from_mapping(data, text=text)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, text: str | None = None) -> PrefixTable:
        """Validate parsed TOML (`text`, when given, lets errors name the line)."""
        return _Builder(text).build(data)

    @property
    def routes(self) -> Mapping[str, Operator | None]:
        """Every prefix (international form) and what it routes to, read-only."""
        return self._routes

    def match(self, msisdn: str) -> PrefixMatch | None:
        """The longest prefix of the canonical `msisdn` in the table, or None."""
        for length, routes in self._by_length:
            prefix = msisdn[:length]
            if prefix in routes:
                return PrefixMatch(prefix, routes[prefix])
        return None

    def operator_for(self, msisdn: str) -> Operator | None:
        """The operator of the canonical `msisdn`; None for unrouted or unknown ranges."""
        for length, routes in self._by_length:
            prefix = msisdn[:length]
            if prefix in routes:
                return routes[prefix]
        return None

    def __len__(self) -> int:
        return len(self._routes)

    def __repr__(self) -> str:
        return f"PrefixTable(version={self.version!r}, prefixes={len(self._routes)})"


class PrefixTableHolder:
    """The reference the daemon reads on every lookup and swaps on SIGHUP.

    Replacing is one attribute assignment, so a reader sees the old or the new table, never a
    mixture; `reload_toml` validates first and keeps the running table when the file is bad.
    """

    __slots__ = ("_table",)

    def __init__(self, table: PrefixTable) -> None:
        self._table = table

    @property
    def current(self) -> PrefixTable:
        return self._table

    def replace(self, table: PrefixTable) -> PrefixTable:
        """Install `table`; returns the table it replaced."""
        old, self._table = self._table, table
        return old

    def reload_toml(self, text: str) -> PrefixTable:
        """Parse `text` and install it (PrefixTableError leaves the current table in place)."""
        table = PrefixTable.from_toml(text)
        self.replace(table)
        return table


class _Builder:
    """Turns the parsed file into routes, naming the line of whatever is wrong."""

    def __init__(self, text: str | None) -> None:
        self._lines = text.splitlines() if text is not None else []
        self._routes: dict[str, Operator | None] = {}
        self._origins: dict[str, _Origin] = {}

    def build(self, data: Mapping[str, Any]) -> PrefixTable:
        version = data.get("version", "")
        if not isinstance(version, str):
            raise PrefixTableError(f"version: must be a string{self._at('version')}")
        for section, body in data.items():
            if section != "version":
                self._section(section, body)
        if not self._routes:
            raise PrefixTableError("prefix file lists no prefixes")
        return PrefixTable(self._routes, version)

    def _section(self, section: str, body: object) -> None:
        operator = self._operator(section)
        if not isinstance(body, Mapping):
            raise PrefixTableError(f"[{section}]: must be a table{self._at(f'[{section}]')}")
        unknown = sorted(set(body) - {"prefixes"})
        if unknown:
            raise PrefixTableError(
                f"[{section}]: unknown key {unknown[0]!r}{self._at(unknown[0])} "
                "(only 'prefixes' is allowed)"
            )
        prefixes = body.get("prefixes")
        if not isinstance(prefixes, list) or not prefixes:
            raise PrefixTableError(f"[{section}]: 'prefixes' must be a non-empty list")
        for token in prefixes:
            self._token(section, operator, token)

    def _operator(self, section: str) -> Operator | None:
        if section == UNROUTED_SECTION:
            return None
        try:
            return Operator(section)
        except ValueError:
            known = ", ".join([*(op.value for op in Operator), UNROUTED_SECTION])
            raise PrefixTableError(
                f"[{section}]{self._at(f'[{section}]')}: unknown operator (known: {known})"
            ) from None

    def _token(self, section: str, operator: Operator | None, token: object) -> None:
        if not isinstance(token, str):
            raise PrefixTableError(f"[{section}]: prefix {token!r} must be a quoted string")
        for national in self._expand(section, token):
            key = COUNTRY_CODE + national[1:]
            if key in self._origins:
                first = self._origins[key]
                here = self._at(token, last=True)
                there = self._at(first.token)
                raise PrefixTableError(
                    f"[{section}]: prefix {national} from {token!r}{here} is already given "
                    f"in [{first.section}] by {first.token!r}{there}"
                )
            self._origins[key] = _Origin(section, token)
            self._routes[key] = operator

    def _expand(self, section: str, token: str) -> list[str]:
        start, _, end = token.partition("-")
        end = end or start
        for part in (start, end):
            self._check_national(section, token, part)
        if len(start) != len(end) or int(start) > int(end):
            raise PrefixTableError(
                f"[{section}]: range {token!r}{self._at(token)} must run upwards between "
                "prefixes of equal length"
            )
        width = len(start)
        size = int(end) - int(start) + 1
        if size > MAX_RANGE_SIZE:
            raise PrefixTableError(
                f"[{section}]: range {token!r}{self._at(token)} covers {size} prefixes "
                f"(at most {MAX_RANGE_SIZE}; use a shorter prefix)"
            )
        return [str(n).zfill(width) for n in range(int(start), int(end) + 1)]

    def _check_national(self, section: str, token: str, part: str) -> None:
        if not (part.isascii() and part.isdigit()):
            raise PrefixTableError(
                f"[{section}]: prefix {token!r}{self._at(token)} must be digits "
                "(national form like '0722' or a range like '0700-0729')"
            )
        if not part.startswith("0") or not 2 <= len(part) <= _MAX_PREFIX_DIGITS + 1:
            raise PrefixTableError(
                f"[{section}]: prefix {token!r}{self._at(token)} must be in national form: "
                "a 0 then 1 to 9 digits"
            )

    def _at(self, token: str, *, last: bool = False) -> str:
        """' (line N)': the first (or last) line holding `token`, quoted or as a [section]."""
        needle = token if token.startswith("[") else f'"{token}"'
        found = [
            number
            for number, line in enumerate(self._lines, start=1)
            if needle in line.split("#", 1)[0]
            or (not token.startswith("[") and line.lstrip().startswith(f"{token} ="))
        ]
        if not found:
            return ""
        return f" (line {found[-1] if last else found[0]})"
