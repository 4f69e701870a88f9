"""Reply bytes from parts: our OPT record pre-encoded, and the handler's replies and errors."""

from __future__ import annotations

import struct

from geodns import wire as w
from geodns.dns.answer import Reply
from geodns.geo import ecs
from geodns.table import response_flags


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


def reply(
    q: w.Query,
    answer: Reply,
    max_size: int,
    opts: Opts,
    ecs_body: bytes | None,
    scope: int,
    cookie: bytes = b"",
) -> bytes:
    """The slow path's reply: sections, our OPT (with the ECS echo when `ecs_body`, then
    our `cookie` option), and TC with no records when it does not fit the limit:
    `max_size` raised by the query's EDNS payload up to ours (RFC 6891 6.2.5)."""
    edns = q.edns
    opt = b""
    limit = max_size
    if edns is not None:
        options = (b"" if ecs_body is None else ecs.option(ecs_body, scope)) + cookie
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


def limited(data: bytes, resp: bytes, opts: Opts, cookie: bytes) -> bytes:
    """What a rate-limited client gets instead of `resp` (a slip): BADCOOKIE with a fresh
    server cookie when its query carried a client cookie (RFC 7873 5.2.3: its retry then
    carries a valid one and is not limited), else TC and no records, so a real client
    retries over TCP. The question and our OPT (when the query had one) stay."""
    end = w.question_end(resp) if resp[4:6] == b"\x00\x01" else -1
    if end < 0:
        end = 12
    flags = resp[2] << 8 | resp[3]
    opt = b""
    if data[10:12] != b"\x00\x00" and data[end : end + 3] == b"\x00\x00\x29":
        do = w.EDNS_DO if len(data) > end + 7 and data[end + 7] & 0x80 else 0
        if cookie:
            flags = (flags & ~0x040F) | (w.RCODE_BADCOOKIE & 0xF)
            opt = w.opt_rr(opts.payload, w.RCODE_BADCOOKIE >> 4, do, cookie)
        else:
            opt = opts.plain[1 if do else 0]
    if not cookie or not opt:
        flags |= 0x0200  # TC
    head = struct.pack("!HHHHH", flags, int(end > 12), 0, 0, int(bool(opt)))
    return data[:2] + head + resp[12:end] + opt
