"""Authoritative lookup in a compiled zone: referrals, CNAME chains, RFC 4592 wildcards, ANY."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from geodns import policies
from geodns import wire as w
from geodns.dns.cache import Memos
from geodns.geo.measuredsplit import Splits
from geodns.model import Client, HealthView, RRSet
from geodns.names import is_below
from geodns.table import PolicyAnswer, ZoneTable, encode_rrset

ANS, AUTH, ADD = 0, 1, 2
MAX_CHAIN = 12  # CNAME links followed inside a zone before giving up (loops, long chains)
ANY_ORDER = (w.T_A, w.T_AAAA, w.T_MX, w.T_TXT, w.T_NS, w.T_SRV, w.T_CAA, w.T_PTR)


@dataclass(slots=True)
class Reply:
    """The sections of an answer, each a list of encoded records."""

    rcode: int = 0
    aa: bool = True
    answer: list[bytes] = field(default_factory=list)
    authority: list[bytes] = field(default_factory=list)
    additional: list[bytes] = field(default_factory=list)
    counts: list[int] = field(default_factory=lambda: [0, 0, 0])  # records per section
    scope: int = 0
    zone: str | None = None
    origin_at: int = 12  # where the zone's origin starts in the question: SOA pointers go there

    def add(self, section: int, records: bytes, count: int) -> None:
        """Append `count` encoded records to section 0 (answer), 1 (authority) or 2."""
        (self.answer, self.authority, self.additional)[section].append(records)
        self.counts[section] += count


class Answerer:
    """Walks a zone for one question; policies are asked only when the name has one."""

    def __init__(
        self, health: HealthView, rng: random.Random, stats: Any = None, memos: Memos | None = None
    ) -> None:
        self.health = health
        self.rng = rng
        self.stats = stats
        # Decisions of cacheable trees are memos, keyed by the policy name and the identity
        # of what they depend on (the client's GeoFacts, or the client itself), each good
        # for one health stamp of that name's pools.
        self.memos = memos if memos is not None else Memos(health)
        # (count, body, scope, pool key, failed open) of the last cached-path decision
        self.last: tuple = (0, b"", 0, None, False)
        self.splits = Splits()  # compiled trees split by measured RTTs (geo/measuredsplit.py)

    def answer(
        self,
        zt: ZoneTable,
        qname: bytes,
        qtype: int,
        client: Callable[[], Client],
        outcome: Any = None,
    ) -> Reply:
        reply = Reply(zone=zt.zone.origin_text, origin_at=12 + len(qname) - len(zt.origin))
        name, owner = qname, w.PTR_QNAME
        seen = {qname}
        for _ in range(MAX_CHAIN):
            target = self._step(zt, name, owner, qtype, client, reply, outcome)
            if target is None:
                return reply
            if target in seen or not (target == zt.origin or is_below(target, zt.origin)):
                return reply  # a loop, or the chain leaves the zone: the resolver goes on
            seen.add(target)
            name, owner = target, target
        return reply

    def _step(self, zt, name, owner, qtype, client, reply, outcome) -> bytes | None:
        """Answer `name` into `reply`; return a CNAME target to follow, or None when done."""
        cut = zt.find_cut(name) if zt.cuts else None
        if cut is not None and not (name == cut and qtype == w.T_DS):
            self._referral(zt, cut, reply, owner == w.PTR_QNAME)
            return None
        node = name if name in zt.names else self.wildcard(zt, name)
        if node is None:
            reply.rcode = w.RCODE_NXDOMAIN
            reply.add(AUTH, zt.soa_negative.at(reply.origin_at), 1)
            return None
        sets = zt.rrsets.get(node, {})
        cname = sets.get(w.T_CNAME)
        if cname is not None and qtype not in (w.T_CNAME, w.T_ANY):  # ANY matches the CNAME
            reply.add(ANS, encode_rrset(owner, cname), 1)
            return cname.targets[0]
        if qtype == w.T_ANY:
            self._any(zt, node, owner, sets, client, reply, outcome)
        elif qtype == w.T_SOA and node == zt.origin:
            reply.add(ANS, self._soa(zt, owner), 1)
        elif qtype == w.T_NS and qtype in sets:
            _add_ns(reply, ANS, zt, owner, sets[qtype], zt.origin, reply.origin_at)
        elif qtype in sets:
            _add_set(reply, ANS, owner, sets[qtype])
        elif qtype in (w.T_A, w.T_AAAA) and node in zt.policies:
            self._policy(zt.policies[node], qtype, owner, client, reply, outcome)
        if not reply.answer:
            reply.add(AUTH, zt.soa_negative.at(reply.origin_at), 1)
        return None

    @staticmethod
    def _soa(zt: ZoneTable, owner: bytes) -> bytes:
        if owner == w.PTR_QNAME:
            return zt.soa_answer
        return w.rr(owner, w.T_SOA, zt.zone.soa_ttl, zt.zone.soa_rdata)

    @staticmethod
    def wildcard(zt: ZoneTable, name: bytes) -> bytes | None:
        """RFC 4592: the source of synthesis is `*.` + the closest encloser, if it exists."""
        if not zt.has_wildcards:
            return None
        encloser = name
        while encloser not in zt.names:
            encloser = encloser[encloser[0] + 1 :]
        source = b"\x01*" + encloser
        return source if source in zt.names else None

    @staticmethod
    def _referral(zt: ZoneTable, cut: bytes, reply: Reply, first: bool) -> None:
        """The delegation's NS and glue. For the question's own name (`first`) the cut is a
        suffix of it: the owner and the targets point there (Knot's referral, byte for
        byte); reached through a CNAME, the targets point at the origin."""
        ns = zt.rrsets[cut][w.T_NS]
        if not reply.answer:
            reply.aa = False
        if first:
            at = reply.origin_at + len(zt.origin) - len(cut)
            _add_ns(reply, AUTH, zt, w.pointer(at), ns, cut, at)
        else:
            owner = w.pointer_name(cut, zt.origin, reply.origin_at)
            _add_ns(reply, AUTH, zt, owner, ns, zt.origin, reply.origin_at)

    def _any(self, zt, node, owner, sets, client, reply, outcome) -> None:
        """RFC 8482: one RRset is enough; we pick the first in a fixed order."""
        if node == zt.origin:
            reply.add(ANS, self._soa(zt, owner), 1)
            return
        for rtype in (w.T_CNAME, *ANY_ORDER):
            if rtype in sets:
                _add_set(reply, ANS, owner, sets[rtype])
                return
        if node in zt.policies:
            for rtype in (w.T_A, w.T_AAAA):
                self._policy(zt.policies[node], rtype, owner, client, reply, outcome)
                if reply.answer:
                    return

    def _policy(self, pa: PolicyAnswer, qtype, owner, client, reply, outcome) -> None:
        the_client = client()
        trace = outcome.trace if outcome is not None else None
        count, records, scope = self.policy_records(pa, qtype, the_client, owner, trace, outcome)
        reply.scope = max(reply.scope, min(scope, the_client.source_prefix))
        if count:
            reply.add(ANS, records, count)

    def policy_records(
        self,
        pa: PolicyAnswer,
        qtype: int,
        client: Client,
        owner: bytes = w.PTR_QNAME,
        trace: list[str] | None = None,
        outcome: Any = None,
        keep: bool = True,
    ) -> tuple[int, bytes, int]:
        """(record count, encoded records, scope) for a policy name and one client.

        Decisions of deterministic trees are cached by the client's GeoFacts when the tree
        reads nothing else, else by the client object when `keep` says it is long-lived.
        A compiled tree (geo/compiled.py) decides by the client address's class, cached by
        class, and scopes by the merged range around the address.
        """
        compiled = pa.compiled
        if compiled is not None and self.bypassed(compiled):  # split by measured networks
            compiled = self.splits.get(compiled, self.health.measured(compiled.rtt_zone))
        if compiled is not None:
            return self._by_class(pa, compiled, qtype, client, owner, trace, outcome)
        if not pa.cacheable or trace is not None or owner is not w.PTR_QNAME:
            return self._decide(pa, qtype, client, owner, trace, outcome)[:3]
        by_facts = pa.by_facts
        if not by_facts and not keep:
            self.last = result = self._decide(pa, qtype, client, owner, None, None)
            return result[:3]
        subject = client.facts if by_facts else client
        memos = self.memos
        cache = memos.decisions_for(pa, qtype == w.T_AAAA)
        key = id(subject)
        hit = cache.get(key)
        stamp = memos.stamp(pa)
        if hit is not None and hit[0] is subject and hit[1] == stamp:
            self.last = tail = hit[2]
            count, body, scope, pool_key, failed_open = tail
            stats = self.stats
            if stats is not None and pool_key is not None:
                stats.by_pool[pool_key] += 1
                stats.fail_open += failed_open
            return count, body, scope
        result = self._decide(pa, qtype, client, owner, None, None)
        self.last = result = memos.tails.setdefault(result, result)
        cache[key] = (subject, stamp, result)  # holds subject: its id stays unique
        memos.added()
        return result[:3]

    def bypassed(self, compiled: Any) -> bool:
        """True while a compiled tree's zone has RTTs measured at run time (steering): its
        latency nodes then rank per client network, which the classes do not know, so the
        classes are split at the measured networks (geo/measuredsplit.py), or, measured by
        ASN or country, the tree is decided from each client's GeoFacts meanwhile."""
        if compiled.rtt_zone is None:
            return False
        return self.health.measured(compiled.rtt_zone) is not None

    def _by_class(self, pa, compiled, qtype, client, owner, trace, outcome) -> tuple:
        """A compiled tree: the class of the client's address decides (every address of a
        class gets the same decision, so its representative client is resolved and the
        answer cached per class); the scope is the merged range's prefix."""
        cls, scope = compiled.find(client.address)
        rep = compiled.reps[cls]
        if trace is not None or outcome is not None:  # explain: the client's own reasons
            return (*self._decide(pa, qtype, client, owner, trace, outcome)[:2], scope)
        if not pa.cacheable or owner is not w.PTR_QNAME:
            return (*self._decide(pa, qtype, rep, owner, None, None)[:2], scope)
        memos = self.memos
        cache = memos.decisions_for(pa, qtype == w.T_AAAA)
        hit = cache.get(id(rep))
        stamp = memos.stamp(pa)
        if hit is not None and hit[1] == stamp:
            self.last = tail = hit[2]
            stats = self.stats
            if stats is not None and tail[3] is not None:
                stats.by_pool[tail[3]] += 1
                stats.fail_open += tail[4]
            return tail[0], tail[1], scope
        result = self._decide(pa, qtype, rep, owner, None, None)
        self.last = result = memos.tails.setdefault(result, result)
        cache[id(rep)] = (rep, stamp, result)  # holds rep: its id stays unique
        memos.added()
        return result[0], result[1], scope

    def cached(self, pa: PolicyAnswer, qtype: int, facts: Any) -> tuple | None:
        """The cached (count, body, scope, pool, open) of a tree that decides by GeoFacts
        alone, counted as served; None if there is none yet (then call policy_records)."""
        if not pa.by_facts or pa.compiled is not None:
            return None
        memos = self.memos
        found = memos.decisions.get(pa)
        hit = found[qtype == w.T_AAAA].get(id(facts)) if found is not None else None
        if hit is None or hit[0] is not facts or hit[1] != memos.stamp(pa):
            return None
        self.last = tail = hit[2]
        stats = self.stats
        if stats is not None and tail[3] is not None:
            stats.by_pool[tail[3]] += 1
            stats.fail_open += tail[4]
        return tail

    def forget(self) -> None:
        """Drop every memo (new GeoIP data or ECS settings)."""
        self.memos.clear()

    def _decide(self, pa, qtype, client, owner, trace, outcome) -> tuple:
        decision = policies.resolve(pa.node, client, self.health, self.rng, trace)
        if outcome is not None:
            outcome.client = client.with_network()
            outcome.pool = decision.pool.name if decision.pool is not None else None
        if decision.pool is None:
            return 0, b"", decision.scope, None, False
        pool_key = (pa.zone, pa.name, decision.pool.name)
        stats = self.stats
        if stats is not None:
            stats.by_pool[pool_key] += 1
            stats.fail_open += decision.failed_open
        ttl = pa.ttl if decision.ttl is None else decision.ttl
        start = self.memos.rotation(pa) if decision.max_answers else 0
        chosen = pa.records(decision.pool, qtype, decision.max_answers, self.health, start)
        body = b"".join(w.rr(owner, qtype, ttl, packed) for _, packed in chosen)
        return len(chosen), body, decision.scope, pool_key, decision.failed_open


def _add_set(reply: Reply, section: int, owner: bytes, rrset: RRSet) -> None:
    reply.add(section, encode_rrset(owner, rrset), len(rrset.rdatas))


def _add_ns(reply: Reply, section: int, zt: ZoneTable, owner, ns, anchor, anchor_at) -> None:
    """NS records into `section`, targets compressed into `anchor` (a name at `anchor_at`
    of the question), and their glue, each owner a pointer to its target."""
    start = reply.origin_at + len(zt.origin) + 4  # the first record, past the question
    start += sum(map(len, reply.answer))
    if section == AUTH:
        start += sum(map(len, reply.authority))
    body, where = zt.ns_records(owner, ns, anchor, anchor_at, start)
    reply.add(section, body, len(ns.rdatas))
    for record in zt.glue_at(ns.targets, where):
        reply.add(ADD, record, 1)
