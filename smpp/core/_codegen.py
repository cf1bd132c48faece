"""Straight-line encoders and decoders compiled from the codec's layout table.

The codec's table-driven loop is the reference; these functions do the same work in a few C
calls (one ``%`` format and one latin-1 encoding to encode, one latin-1 decoding and one regular
expression to decode, a slot-filling constructor), generated from the same table as
`dataclasses` and `namedtuple` generate their methods. The loop over fields and the frozen
dataclass ``__init__`` cost several times the per-PDU budget. Any irregular input makes them
raise `Fallback` (or a conversion error, see `FAST_ERRORS`), and the codec then runs its
reference loop, which reports the precise error. Tests check that both paths agree.
"""

from __future__ import annotations

import dataclasses
import re
import struct
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, cast

from smpp.core.pdu import Pdu

T = TypeVar("T")


class Fallback(Exception):
    """The fast path saw something irregular; run the reference path."""


class StepLike(Protocol):
    """What the generator reads from a codec layout step."""

    @property
    def kind(self) -> Any: ...
    @property
    def names(self) -> tuple[str, ...]: ...
    @property
    def size(self) -> int: ...
    @property
    def packer(self) -> struct.Struct | None: ...


FAST_ERRORS = (
    Fallback,
    struct.error,
    IndexError,
    UnicodeError,
    AttributeError,
    TypeError,
    ValueError,
    OverflowError,
)
"""Exceptions after which the codec re-runs the reference path."""


def make_builder(cls: type[T]) -> Callable[..., T]:
    """A constructor of the frozen, slotted dataclass `cls` taking every field positionally;
    the result equals ``cls(*fields)`` (no ``__post_init__`` is run: use it only for classes
    without one).

    A frozen dataclass assigns each field through ``object.__setattr__``, which costs about
    ten times a plain slot store; for a 20-field submit_sm that was half the decoding time.
    The builder fills an instance of a private subclass that adds no slots and restores the
    ordinary ``__setattr__`` (so the interpreter's fast slot store applies), then gives it its
    real class: same slots, same layout, so the ``__class__`` assignment is allowed, and the
    object is an ordinary, frozen instance of `cls` from then on.
    """
    names = [f.name for f in dataclasses.fields(cast(Any, cls))]
    filler = type(
        f"_{cls.__name__}Filler",
        (cls,),
        {"__slots__": (), "__setattr__": object.__setattr__, "__delattr__": object.__delattr__},
    )
    env: dict[str, Any] = {"new": object.__new__, "Filler": filler, "cls": cls}
    lines = [f"def build({', '.join(names)}):", "    obj = new(Filler)"]
    lines += [f"    obj.{n} = {n}" for n in names]
    lines += ["    obj.__class__ = cls", "    return obj"]
    return _compile("\n".join(lines), env, "build")


