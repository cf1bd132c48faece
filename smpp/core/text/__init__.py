"""Outbound and inbound SMS text: GSM-7 or UCS-2, long-message parts, reassembly.

`plan_message` turns a text into the submit_sm parts an SMSC wants; `count_parts` and
`text_info` give the counts billing uses; `concat_info`, `reassemble` and
`decode_short_message` read inbound traffic.
"""

from smpp.core.text.encoding import (
    DATA_CODING_DEFAULT,
    DATA_CODING_UCS2,
    DecodedText,
    Encoding,
    TextInfo,
    decode_short_message,
    text_info,
)
from smpp.core.text.inbound import (
    ConcatInfo,
    InboundPart,
    concat_info,
    message_octets,
    reassemble,
    split_udh,
)
from smpp.core.text.plan import (
    ESM_CLASS_UDHI,
    MAX_PARTS,
    LongMessageMethod,
    MessagePlan,
    PartPlan,
    count_parts,
    plan_message,
)

__all__ = [
    "DATA_CODING_DEFAULT",
    "DATA_CODING_UCS2",
    "ESM_CLASS_UDHI",
    "MAX_PARTS",
    "ConcatInfo",
    "DecodedText",
    "Encoding",
    "InboundPart",
    "LongMessageMethod",
    "MessagePlan",
    "PartPlan",
    "TextInfo",
    "concat_info",
    "count_parts",
    "decode_short_message",
    "message_octets",
    "plan_message",
    "reassemble",
    "split_udh",
    "text_info",
]
