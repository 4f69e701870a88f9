"""The fast path: a well-formed QUERY for a name in the table answered from bytes, no objects.

Any EDNS options may ride along (COOKIE, NSID, padding, unknown codes): wire.find_options
walks them, as the slow path's parser does, and only ECS and COOKIE are read; a COOKIE is
answered (dns/cookies.py) by appending our option to the reply built without it. Whatever this path
does not take goes to the slow path, which answers every query the same way, byte for byte.
"""

from __future__ import annotations

from typing import Any

from geodns import wire as w
from geodns.dns import assemble
from geodns.dns.answer import Answerer
from geodns.dns.cache import Memos
from geodns.dns.cookies import ServerCookies, well_formed
from geodns.dns.identity import Identity
from geodns.dns.stats import QTYPE_OTHER, Count, Stats
from geodns.geo import ecs
from geodns.model import FROM_SOURCE
from geodns.table import STATIC, FastEntry, Table

AR0, AR1 = b"\x00\x00", b"\x00\x01"
OPT_ROOT = b"\x00\x00\x29"  # root owner, type OPT
_VALID = (None, None, 0, 0, None, None, None)  # an ECS option checked, nothing else known


class FastPath:
    """Handler's fast path (a mixin: the hot path pays plain method calls).

    Offsets: `end` is just past the question; our OPT's fixed part starts there, its RDATA
    at end + 11. A method returns None to hand the query to the slow path.
    """

    table: Table
    clients: Any
    memos: Memos
    answerer: Answerer
    stats: Stats
    opts: assemble.Opts
    ecs_enabled: bool
    cookies: ServerCookies | None
    identity: Identity
    _admit: int
    _pool: Any  # set by _by_source: the pool of a reply that may be replayed, else None

    def _fast_edns(
        self, data: bytes, end: int, entry: FastEntry, variant: int, host: str, max_size: int
    ) -> bytes | None:
        """A name in the table asked with one OPT record: plain, or echoing ECS."""
        if entry.kind != STATIC:  # the very same query bytes answered before?
            hit = self.memos.replies.get(data[2:])
            if (
                hit is not None
                and hit[0] is entry
                and hit[1] == self.memos.stamp(entry.policy)
                and (hit[4] or len(hit[2]) + 2 <= max_size)
                and self.ecs_enabled
                and (hit[5] is None or hit[5] == host)  # decided by / made for its source
                and (hit[6] is None or self.cookies.replay(hit[6]))  # type: ignore[union-attr]
            ):
                self.stats.by_pool[hit[3]] += 1
                return data[:2] + hit[2]
        rdlen = data[end + 9] << 8 | data[end + 10]
        if len(data) != end + 11 + rdlen or data[end + 6]:  # EDNS version > 0: BADVERS
            return None
        do = 1 if data[end + 7] & 0x80 else 0
        udp_limit = data[end + 3] << 8 | data[end + 4]  # min(max(payload, 512), ours)
        if udp_limit > self.opts.payload:
            udp_limit = self.opts.payload
        elif udp_limit < 512:
            udp_limit = 512
        limit = max_size if max_size > udp_limit else udp_limit
        body = cookie = None
        if rdlen:
            try:
                body, cookie, nsid = w.find_options(data, end + 11, end + 11 + rdlen)
            except w.FormErr:
                return None  # the slow path answers FORMERR
            if nsid and self.identity.nsid:
                return None  # who we are goes in the OPT: the slow path (a rare question)
            if cookie is not None and self.cookies is not None:
                return self._with_cookie(data, end, entry, variant, host, body, cookie, do, limit)
        if body is None:
            resp = self._plain_opt(data, end, entry, variant, host, do)
        elif not self.ecs_enabled:
            return None
        elif entry.kind == STATIC:
            resp = self._static_ecs(data, end, entry, variant, body, do)
        else:
            return self._policy_ecs(data, end, entry, variant, host, body, do, limit, udp_limit)
        return resp if resp is not None and len(resp) <= limit else None

    def _with_cookie(
        self,
        data: bytes,
        end: int,
        entry: FastEntry,
        variant: int,
        host: str,
        body: bytes | None,
        cookie: bytes,
        do: int,
        limit: int,
    ) -> bytes | None:
        """The reply as without a COOKIE, then our COOKIE appended to its OPT. Such a reply
        holds a server cookie made for this client address, so it never enters the
        whole-reply memo (keyed by the query's bytes alone)."""
        if not well_formed(cookie):
            return None  # the slow path answers FORMERR
        if body is None:  # our OPT holds our COOKIE alone: built whole, nothing patched
            cookies = self.cookies
            opt = self.opts.with_option(do, cookies.option(cookie, host))  # type: ignore[union-attr]
            if entry.kind == STATIC:
                resp = data[:2] + entry.heads[variant + 4] + data[12:end] + entry.body + opt
                return resp if len(resp) <= limit else None
            resp = self._by_source(data, end, entry, variant + 4, host, opt)
            if len(resp) > limit:
                return None
            if self._pool is not None:  # the same bytes again from this source: replayed
                replay = cookies.replayable()  # type: ignore[union-attr]
                self._offer_reply(data, resp, self._pool, 512, entry, host, replay)
            return resp
        if not self.ecs_enabled:
            return None
        elif entry.kind == STATIC:
            resp = self._static_ecs(data, end, entry, variant, body, do)
        else:
            resp = self._policy_ecs(data, end, entry, variant, host, body, do, limit, 0, False)
        if resp is None:
            return None
        rdlen = 0 if body is None else len(body) + 4
        resp = assemble.add_option(resp, rdlen, self.cookies.option(cookie, host))  # type: ignore[union-attr]
        return resp if len(resp) <= limit else None

    def _plain_opt(
        self, data: bytes, end: int, entry: FastEntry, variant: int, host: str, do: int
    ) -> bytes:
        """With our OPT and no ECS (the query had none): decided by the packet source."""
        opt = self.opts.plain[do]
        if entry.kind == STATIC:
            return data[:2] + entry.heads[variant + 4] + data[12:end] + entry.body + opt
        resp = self._by_source(data, end, entry, variant + 4, host, opt)
        if self._pool is not None:
            self._offer_reply(data, resp, self._pool, 512, entry, host)
        return resp

    def _by_source(
        self, data: bytes, end: int, entry: FastEntry, hv: int, host: str, opt: bytes
    ) -> bytes:
        """A policy name decided by the packet source (no ECS): the last answer's pieces for
        this source when they still hold (same name, header variant `hv`, health stamp),
        else a decision whose pieces are kept when the next query may reuse them. Leaves in
        `_pool` the pool answered from when the reply may be replayed, else None."""
        memos = self.memos
        self._pool = None
        memo = memos.sources.get(host)
        if (
            memo is not None
            and memo[0] is entry
            and memo[1] == hv
            and memo[2] == memos.stamp(entry.policy)
        ):
            self.stats.by_pool[memo[5]] += 1
            self.clients.hits += 1
            self._pool = memo[5]
            return b"".join((data[:2], memo[3], data[12:end], memo[4], opt))
        answerer = self.answerer
        tail = answerer.policy_records(entry.policy, entry.qtype, self.clients.from_source(host))
        resp = assemble.policy_reply(data, end, entry, hv, tail, opt)
        last = answerer.last  # set by policy_records for a cacheable tree
        if entry.policy.cacheable and last[3] is not None and not last[4]:
            pieces = memos.pieces  # a pool, not failed open: the same for every such query
            head, middle = resp[2:12], resp[end : len(resp) - len(opt)]
            head, middle = pieces.setdefault(head, head), pieces.setdefault(middle, middle)
            if memo is None:
                memos.added()  # may empty every memo: store after
            stamp = memos.stamp(entry.policy)
            memos.sources[host] = (entry, hv, stamp, head, middle, last[3])
            self._pool = last[3]
        return resp

    def _static_ecs(
        self, data: bytes, end: int, entry: FastEntry, variant: int, body: bytes, do: int
    ) -> bytes | None:
        """Static records with the ECS echoed at scope 0 (the answer is everyone's)."""
        if body not in self.memos.options:
            if not ecs.valid(body):
                return None  # malformed ECS: the slow path answers FORMERR
            self._note(body, _VALID)
        opt = self.opts.ecs_head[do] + ecs.echo(body, 0, 0)
        return data[:2] + entry.heads[variant + 4] + data[12:end] + entry.body + opt

    def _policy_ecs(
        self,
        data: bytes,
        end: int,
        entry: FastEntry,
        variant: int,
        host: str,
        body: bytes,
        do: int,
        limit: int,
        udp_limit: int,
        offer: bool = True,
    ) -> bytes | None:
        """A policy name for an ECS client: the last answer's pieces for this option when
        they still hold (same name, flags and health stamp), else a decision. `offer`:
        whether the reply may enter the whole-reply memo."""
        vd = variant + 4 * do
        memo = self.memos.options.get(body)
        facts = None
        if memo is not None:
            if memo[1] is entry and memo[2] == vd and memo[3] == self.memos.stamp(entry.policy):
                resp = b"".join((data[:2], memo[4], data[12:end], memo[5], body[4:]))
                if len(resp) > limit:
                    return None
                self.stats.by_pool[memo[6]] += 1
                self.clients.hits += 1
                if offer:
                    self._offer_reply(data, resp, memo[6], udp_limit, entry)
                return resp
            facts = memo[0]
        compiled = entry.policy.compiled
        lookup = compiled is None or self.answerer.bypassed(compiled)  # see geo/compiled.py
        if facts is None or (facts is ecs.UNLOOKED and lookup):
            facts = self.clients.option_facts(body, lookup)
            if facts is None:
                return None  # malformed ECS: the slow path answers FORMERR
        else:
            self.clients.hits += 1
        resp = self._decide_ecs(data, end, entry, variant, host, body, do, facts, udp_limit, offer)
        if memo is None and body not in self.memos.options:
            self._note(body, (facts, None, 0, 0, None, None, None))
        return resp if len(resp) <= limit else None

    def _decide_ecs(
        self,
        data: bytes,
        end: int,
        entry: FastEntry,
        variant: int,
        host: str,
        body: bytes,
        do: int,
        facts: Any,
        udp_limit: int,
        offer: bool = True,
    ) -> bytes:
        """Decide for the option's facts, answer, and keep the answer's pieces when the next
        query with this option may reuse them (a pool, not failed open, scope > 0)."""
        answerer, clients = self.answerer, self.clients
        if facts is FROM_SOURCE:  # source prefix 0: decide by the packet source
            tail = answerer.policy_records(entry.policy, entry.qtype, clients.from_source(host))
        else:
            tail = answerer.cached(entry.policy, entry.qtype, facts)
            if tail is None:
                client = clients.option_client(body, facts)
                tail = answerer.policy_records(entry.policy, entry.qtype, client, keep=False)
        source = clients.source(body)
        opt = self.opts.ecs_head[do] + ecs.echo(body, tail[2], source)
        resp = assemble.policy_reply(data, end, entry, variant + 4, tail, opt)
        last = answerer.last
        if source and entry.policy.cacheable and last[3] is not None and not last[4]:
            pieces = self.memos.pieces
            head, middle = resp[2:12], resp[end : len(resp) - len(body) + 4]
            head, middle = pieces.setdefault(head, head), pieces.setdefault(middle, middle)
            stamp = self.memos.stamp(entry.policy)
            self._note(body, (facts, entry, variant + 4 * do, stamp, head, middle, last[3]))
            if offer:
                self._offer_reply(data, resp, last[3], udp_limit, entry)
        return resp

    def _note(self, body: bytes, value: tuple) -> None:
        memos = self.memos
        if body not in memos.options:
            memos.added()
        memos.options[body] = value

    def _offer_reply(
        self,
        data: bytes,
        resp: bytes,
        pool: Any,
        udp_limit: int,
        entry: Any,
        host: str | None = None,
        replay: tuple | None = None,
    ) -> None:
        """One in 8 answers goes in the small whole-reply memo: hot queries get in soon, a
        sweep over many networks does not churn it. `host`: the reply was decided by (or
        its server cookie made for) this source, and serves no other; `replay`: what its
        COOKIE needs on reuse (dns/cookies.py ServerCookies.replay)."""
        self._admit = admit = (self._admit + 1) & 7
        if admit:
            return
        memos = self.memos
        replies = memos.replies
        if len(replies) >= memos.replies_limit:
            replies.clear()
        stamp = memos.stamp(entry.policy)
        replies[data[2:]] = (entry, stamp, resp[2:], pool, len(resp) <= udp_limit, host, replay)

    def _fast_negative(
        self,
        data: bytes,
        end: int,
        variant: int,
        ar: bytes,
        host: str,
        max_size: int,
        count: Count,
    ) -> bytes | None:
        """NXDOMAIN for a name our zone does not hold: the zone's SOA, no parsing objects."""
        if end > len(data) or data[end - 2 : end] != b"\x00\x01":  # class IN only
            return None
        qtype = data[end - 4] << 8 | data[end - 3]
        if qtype in (w.T_AXFR, w.T_IXFR, w.T_OPT) or 128 <= qtype <= 254:
            return None
        if ar == AR0:
            if len(data) != end:
                return None
            opt, cookie = b"", None
        elif ar == AR1 and data[end : end + 3] == OPT_ROOT and len(data) >= end + 11:
            found = self._negative_opt(data, end)
            if found is None:
                return None
            opt, cookie = found
        else:
            return None
        zt = self._nx_zone(data, end)
        if zt is None:
            return None
        if cookie is not None:
            opt = assemble.add_option(opt, len(opt) - 11, self.cookies.option(cookie, host))  # type: ignore[union-attr]
        resp = b"".join(
            (
                data[:2],
                assemble.NX_HEADS[variant + (4 if opt else 0)],
                data[12:end],
                zt.soa_negative.at(end - 4 - len(zt.origin)),
                opt,
            )
        )
        if len(resp) > max_size:  # every limit is at least max_size; the slow path sets TC
            return None
        count(zt.zone.origin_text, qtype if qtype in w.TYPE_TEXT else QTYPE_OTHER, w.RCODE_NXDOMAIN)
        return resp

    def _nx_zone(self, data: bytes, end: int) -> Any:
        """The zone that answers NXDOMAIN for the question's name, or None when the name
        exists, sits below a cut, matches a wildcard, or is not plain labels."""
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
        return zt

    def _negative_opt(self, data: bytes, end: int) -> tuple[bytes, bytes | None] | None:
        """Our OPT for a negative answer (as the fast path's, ECS echoed with scope 0) and
        the query's COOKIE to answer in it (None: none, or cookies are off)."""
        rdlen = data[end + 9] << 8 | data[end + 10]
        if len(data) != end + 11 + rdlen or data[end + 6]:
            return None
        do = 1 if data[end + 7] & 0x80 else 0
        if not rdlen:
            return self.opts.plain[do], None
        try:
            body, cookie, nsid = w.find_options(data, end + 11, end + 11 + rdlen)
        except w.FormErr:
            return None
        if nsid and self.identity.nsid:
            return None
        if cookie is not None and self.cookies is None:
            cookie = None
        elif cookie is not None and not well_formed(cookie):
            return None  # the slow path answers FORMERR
        if body is None:
            return self.opts.plain[do], cookie
        if not self.ecs_enabled:
            return None
        if body not in self.memos.options and not ecs.valid(body):
            return None
        return self.opts.ecs_head[do] + ecs.echo(body, 0, 0), cookie
