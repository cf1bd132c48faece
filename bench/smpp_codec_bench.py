"""Codec figure: submit_sm encode+decode round trips per second (one process, one core).

    .venv/bin/python bench/smpp_codec_bench.py [seconds]

Prints one JSON object: round trips, encode-only and decode-only rates.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

from smpp.core.codec import decode, encode
from smpp.core.pdu import SubmitSm

PDU = SubmitSm(
    source_addr_ton=5,
    source_addr="KIMISMS",
    dest_addr_ton=1,
    dest_addr_npi=1,
    destination_addr="254712345678",
    registered_delivery=1,
    short_message=b"Your verification code is 482913. It expires in 10 minutes.",
)


def rate(call: Callable[[int], object], seconds: float) -> float:
    """Calls of call(i) per second over about `seconds`."""
    n, batch, start = 0, 2000, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for i in range(n + 1, n + batch + 1):
            call(i)
        n += batch
    return n / elapsed


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    wire = encode(PDU, 1)
    result = {
        "codec_roundtrips_per_s": round(rate(lambda i: decode(encode(PDU, i)), seconds)),
        "encode_per_s": round(rate(lambda i: encode(PDU, i), seconds / 2)),
        "decode_per_s": round(rate(lambda i: decode(wire), seconds / 2)),
        "frame_octets": len(wire),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
