"""Pure routing: number normalisation, prefix table to operator, sender selection.

No I/O and no clock: the composition root reads `config/prefixes_ke.toml` and hands its text
to `PrefixTable.from_toml`; the daemon keeps the table in a `PrefixTableHolder` and swaps it on
SIGHUP.
"""

from routing.numbers import InvalidNumber, is_canonical, normalise
from routing.operators import Operator
from routing.prefixes import PrefixMatch, PrefixTable, PrefixTableError, PrefixTableHolder
from routing.senders import (
    NO_MATCHING_SENDER,
    DuplicateOperatorSender,
    HasOperator,
    NoMatchingSender,
    Route,
    SenderChoice,
    SenderSelection,
)

__all__ = [
    "NO_MATCHING_SENDER",
    "DuplicateOperatorSender",
    "HasOperator",
    "InvalidNumber",
    "NoMatchingSender",
    "Operator",
    "PrefixMatch",
    "PrefixTable",
    "PrefixTableError",
    "PrefixTableHolder",
    "Route",
    "SenderChoice",
    "SenderSelection",
    "is_canonical",
    "normalise",
]
