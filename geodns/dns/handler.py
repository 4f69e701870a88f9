"""handle(query bytes, peer) -> reply bytes: all DNS logic, no I/O."""

from __future__ import annotations

import ipaddress
import logging
import random
import struct
from dataclasses import dataclass, field
from typing import Any

from geodns import wire as w
from geodns.dns.answer import Answerer, Reply
from geodns.dns.cache import REPLIES_LIMIT, Memos
from geodns.dns.stats import Stats
from geodns.model import FROM_SOURCE, AllUp, Client, HealthView
from geodns.table import FAST_FLAGS, FAST_MASK, STATIC, Table, heads, response_flags

qlog = logging.getLogger("geodns.query")
_QD1 = b"\x00\x01\x00\x00\x00\x00"
_AR0, _AR1 = b"\x00\x00", b"\x00\x01"
_OPT_ROOT = b"\x00\x00\x29"
_ECS_CODE = b"\x00\x08"
_SCOPES = [bytes([i]) for i in range(129)]
_NX_HEADS = heads(True, w.RCODE_NXDOMAIN, 0, 1, 0)
_VALID = (None, None, 0, 0, None, None, None)  # an ECS option checked, nothing else known
_NODATA_HEADS = heads(True, 0, 0, 1, 0)
_ANSWER_HEADS = [heads(True, 0, n, 0, 0) for n in range(16)]
_ECS_LENGTHS = [struct.pack("!HHH", n + 4, 8, n) for n in range(21)]  # by option length


@dataclass(slots=True)
class Outcome:
    """What happened to one query, for query logs and explain (filled only when asked)."""

    rcode: int = 0
    zone: str | None = None
    client: Client | None = None
    scope: int = 0
    trace: list[str] = field(default_factory=list)
    pool: str | None = None


