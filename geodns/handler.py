"""handle(query bytes, peer) -> reply bytes: all DNS logic, no I/O."""

from __future__ import annotations

import ipaddress
import logging
import random
import struct
from dataclasses import dataclass, field
from typing import Any

from geodns import wire as w
from geodns.model import AllUp, Client, HealthView
from geodns.resolve import Answerer, Reply
from geodns.stats import Stats
from geodns.table import FAST_FLAGS, POLICY, STATIC, Table, heads, response_flags

qlog = logging.getLogger("geodns.query")
_QD1 = b"\x00\x01\x00\x00\x00\x00"
_AR0, _AR1 = b"\x00\x00", b"\x00\x01"
_OPT_ROOT = b"\x00\x00\x29"
_ECS_CODE = b"\x00\x08"
_SCOPES = [bytes([i]) for i in range(129)]


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
        self.answerer = Answerer(self.health, rng or random.Random(), self.stats)
        self._opt_plain = (
            w.opt_rr(max_udp_payload, 0, 0, b""),
            w.opt_rr(max_udp_payload, 0, w.EDNS_DO, b""),
        )
        self._opt_ecs_head = (
            b"\x00\x00\x29" + struct.pack("!HI", max_udp_payload, 0),
            b"\x00\x00\x29" + struct.pack("!HI", max_udp_payload, w.EDNS_DO),
        )
        self._ecs_clients: dict[bytes, Client | None] = {}
        # Whole replies (minus the ID) for ECS queries to deterministic policies: the query
        # bytes after the ID decide everything, given the table and the health generation.
        self._replies: dict[bytes, tuple] = {}
        self.reply_cache_size = 131072
        self.query_sample = 0.0  # fraction of queries logged with their decision (log.queries)
        self._log_rng = random.Random()

    # --- fast path -------------------------------------------------------------------

    def handle(self, data: bytes, host: str, tcp: bool = False) -> bytes | None:
        """Reply bytes for one query, or None when it must be dropped (responses, runts)."""
        if self.query_sample and self._log_rng.random() < self.query_sample:
            return self._logged(data, host, tcp)
        variant = FAST_FLAGS.get(data[2:4])
        if variant is not None and data[4:10] == _QD1:
            end = data.find(b"\x00", 12) + 5
            entry = self.table.fast.get(data[12:end])
            if entry is not None:
                ar = data[10:12]
                if ar == _AR0 and len(data) == end:
                    if entry.kind == STATIC:
                        resp = data[:2] + entry.heads[variant] + data[12:end] + entry.body
                        if tcp or len(resp) <= 512:
                            self.stats.count(entry.zone, entry.qtype, 0, tcp)
                            return resp
                    elif entry.kind == POLICY:
                        resp = self._fast_policy(data, end, entry, variant, host, None, 0)
                        if resp is not None and (tcp or len(resp) <= 512):
                            self.stats.count(entry.zone, entry.qtype, 0, tcp)
                            return resp
                elif ar == _AR1 and data[end : end + 3] == _OPT_ROOT and data[end + 6] == 0:
                    resp = self._fast_edns(data, end, entry, variant, host, tcp)
                    if resp is not None:
                        self.stats.count(entry.zone, entry.qtype, 0, tcp)
                        return resp
        return self.slow(data, host, tcp)

    def _fast_edns(self, data, end, entry, variant, host, tcp) -> bytes | None:
        rdlen = data[end + 9] << 8 | data[end + 10]
        if len(data) != end + 11 + rdlen:
            return None
        do = 1 if data[end + 7] & 0x80 else 0
        if rdlen == 0:
            ecs_raw = b""
        elif data[end + 11 : end + 13] == _ECS_CODE and rdlen == 4 + (
            data[end + 13] << 8 | data[end + 14]
        ):
            ecs_raw = data[end + 15 :]
        else:
            return None
        limit = (
            65535
            if tcp
            else min(max(data[end + 3] << 8 | data[end + 4], 512), self.max_udp_payload)
        )
        # source prefix 0 (ecs_raw[2]) means "decide by the packet source": not cacheable here
        cacheable = (
            len(ecs_raw) >= 4
            and ecs_raw[2]
            and self.ecs_enabled
            and entry.kind == POLICY
            and entry.policy.cacheable
        )
        if cacheable:
            hit = self._replies.get(data[2:])
            if hit is not None and hit[0] is self.table and hit[1] == self.health.generation:
                if len(hit[2]) + 2 > limit:
                    return None
                if hit[3] is not None:
                    self.stats.by_pool[hit[3]] += 1
                return data[:2] + hit[2]
        if entry.kind == STATIC:
            if ecs_raw:
                if not self.ecs_enabled:
                    return None
                opt = self._opt_ecs_head[do] + _ecs_tail(ecs_raw, 0)
            else:
                opt = self._opt_plain[do]
            resp = data[:2] + entry.heads[variant + 4] + data[12:end] + entry.body + opt
        else:
            resp = self._fast_policy(data, end, entry, variant, host, ecs_raw, do)
            if cacheable and resp is not None and self.answerer.last_open is False:
                if len(self._replies) >= self.reply_cache_size:
                    self._replies.clear()
                gen = self.health.generation
                self._replies[data[2:]] = (self.table, gen, resp[2:], self.answerer.last_pool)
        if resp is None or len(resp) > limit:
            return None
        return resp

    def _fast_policy(self, data, end, entry, variant, host, ecs_raw, do) -> bytes | None:
        """A policy answer without parsing objects: client from cache, records pre-encoded."""
        source_zero = False
        if ecs_raw and self.ecs_enabled:
            client = self._ecs_clients.get(ecs_raw)
            if client is None:
                client = self._ecs_client(ecs_raw)
                if client is None:
                    return None
            source_zero = client.source_prefix == 0
            if source_zero:
                client = self.clients.from_source(host)
        else:
            client = self.clients.from_source(host)
        count, records, scope = self.answerer.policy_records(entry.policy, entry.qtype, client)
        if count == 0:  # NODATA: the SOA goes in the authority section
            head, records = heads(True, 0, 0, 1, 0), entry.body
        else:
            head = heads(True, 0, count, 0, 0)
        if ecs_raw is None:
            return data[:2] + head[variant] + data[12:end] + records
        if ecs_raw and self.ecs_enabled:
            scope = 0 if source_zero else min(scope, client.source_prefix)
            opt = self._opt_ecs_head[do] + _ecs_tail(ecs_raw, scope)
        else:
            opt = self._opt_plain[do]
        return data[:2] + head[variant + 4] + data[12:end] + records + opt

    def _ecs_client(self, ecs_raw: bytes) -> Client | None:
        """Validate and build the client for an ECS option; None sends it down the slow path."""
        try:
            family, source, addr = w.parse_ecs(ecs_raw)
        except w.FormErr:
            return None
        if source == 0:
            client = Client(b"", family, 0, True)
        else:
            client = self.clients.from_ecs(family, source, addr)
        if len(self._ecs_clients) > 131072:
            self._ecs_clients.clear()
        self._ecs_clients[bytes(ecs_raw)] = client
        return client

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
            return self.clients.from_ecs(*edns.ecs)
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


def _ecs_tail(raw: bytes, scope: int) -> bytes:
    """The OPT RDLENGTH plus one ECS option echoing `raw` with our scope."""
    n = len(raw)
    return struct.pack("!HHH", n + 4, 8, n) + raw[:3] + _SCOPES[scope] + raw[4:]
