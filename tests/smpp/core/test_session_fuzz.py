"""EsmeSession under random valid and invalid traffic: it never raises from its inputs and
every submitted ref gets exactly one outcome."""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from smpp.core.codec import encode
from smpp.core.events import Closed, LateResponse, ResponseTimeout, SubmitResponse
from smpp.core.pdu import (
    AlertNotification,
    BindTransceiverResp,
    DataSm,
    DataSmResp,
    DeliverSm,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Outbind,
    Pdu,
    QuerySmResp,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    UnknownPdu,
)
from smpp.core.session import EsmeSession, SessionConfig, SessionError
from smpp.core.status import CommandStatus as St

seqs = st.integers(1, 12)
statuses = st.sampled_from([0, 0, 0, St.ESME_RTHROTTLED, St.ESME_RMSGQFUL, St.ESME_RSYSERR, 0x401])
peer_pdus: st.SearchStrategy[Pdu] = st.one_of(
    st.builds(SubmitSmResp, sequence_number=seqs, command_status=statuses, message_id=st.just("m")),
    st.builds(DataSmResp, sequence_number=seqs, command_status=statuses),
    st.builds(QuerySmResp, sequence_number=seqs),
    st.builds(GenericNack, sequence_number=st.integers(0, 12), command_status=statuses),
    st.builds(BindTransceiverResp, sequence_number=seqs, command_status=statuses),
    st.builds(EnquireLinkResp, sequence_number=seqs),
    st.builds(UnbindResp, sequence_number=seqs),
    st.builds(EnquireLink, sequence_number=st.integers(1, 1000)),
    st.builds(DeliverSm, sequence_number=st.integers(1, 1000), short_message=st.binary(max_size=5)),
    st.builds(DataSm, sequence_number=st.integers(1, 1000)),
    st.builds(AlertNotification, sequence_number=st.integers(1, 1000)),
    st.builds(Outbind, sequence_number=st.integers(1, 1000)),
    st.builds(
        UnknownPdu,
        sequence_number=st.integers(1, 1000),
        raw_command_id=st.sampled_from([0x21, 0x80000021, 0x0C]),
    ),
    st.builds(Unbind, sequence_number=st.integers(1, 1000)),
)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("peer"), st.lists(peer_pdus, min_size=1, max_size=3), st.integers(0, 50)),
        st.tuples(st.just("junk"), st.binary(min_size=1, max_size=40)),
        st.tuples(st.just("submit"), st.integers(1, 3)),
        st.tuples(st.just("time"), st.floats(0.0, 20.0)),
        st.tuples(st.just("ack"), st.integers(1, 1000)),
        st.tuples(st.just("unbind")),
        st.tuples(st.just("eof")),
    ),
    max_size=40,
)


@settings(max_examples=250, deadline=None)
@given(ops=ops)
def test_every_ref_gets_one_outcome_and_inputs_never_raise(ops: list[tuple[Any, ...]]) -> None:
    config = SessionConfig(
        system_id="a", password="b", window=4, response_timeout=5.0, enquire_link_interval=8.0
    )
    s = EsmeSession(config)
    s.bind(0.0)
    s.receive_data(encode(BindTransceiverResp(sequence_number=1, system_id="x")), 0.0)
    now = 0.0
    submitted: list[int] = []
    outcomes: Counter[object] = Counter()
    timed_out: set[object] = set()
    closed = 0
    next_ref = 0
    for op in ops:
        kind = op[0]
        if kind == "peer":
            wire = b"".join(encode(p) for p in op[1])
            cut = op[2] % (len(wire) + 1)
            for chunk in (wire[:cut], wire[cut:]):
                if chunk:
                    s.receive_data(chunk, now)
        elif kind == "junk":
            s.receive_data(op[1], now)
        elif kind == "submit":
            for _ in range(op[1]):
                if s.can_submit(now):
                    s.submit(SubmitSm(destination_addr="1"), next_ref, now)
                    submitted.append(next_ref)
                    next_ref += 1
        elif kind == "time":
            now += op[1]
            timer = s.get_timer()
            if timer is not None and timer <= now:
                s.handle_timer(now)
        elif kind == "ack":
            with contextlib.suppress(SessionError):
                s.ack_deliver(op[1])
        elif kind == "unbind":
            s.unbind(now)
        else:
            s.receive_data(b"", now)
        s.data_to_send()
        while (e := s.next_event()) is not None:
            if isinstance(e, SubmitResponse):
                outcomes[e.ref] += 1
            elif isinstance(e, ResponseTimeout):
                outcomes[e.ref] += 1
                timed_out.add(e.ref)
            elif isinstance(e, LateResponse):
                assert e.ref in timed_out
            elif isinstance(e, Closed):
                closed += 1
                for ref in e.in_flight:
                    outcomes[ref] += 1
        assert s.in_flight <= config.window
        if s.closed:
            assert s.get_timer() is None
    s.receive_data(b"", now)
    while (e := s.next_event()) is not None:
        if isinstance(e, Closed):
            closed += 1
            for ref in e.in_flight:
                outcomes[ref] += 1
        elif isinstance(e, SubmitResponse | ResponseTimeout):
            outcomes[e.ref] += 1
    assert closed == 1
    assert all(outcomes[r] == 1 for r in submitted), (submitted, outcomes)
    assert set(outcomes) <= set(submitted)
