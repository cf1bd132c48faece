"""Codec figure: submit_sm encode+decode round trips per second (one process, one core).

    .venv/bin/python bench/smpp_codec_bench.py [seconds]

Prints one JSON object: round trips (per wall-clock and per CPU second), encode-only and
decode-only rates, and submit_sm -> resp through one EsmeSession in memory (the response
encoding, done by the SMSC in real life, is included in that last figure).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

from smpp.core.codec import decode, encode
from smpp.core.pdu import BindTransceiverResp, SubmitSm, SubmitSmResp
from smpp.core.session import EsmeSession, SessionConfig

PDU = SubmitSm(
    source_addr_ton=5,
    source_addr="KIMISMS",
    dest_addr_ton=1,
    dest_addr_npi=1,
    destination_addr="254712345678",
    registered_delivery=1,
    short_message=b"Your verification code is 482913. It expires in 10 minutes.",
)


def rate(call: Callable[[int], object], seconds: float) -> tuple[float, float]:
    """Calls of call(i) per wall-clock second and per CPU second over about `seconds`
    (on a machine shared with other work the CPU figure is the steadier one)."""
    n, batch = 0, 2000
    start, cpu_start = time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - start) < seconds:
        for i in range(n + 1, n + batch + 1):
            call(i)
        n += batch
    return n / elapsed, n / max(time.process_time() - cpu_start, 1e-9)


def session_rate(seconds: float, window: int = 100) -> tuple[float, float]:
    """submit_sm -> submit_sm_resp through one EsmeSession in memory (no socket), the
    SMSC's response encoding included."""
    session = EsmeSession(SessionConfig(system_id="bench", password="x", window=window))
    session.bind(0.0)
    session.data_to_send()
    session.receive_data(encode(BindTransceiverResp(sequence_number=1)), 0.0)
    session.next_event()
    n, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - start) < seconds:
        seqs = [session.submit(PDU, i, 1.0) for i in range(window)]
        session.data_to_send()
        resps = [encode(SubmitSmResp(message_id=f"{q:08x}"), q) for q in seqs]
        session.receive_data(b"".join(resps), 1.0)
        while session.next_event() is not None:
            n += 1
        session.get_timer()
    return n / elapsed, n / max(time.process_time() - cpu_start, 1e-9)


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    wire = encode(PDU, 1)
    roundtrip = rate(lambda i: decode(encode(PDU, i)), seconds)
    enc = rate(lambda i: encode(PDU, i), seconds / 2)
    dec = rate(lambda i: decode(wire), seconds / 2)
    result = {
        "codec_roundtrips_per_s": round(roundtrip[0]),
        "codec_roundtrips_per_cpu_s": round(roundtrip[1]),
        "encode_per_s": round(enc[0]),
        "decode_per_s": round(dec[0]),
        "frame_octets": len(wire),
        "session_submit_resp_per_s": round(session_rate(seconds)[0]),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