def make_encoder(
    steps: tuple[StepLike, ...],
    kinds: Mapping[str, Any],
    header: struct.Struct,
    command_id: int,
    default_body: bytes | None,
    encode_tlvs: Callable[[Mapping[int, bytes]], bytes],
) -> Callable[[Pdu, int], bytes]:
    """`encode_pdu(pdu, sequence_number) -> bytes`: the whole PDU, header included.

    The body is one ``%`` format over latin-1 text (``%s`` and a NUL per C-octet string,
    ``%c`` per octet) encoded once; an octet over 255 or a non-latin-1 character fails the
    encoding and sends the PDU to the reference path, which names the field.
    `default_body` (responses only) is the body of an all-default PDU: with a non-zero
    command_status and no TLVs, such a body is left out, as SMPP 3.4 does.
    """
    env: dict[str, Any] = {
        "Fallback": Fallback,
        "pack": header.pack,
        "CID": command_id,
        "DEFAULT_BODY": default_body,
        "encode_tlvs": encode_tlvs,
    }
    fmt: list[str] = []
    args: list[str] = []
    checks: list[str] = []
    fetch: list[str] = []
    tail = ""
    for i, step in enumerate(steps):
        if step.kind is kinds["cstr"]:
            fetch.append(f"    s{i} = pdu.{step.names[0]}")
            fmt.append("%s\0")
            args.append(f"s{i}")
            checks += [f"len(s{i}) >= {step.size}", f"'\\0' in s{i}"]
        elif step.kind is kinds["ints"]:
            fmt.append("%c" * len(step.names))
            args += [f"pdu.{n}" for n in step.names]
        else:
            fetch.append(f"    s{i} = pdu.{step.names[0]}")
            fmt.append("%c")
            args.append(f"len(s{i})")
            checks += [f"s{i}.__class__ is not bytes", f"len(s{i}) > 254"]
            tail = f" + s{i}"
    env["FMT"] = "".join(fmt)
    lines = ["def encode_pdu(pdu, seq):", *fetch]
    if checks:
        lines += [f"    if {' or '.join(checks)}:", "        raise Fallback"]
    if args:
        lines.append(f"    body = (FMT % ({', '.join(args)},)).encode('latin-1'){tail}")
    else:
        lines.append("    body = b''")
    lines += ["    status = pdu.command_status", "    tlvs = pdu.tlvs", "    if tlvs:"]
    lines.append("        body += encode_tlvs(tlvs)")
    if default_body is not None and args:
        lines += ["    elif status and body == DEFAULT_BODY:", "        body = b''"]
    lines.append("    return pack(16 + len(body), CID, status, seq) + body")
    return _compile("\n".join(lines), env, "encode_pdu")


def make_decoder(
    steps: tuple[StepLike, ...],
    kinds: Mapping[str, Any],
    build: Callable[..., Pdu],
    decode_tlvs: Callable[[bytes, int, int, int, int], Mapping[int, bytes]],
    empty_tlvs: Mapping[int, bytes],
    command_id: int,
) -> Callable[[bytes, int, int, int], Pdu]:
    """`decode_body(frame, n, seq, status) -> Pdu` for a frame whose header was checked.

    The frame is decoded once as latin-1 text (one character per octet) and one regular
    expression of the layout takes every field: ``([^\\0]{0,max})\\0`` per C-octet string,
    ``(.)`` per octet. No match (a missing NUL, an over-long string, a short body) sends the
    frame to the reference path, which names the fault.
    """
    env: dict[str, Any] = {
        "Fallback": Fallback,
        "build": build,
        "decode_tlvs": decode_tlvs,
        "EMPTY": empty_tlvs,
        "CID": command_id,
    }
    pattern: list[str] = []
    names: list[str] = []
    values: list[str] = []
    sm = ""
    for i, step in enumerate(steps):
        if step.kind is kinds["cstr"]:
            pattern.append(f"([^\\0]{{0,{step.size - 1}}})\\0")
            names.append(f"v{i}")
            values.append(f"v{i}")
        elif step.kind is kinds["ints"]:
            for j in range(len(step.names)):
                pattern.append("(.)")
                names.append(f"v{i}_{j}")
                values.append(f"ord(v{i}_{j})")
        else:
            pattern.append("(.)")
            names.append(f"v{i}_len")
            sm = f"v{i}"
            values.append(sm)
    env["match"] = re.compile("".join(pattern), re.DOTALL).match
    lines = ["def decode_body(frame, n, seq, status):"]
    if names:
        lines += [
            "    m = match(frame.decode('latin-1'), 16)",
            "    if m is None:",
            "        raise Fallback",
            f"    {', '.join(names)}, = m.groups()",
            "    p = m.end()",
        ]
    else:
        lines.append("    p = 16")
    if sm:
        lines += [
            f"    e = p + ord({sm}_len)",
            "    if e > n:",
            "        raise Fallback",
            f"    {sm} = frame[p:e]",
            "    p = e",
        ]
    lines.append("    tlvs = EMPTY if p == n else decode_tlvs(frame, p, n, seq, CID)")
    lines.append(f"    return build(seq, status, tlvs, {', '.join(values)})")
    return _compile("\n".join(lines), env, "decode_body")


def _compile(source: str, env: dict[str, Any], name: str) -> Callable[..., Any]:
    exec(compile(source, f"<smpp.core.codec {name}>", "exec"), env)
    fn: Callable[..., Any] = env[name]
    return fn