class Handler:
    """Answers queries from the current table; `table` is swapped whole on reload."""

    def __init__(
        self,
        table: Table,
        clients: Any,
        health: HealthView | None = None,
        *,
        max_udp_payload: int = 1232,
        ecs_enabled: bool = True,
        rng: random.Random | None = None,
        stats: Stats | None = None,
    ) -> None:
        self.table = table
        self.clients = clients
        self.health = health or AllUp()
        self.max_udp_payload = max_udp_payload
        self.ecs_enabled = ecs_enabled
        self.stats = stats or Stats()
        # every memo this process keeps while answering, behind one bound (dns/cache.py)
        self.memos = Memos(self.health, limit=max(clients.cache_size, 1) if clients else 131072)
        self.answerer = Answerer(self.health, rng or random.Random(), self.stats, self.memos)
        self._opt_plain = (
            w.opt_rr(max_udp_payload, 0, 0, b""),
            w.opt_rr(max_udp_payload, 0, w.EDNS_DO, b""),
        )
        self._opt_ecs_head = (
            b"\x00\x00\x29" + struct.pack("!HI", max_udp_payload, 0),
            b"\x00\x00\x29" + struct.pack("!HI", max_udp_payload, w.EDNS_DO),
        )
        self.query_sample = 0.0  # fraction of queries logged with their decision (log.queries)
        self._log_rng = random.Random()
        self._admit = 0  # one in 8 answers is offered to the whole-reply memo

    def clear_caches(self) -> None:
        """Forget every cached client, decision and reply (new GeoIP data, ECS settings)."""
        self.memos.clear()

    # --- fast path -------------------------------------------------------------------

    def handle(self, data: bytes, host: str, tcp: bool = False) -> bytes | None:
        """Reply bytes for one query, or None when it must be dropped (responses, runts)."""
        if self.query_sample and self._log_rng.random() < self.query_sample:
            return self._logged(data, host, tcp)
        variant = FAST_FLAGS.get(data[2:4])
        if variant is not None and data[4:10] == _QD1:
            end = data.find(b"\x00", 12) + 5
            question = data[12:end]
            entry = self.table.fast[hash(question) & FAST_MASK].get(question)
            ar = data[10:12]
            if entry is not None:
                if ar == _AR0 and len(data) == end:
                    if entry.kind == STATIC:
                        resp = data[:2] + entry.heads[variant] + question + entry.body
                    else:
                        client = self.clients.from_source(host)
                        resp = self._policy(data, end, entry, variant, client, None, 0, 32)
                    if tcp or len(resp) <= 512:
                        self.stats.count(entry.zone, entry.qtype, 0, tcp)
                        return resp
                elif ar == _AR1 and data[end : end + 3] == _OPT_ROOT and len(data) >= end + 11:
                    resp = self._fast_edns(data, end, entry, variant, host, tcp)
                    if resp is not None:
                        self.stats.count(entry.zone, entry.qtype, 0, tcp)
                        return resp
            elif end > 4:
                resp = self._fast_negative(data, end, variant, ar, tcp)
                if resp is not None:
                    return resp
        return self.slow(data, host, tcp)

    def _fast_edns(self, data, end, entry, variant, host, tcp) -> bytes | None:
        if entry.kind != STATIC:  # the very same query bytes were answered before?
            hit = self.memos.replies.get(data[2:])
            if (
                hit is not None
                and hit[0] is entry
                and hit[1] == self.memos.stamp(entry.policy)
                and (tcp or hit[4])
                and self.ecs_enabled
            ):
                self.stats.by_pool[hit[3]] += 1
                return data[:2] + hit[2]
        rdlen = data[end + 9] << 8 | data[end + 10]
        if len(data) != end + 11 + rdlen or data[end + 6]:  # EDNS version > 0: BADVERS
            return None
        do = 1 if data[end + 7] & 0x80 else 0
        udp_limit = data[end + 3] << 8 | data[end + 4]  # min(max(payload, 512), ours)
        if udp_limit > self.max_udp_payload:
            udp_limit = self.max_udp_payload
        elif udp_limit < 512:
            udp_limit = 512
        limit = 65535 if tcp else udp_limit
        if rdlen == 0:
            if entry.kind == STATIC:
                resp = data[:2] + entry.heads[variant + 4] + data[12:end] + entry.body
                resp += self._opt_plain[do]
            else:
                client = self.clients.from_source(host)
                resp = self._policy(data, end, entry, variant, client, b"", do, 32)
            return resp if len(resp) <= limit else None
        ecs_raw = _only_ecs(data, end, rdlen) if self.ecs_enabled else None
        if ecs_raw is None:
            return None
        memo = self.memos.options.get(ecs_raw)
        if entry.kind == STATIC:
            if memo is None:
                try:
                    w.parse_ecs(ecs_raw)
                except w.FormErr:
                    return None  # malformed ECS: the slow path answers FORMERR
                self._note(ecs_raw, _VALID)
            resp = data[:2] + entry.heads[variant + 4] + data[12:end] + entry.body
            resp += self._opt_ecs_head[do] + _ecs_tail(ecs_raw, 0)
            return resp if len(resp) <= limit else None
        vd = variant + 4 * do
        clients = self.clients
        facts = None
        if memo is not None:
            if memo[1] is entry and memo[2] == vd and memo[3] == self.memos.stamp(entry.policy):
                resp = b"".join((data[:2], memo[4], data[12:end], memo[5], ecs_raw[4:]))
                if len(resp) > limit:
                    return None
                self.stats.by_pool[memo[6]] += 1
                clients.hits += 1
                self._admit = admit = (self._admit + 1) & 7
                if not admit:
                    self._keep_reply(data, resp, memo[6], udp_limit, entry)
                return resp
            facts = memo[0]
        if facts is None:
            facts = clients.option_facts(ecs_raw)
            if facts is None:
                return None  # malformed ECS: the slow path answers FORMERR
        else:
            clients.hits += 1
        answerer = self.answerer
        if facts is FROM_SOURCE:  # "decide by the packet source", and say so with scope 0
            tail = answerer.policy_records(entry.policy, entry.qtype, clients.from_source(host))
            source = 0
        else:
            tail = answerer.cached(entry.policy, entry.qtype, facts)
            if tail is None:
                client = clients.option_client(ecs_raw, facts)
                tail = answerer.policy_records(entry.policy, entry.qtype, client, keep=False)
            source = ecs_raw[2]
            cap = clients.max_v4 if ecs_raw[1] == 1 else clients.max_v6
            if source > cap:
                source = cap
        resp = self._policy_reply(data, end, entry, variant, tail, ecs_raw, do, source)
        last = answerer.last
        if source and entry.policy.cacheable and last[3] is not None and not last[4]:
            # a pool, not failed open: the next query with this option may reuse the pieces
            pieces = self.memos.pieces
            head, middle = resp[2:12], resp[end : len(resp) - len(ecs_raw) + 4]
            head, middle = pieces.setdefault(head, head), pieces.setdefault(middle, middle)
            stamp = self.memos.stamp(entry.policy)
            self._note(ecs_raw, (facts, entry, vd, stamp, head, middle, last[3]))
            self._admit = admit = (self._admit + 1) & 7
            if not admit:
                self._keep_reply(data, resp, last[3], udp_limit, entry)
        elif memo is None:
            self._note(ecs_raw, (facts, None, 0, 0, None, None, None))
        return resp if len(resp) <= limit else None

    def _note(self, ecs_raw: bytes, value: tuple) -> None:
        memos = self.memos
        if ecs_raw not in memos.options:
            memos.added()
        memos.options[ecs_raw] = value

    def _keep_reply(self, data, resp, pool, udp_limit, entry) -> None:
        """One in 8 answers goes in the small whole-reply memo: hot queries get in soon, a
        sweep over many networks does not churn it."""
        memos = self.memos
        replies = memos.replies
        if len(replies) >= REPLIES_LIMIT:
            replies.clear()
        stamp = memos.stamp(entry.policy)
        replies[data[2:]] = (entry, stamp, resp[2:], pool, len(resp) <= udp_limit)

    def _policy(self, data, end, entry, variant, client, ecs_raw, do, source) -> bytes:
        """A policy answer without parsing objects: the decision cached per GeoIP facts."""
        tail = self.answerer.policy_records(entry.policy, entry.qtype, client)
        return self._policy_reply(data, end, entry, variant, tail, ecs_raw, do, source)

    def _policy_reply(self, data, end, entry, variant, tail, ecs_raw, do, source) -> bytes:
        count, records, scope = tail[0], tail[1], tail[2]
        if count == 0:  # NODATA: the SOA goes in the authority section
            head, records = _NODATA_HEADS, entry.body
        elif count < 16:
            head = _ANSWER_HEADS[count]
        else:
            head = heads(True, 0, count, 0, 0)
        if ecs_raw is None:
            return data[:2] + head[variant] + data[12:end] + records
        if not ecs_raw:
            return data[:2] + head[variant + 4] + data[12:end] + records + self._opt_plain[do]
        if scope > source:
            scope = source
        return b"".join(
            (
                data[:2],
                head[variant + 4],
                data[12:end],
                records,
                self._opt_ecs_head[do],
                _ECS_LENGTHS[len(ecs_raw)],
                ecs_raw[:3],
                _SCOPES[scope],
                ecs_raw[4:],
            )
        )

    def _fast_negative(self, data, end, variant, ar, tcp) -> bytes | None:
        """NXDOMAIN for a name our zone does not hold: the zone's SOA, no parsing objects."""
        if end > len(data) or data[end - 2 : end] != b"\x00\x01":  # class IN only
            return None
        qtype = data[end - 4] << 8 | data[end - 3]
        if qtype in (w.T_AXFR, w.T_IXFR, w.T_OPT) or 128 <= qtype <= 254:
            return None
        if ar == _AR0:
            if len(data) != end:
                return None
            opt = b""
        elif ar == _AR1 and data[end : end + 3] == _OPT_ROOT and len(data) >= end + 11:
            opt = self._negative_opt(data, end, tcp)
            if opt is None:
                return None
        else:
            return None
        pos, last = 12, end - 5
        while pos < last:  # plain labels up to the root, or the slow path decides
            length = data[pos]
            if length > 63:
                return None
            pos += length + 1
        if pos != last or last - 12 > 254:
            return None
        qname = data[12 : end - 4].lower()  # label lengths (< 64) are not letters
        zt = self.table.find_zone(qname)
        if zt is None or qname in zt.names:
            return None
        if zt.cuts and zt.find_cut(qname) is not None:
            return None
        if zt.has_wildcards and Answerer.wildcard(zt, qname) is not None:
            return None
        resp = b"".join(
            (data[:2], _NX_HEADS[variant + (4 if opt else 0)], data[12:end], zt.soa_negative, opt)
        )
        if not tcp and len(resp) > 512:  # every limit is at least 512; the slow path sets TC
            return None
        self.stats.count(zt.zone.origin_text, qtype, w.RCODE_NXDOMAIN, tcp)
        return resp

    def _negative_opt(self, data, end, tcp) -> bytes | None:
        """Our OPT for a negative answer: as the fast path's, ECS echoed with scope 0."""
        rdlen = data[end + 9] << 8 | data[end + 10]
        if len(data) != end + 11 + rdlen or data[end + 6]:
            return None
        do = 1 if data[end + 7] & 0x80 else 0
        if rdlen == 0:
            return self._opt_plain[do]
        ecs_raw = _only_ecs(data, end, rdlen) if self.ecs_enabled else None
        if ecs_raw is None:
            return None
        if ecs_raw not in self.memos.options:
            try:
                w.parse_ecs(ecs_raw)
            except w.FormErr:
                return None
        return self._opt_ecs_head[do] + _ecs_tail(ecs_raw, 0)

    def _logged(self, data: bytes, host: str, tcp: bool) -> bytes | None:
        """The slow path with an Outcome, then one log line carrying the decision."""
        outcome = Outcome()
        reply = self.slow(data, host, tcp, outcome)
        client = outcome.client
        qlog.info(
            "query from %s%s: zone %s pool %s scope %d rcode %s path %s",
            host,
            f" ecs {ipaddress.ip_address(client.address)}/{client.source_prefix}"
            if client is not None and client.ecs
            else "",
            outcome.zone,
            outcome.pool,
            outcome.scope,
            w.RCODE_TEXT.get(outcome.rcode, outcome.rcode),
            " | ".join(outcome.trace) or "static",
            extra={
                "fields": {
                    "client": host,
                    "zone": outcome.zone,
                    "pool": outcome.pool,
                    "scope": outcome.scope,
                    "rcode": outcome.rcode,
                    "path": outcome.trace,
                }
            },
        )
        return reply

    # --- slow path -------------------------------------------------------------------

    def slow(
        self, data: bytes, host: str, tcp: bool, outcome: Outcome | None = None
    ) -> bytes | None:
        """Everything the fast path does not take: full parse, every RFC corner."""
        if len(data) < 12 or data[2] & 0x80:
            return None  # too short to answer, or a response: never answered
        qid, qflags = struct.unpack_from("!HH", data)
        opcode = (qflags >> 11) & 0xF
        if opcode != 0:
            end = w.question_end(data) if data[4:6] == b"\x00\x01" else -1
            question = data[12:end] if end > 0 else b""
            return self._error(qid, qflags, w.RCODE_NOTIMP, question, None, tcp)
        try:
            q = w.parse_query(data)
        except w.FormErr as exc:
            end = w.question_end(data) if data[4:6] == b"\x00\x01" else -1
            question = data[12:end] if end > 0 else b""
            with_opt = getattr(exc, "had_opt", False)
            return self._error(qid, qflags, w.RCODE_FORMERR, question, with_opt, tcp)
        return self._answer_query(q, host, tcp, outcome)

    def _answer_query(self, q: w.Query, host: str, tcp: bool, outcome: Outcome | None) -> bytes:
        edns = q.edns
        if edns is not None and edns.version > 0:
            self.stats.count(None, q.qtype, w.RCODE_BADVERS, tcp)
            return self._assemble(q, Reply(rcode=w.RCODE_BADVERS, aa=False), tcp, 0)
        reply = self._resolve(q, host, outcome)
        scope = reply.scope
        if edns is not None and edns.ecs is not None and edns.ecs[1] == 0:
            scope = 0
        self.stats.count(reply.zone, q.qtype, reply.rcode, tcp)
        if outcome is not None:
            outcome.rcode, outcome.zone, outcome.scope = reply.rcode, reply.zone, scope
        return self._assemble(q, reply, tcp, scope)

    def _resolve(self, q: w.Query, host: str, outcome: Outcome | None) -> Reply:
        if q.qclass != w.CLASS_IN:
            return Reply(rcode=w.RCODE_REFUSED, aa=False)
        zt = self.table.find_zone(q.qname)
        if zt is None:
            return Reply(rcode=w.RCODE_REFUSED, aa=False)
        if q.qtype in (w.T_AXFR, w.T_IXFR):
            return Reply(rcode=w.RCODE_REFUSED, aa=False, zone=zt.zone.origin_text)
        if q.qtype == w.T_OPT or 128 <= q.qtype <= 254:
            return Reply(rcode=w.RCODE_NOTIMP, aa=False, zone=zt.zone.origin_text)

        def client() -> Client:
            return self._client_for(q, host)

        return self.answerer.answer(zt, q.qname, q.qtype, client, outcome)

    def _client_for(self, q: w.Query, host: str) -> Client:
        edns = q.edns
        if self.ecs_enabled and edns is not None and edns.ecs is not None and edns.ecs[1] > 0:
            raw = edns.ecs_raw
            return self.clients.option_client(raw, self.clients.option_facts(raw))
        return self.clients.from_source(host)

    def _assemble(self, q: w.Query, reply: Reply, tcp: bool, scope: int) -> bytes:
        edns = q.edns
        opt = b""
        limit = 65535 if tcp else 512
        if edns is not None:
            options = b""
            if edns.ecs_raw is not None and self.ecs_enabled:
                options = w.ecs_option(edns.ecs_raw, scope)
            opt = w.opt_rr(self.max_udp_payload, reply.rcode >> 4, edns.flags, options)
            if not tcp:
                limit = min(edns.payload, self.max_udp_payload)
        an, ns, ar = reply.answer, reply.authority, reply.additional
        flags = response_flags(q.flags, reply.aa, reply.rcode)
        n_an, n_ns, n_ar = reply.counts
        head = struct.pack("!HHHHHH", q.id, flags, 1, n_an, n_ns, n_ar + bool(opt))
        msg = head + q.question + b"".join(an) + b"".join(ns) + b"".join(ar) + opt
        if len(msg) > limit:
            flags = response_flags(q.flags, reply.aa, reply.rcode, tc=True)
            head = struct.pack("!HHHHHH", q.id, flags, 1, 0, 0, int(bool(opt)))
            msg = head + q.question + opt
        return msg

    def _error(self, qid, qflags, rcode, question, with_opt, tcp) -> bytes:
        self.stats.count(None, 0, rcode, tcp)
        opt = w.opt_rr(self.max_udp_payload, 0, 0, b"") if with_opt else b""
        flags = response_flags(qflags & ~0x0010, False, rcode)
        head = struct.pack("!HHHHHH", qid, flags, 1 if question else 0, 0, 0, int(bool(opt)))
        return head + question + opt


def _only_ecs(data: bytes, end: int, rdlen: int) -> bytes | None:
    """The ECS option's data when the OPT RDATA is exactly one ECS option, else None."""
    if rdlen < 4 or data[end + 11 : end + 13] != _ECS_CODE:
        return None  # a 2-byte "option" would have us read past the packet
    if rdlen != 4 + (data[end + 13] << 8 | data[end + 14]):
        return None
    return data[end + 15 :]


def _ecs_tail(raw: bytes, scope: int) -> bytes:
    """The OPT RDLENGTH plus one ECS option echoing `raw` with our scope."""
    return _ECS_LENGTHS[len(raw)] + raw[:3] + _SCOPES[scope] + raw[4:]
