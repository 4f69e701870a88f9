"""handle(query bytes, source, max size, counter) -> reply bytes: all DNS logic, no I/O.

The transport-free seam: a transport passes the reply size it carries whatever the query
says (UDP 512, RFC 1035; TCP 65535, its length prefix) and its own query counter. The
query's EDNS payload raises a smaller size up to dns.max_udp_payload (RFC 6891), so a
transport needs to know nothing of DNS. This is the reference the native engine
(geodns._native, geodns/native/) must match byte for byte, and the fallback where the
extension is missing: every query parsed and answered here.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from geodns import wire as w
from geodns.dns import assemble, querylog, rrlkey
from geodns.dns.answer import Answerer, Reply
from geodns.dns.cache import Memos
from geodns.dns.cookies import ServerCookies, well_formed
from geodns.dns.identity import CLASS_CH, Identity
from geodns.dns.rrl import DROP, LOG_ONLY, OK, RateLimiter
from geodns.dns.signed import T_NXNAME, sign_reply
from geodns.dns.stats import Count, Stats, qtype_label
from geodns.dns.update import PASS
from geodns.geo import ecs
from geodns.model import AllUp, Client, HealthView
from geodns.table import Table

_QD1 = b"\x00\x01\x00\x00\x00\x00"
UDP_SIZE = 512  # what a datagram carries whatever the query says (the default transport)
STREAM_SIZE = 65535  # what TCP carries: its source is not spoofed, so it is never limited


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
        cookie_secret: bytes | None = None,
        rrl: RateLimiter | None = None,
        identity: Identity | None = None,
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
        self.opts = assemble.Opts(max_udp_payload)
        self.query_sample = 0.0  # fraction of queries logged with their decision (log.queries)
        self._log_rng = random.Random()
        # DNS COOKIE (None: off, COOKIE options are ignored as by a server without them)
        self.cookies = (
            None
            if cookie_secret is None
            else ServerCookies(cookie_secret, self.memos, self.stats.cookies)
        )
        self.rrl = rrl
        # who answers: NSID and CHAOS (off unless the config says; CHAOS names get REFUSED)
        self.identity = identity or Identity("", "", nsid=False, chaos=False, hide_version=True)
        # RFC 2136 UPDATE and TSIG-signed queries (dns/update.py UpdateDesk; None: updates off,
        # UPDATE gets NOTIMP). Its answer to an UPDATE is awaitable: the transport sends it later.
        self.updates: Any = None
        if rrl is not None:  # decided once: with RRL off a query pays nothing for it
            self.handle = self._limited  # type: ignore[method-assign]

    def clear_caches(self) -> None:
        """Forget every cached client, decision and reply (new GeoIP data, ECS settings)."""
        self.memos.clear()

    def handle(
        self, data: bytes, host: str, max_size: int = UDP_SIZE, count: Count | None = None
    ) -> bytes | None:
        """Reply bytes for one query from `host`, or None when it must be dropped (responses,
        runts). `max_size`: what the transport carries whatever the query says (UDP 512, TCP
        65535); `count`: the transport's query counter (default: stats.udp)."""
        if count is None:
            count = self.stats.udp
        if self.query_sample and self._log_rng.random() < self.query_sample:
            return self._logged(data, host, max_size, count)
        return self.slow(data, host, max_size, count)

    def _limited(
        self, data: bytes, host: str, max_size: int = UDP_SIZE, count: Count | None = None
    ) -> bytes | None:
        """handle() with response rate limiting (dns/rrl.py), which stands in for it when
        RRL is on: applied to the answer once known, whichever path made it. Streams and
        queries with a valid server cookie are never limited (their source is real)."""
        cookies = self.cookies
        if cookies is not None:
            cookies.valid_seen, cookies.last = False, b""
        resp = Handler.handle(self, data, host, max_size, count)
        if resp.__class__ is not bytes:  # None, or a TSIG-signed update: bounded by the desk
            return resp
        if max_size >= STREAM_SIZE or (cookies is not None and cookies.valid_seen):
            return resp
        verdict = self.rrl.verdict(host, *self._identity(resp))  # type: ignore[union-attr]
        if verdict == OK:
            return resp
        actions = self.stats.rrl
        if verdict == LOG_ONLY:
            actions["log_only"] += 1
            return resp
        if verdict == DROP:
            actions["drop"] += 1
            return None
        cookie = cookies.last if cookies is not None else b""
        actions["badcookie" if cookie else "slip"] += 1
        return assemble.limited(data, resp, self.opts, cookie)

    def _identity(self, resp: bytes) -> tuple[int, bytes]:
        """What RRL counts a reply as (dns/rrlkey.py): answers by their owner, a wildcard's
        for a synthesised one, referrals by their delegation point, NXDOMAIN and errors by
        their zone."""
        return rrlkey.identity(self.table, resp)

    def _logged(self, data: bytes, host: str, max_size: int, count: Count) -> bytes | None:
        """The slow path with an Outcome, then one log line carrying the decision (the
        native threads write the same fields: csrc/log/line.c)."""
        outcome = Outcome()
        started = time.perf_counter()
        reply = self.slow(data, host, max_size, count, outcome)
        us = int((time.perf_counter() - started) * 1e6)
        querylog.write(data, host, max_size, outcome, reply, us)
        return reply

    def slow(
        self,
        data: bytes,
        host: str,
        max_size: int = UDP_SIZE,
        count: Count | None = None,
        outcome: Outcome | None = None,
    ) -> bytes | None:
        """Everything the fast path does not take: full parse, every RFC corner."""
        if count is None:
            count = self.stats.udp
        if len(data) < 12 or data[2] & 0x80:
            return None  # too short to answer, or a response: never answered
        if self.updates is not None and (data[2] & 0x78 == 0x28 or data[10:12] != b"\0\0"):
            resp = self._update(data, host, max_size, count, outcome)
            if resp is not PASS:
                return resp
        if (data[2] >> 3) & 0xF != 0:  # opcode other than QUERY
            count(None, 0, w.RCODE_NOTIMP)
            return assemble.error(data, w.RCODE_NOTIMP, self.opts, False)
        try:
            q = w.parse_query(data, ecs.check)
        except w.FormErr as exc:
            count(None, 0, w.RCODE_FORMERR)
            return assemble.error(data, w.RCODE_FORMERR, self.opts, getattr(exc, "had_opt", False))
        cookie = q.edns.cookie if q.edns is not None and self.cookies is not None else None
        if cookie is not None and not well_formed(cookie):
            self.stats.cookies["malformed"] += 1
            count(None, qtype_label(q.qtype), w.RCODE_FORMERR)
            return assemble.error(data, w.RCODE_FORMERR, self.opts, True)
        return self._answer_query(q, host, max_size, count, outcome, cookie)

    def _update(self, data: bytes, host: str, max_size: int, count: Count, outcome: Any) -> Any:
        """An UPDATE (opcode 5) or a query with a TSIG: the desk's (dns/update.py), PASS
        when it is neither (a query whose additional record is only an OPT)."""

        def answer(message: bytes, size: int) -> bytes | None:
            return self.slow(message, host, size, count, outcome)

        resp = self.updates.take(data, host, max_size, answer, self.table.find_zone)
        if resp.__class__ is bytes and data[2] & 0x78:
            count(None, 0, resp[3] & 0xF)  # type: ignore[index]
        return resp

    def _answer_query(
        self,
        q: w.Query,
        host: str,
        max_size: int,
        count: Count,
        outcome: Outcome | None,
        cookie: bytes | None,
    ) -> bytes:
        edns = q.edns
        # the ECS option we act on and echo: the query's when ECS is on (checked either way)
        body = edns.ecs_raw if edns is not None and self.ecs_enabled else None
        if edns is not None and edns.version > 0:
            count(None, qtype_label(q.qtype), w.RCODE_BADVERS)
            reply = Reply(rcode=w.RCODE_BADVERS, aa=False)
            return assemble.reply(q, reply, max_size, self.opts, body, 0)
        reply = self._resolve(q, host, body, outcome)
        if edns is not None and edns.flags & w.EDNS_DO and self.table.signed:
            reply = self._signed(q, reply)
        scope = reply.scope if body is None else ecs.scope(reply.scope, self.clients.source(body))
        count(reply.zone, qtype_label(q.qtype), reply.rcode)
        if outcome is not None:
            outcome.rcode, outcome.zone, outcome.scope = reply.rcode, reply.zone, scope
        ours = b"" if cookie is None else self.cookies.option(cookie, host)  # type: ignore[union-attr]
        if edns is not None and edns.nsid and self.identity.nsid:
            ours = self.identity.nsid_option() + ours
        return assemble.reply(q, reply, max_size, self.opts, body, scope, ours)

    def _signed(self, q: w.Query, reply: Reply) -> Reply:
        """RRSIGs and compact denial for a DO query in a signed zone (dns/signed.py)."""
        zt = self.table.find_zone(q.qname)
        if zt is None or zt.signer is None or reply.rcode not in (0, w.RCODE_NXDOMAIN):
            return reply
        return sign_reply(q, reply, zt, zt.signer)

    def _resolve(self, q: w.Query, host: str, body: bytes | None, outcome: Outcome | None) -> Reply:
        if q.qclass == CLASS_CH:
            return self.identity.chaos_reply(q.qname, q.qtype)
        if q.qclass != w.CLASS_IN:
            return Reply(rcode=w.RCODE_REFUSED, aa=False)
        zt = self.table.find_zone(q.qname)
        if zt is None:
            return Reply(rcode=w.RCODE_REFUSED, aa=False)
        if q.qtype in (w.T_AXFR, w.T_IXFR):
            return Reply(rcode=w.RCODE_REFUSED, aa=False, zone=zt.zone.origin_text)
        if q.qtype == T_NXNAME:  # RFC 9824 §3.5: a meta-type no one may ask for
            return Reply(rcode=w.RCODE_FORMERR, aa=False, zone=zt.zone.origin_text)
        if q.qtype == w.T_OPT or 128 <= q.qtype <= 254:
            return Reply(rcode=w.RCODE_NOTIMP, aa=False, zone=zt.zone.origin_text)

        def client() -> Client:
            return self.clients.client(body, host)

        return self.answerer.answer(zt, q.qname, q.qtype, client, outcome)
