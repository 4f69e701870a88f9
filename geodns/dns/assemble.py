"""Reply bytes from parts: pre-encoded policy answers (fast path) and parsed replies (slow)."""

from __future__ import annotations

import struct

from geodns import wire as w
from geodns.dns.answer import Reply
from geodns.geo import ecs
from geodns.table import FastEntry, heads, response_flags

NX_HEADS = heads(True, w.RCODE_NXDOMAIN, 0, 1, 0)
_NODATA_HEADS = heads(True, 0, 0, 1, 0)
_ANSWER_HEADS = [heads(True, 0, n, 0, 0) for n in range(16)]


class Opts:
    """Our OPT record, pre-encoded for one max_udp_payload: without options, and the head
    of one that carries the ECS echo (geo.ecs.echo gives its RDLENGTH and option), each by
    the DO bit."""

    __slots__ = ("ecs_head", "payload", "plain")

    def __init__(self, payload: int) -> None:
        self.payload = payload
        self.plain = (w.opt_rr(payload, 0, 0, b""), w.opt_rr(payload, 0, w.EDNS_DO, b""))
        self.ecs_head = (
            b"\x00\x00\x29" + struct.pack("!HI", payload, 0),
            b"\x00\x00\x29" + struct.pack("!HI", payload, w.EDNS_DO),
        )


def policy_reply(
    data: bytes, end: int, entry: FastEntry, variant: int, tail: tuple, opt: bytes
) -> bytes:
    """A policy answer without parsing objects: the query's ID and question around the
    decision's records (`tail` = (count, records, scope, ...)); NODATA carries the SOA.
    `variant` picks the header flags (+4 when `opt`, our OPT, is there)."""
    count, records = tail[0], tail[1]
    if count == 0:
        head, records = _NODATA_HEADS, entry.body
    elif count < 16:
        head = _ANSWER_HEADS[count]
    else:
        head = heads(True, 0, count, 0, 0)
    return b"".join((data[:2], head[variant], data[12:end], records, opt))


def reply(
    q: w.Query, answer: Reply, max_size: int, opts: Opts, ecs_body: bytes | None, scope: int
) -> bytes:
    """The slow path's reply: sections, our OPT (with the ECS echo when `ecs_body`), and TC
    with no records when it does not fit the limit: `max_size` raised by the query's EDNS
    payload up to ours (RFC 6891 6.2.5)."""
    edns = q.edns
    opt = b""
    limit = max_size
    if edns is not None:
        options = b"" if ecs_body is None else ecs.option(ecs_body, scope)
        opt = w.opt_rr(opts.payload, answer.rcode >> 4, edns.flags, options)
        limit = max(limit, min(edns.payload, opts.payload))
    an, ns, ar = answer.answer, answer.authority, answer.additional
    flags = response_flags(q.flags, answer.aa, answer.rcode)
    n_an, n_ns, n_ar = answer.counts
    head = struct.pack("!HHHHHH", q.id, flags, 1, n_an, n_ns, n_ar + bool(opt))
    msg = head + q.question + b"".join(an) + b"".join(ns) + b"".join(ar) + opt
    if len(msg) > limit:
        flags = response_flags(q.flags, answer.aa, answer.rcode, tc=True)
        head = struct.pack("!HHHHHH", q.id, flags, 1, 0, 0, int(bool(opt)))
        msg = head + q.question + opt
    return msg


def error(data: bytes, rcode: int, opts: Opts, with_opt: bool) -> bytes:
    """FORMERR or NOTIMP: the ID, the question when it can be read, our OPT when the query's
    fault was inside its OPT record."""
    qid, qflags = struct.unpack_from("!HH", data)
    end = w.question_end(data) if data[4:6] == b"\x00\x01" else -1
    question = data[12:end] if end > 0 else b""
    opt = opts.plain[0] if with_opt else b""
    flags = response_flags(qflags & ~0x0010, False, rcode)
    head = struct.pack("!HHHHHH", qid, flags, 1 if question else 0, 0, 0, int(bool(opt)))
    return head + question + opt
