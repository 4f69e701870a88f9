"""compile(zones) -> Table: every static answer pre-encoded; swapped whole on reload."""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from geodns import names
from geodns import wire as w
from geodns.model import Pool, RRSet, Zone
from geodns.names import is_below
from geodns.zones import teardown

# Query flag bytes the fast path accepts -> index into a head's variants. Only QR=0,
# opcode QUERY, no TC/AA/Z, rcode 0; RD and CD are copied, AD is accepted and ignored.
_FAST_FLAGS: dict[bytes, int] = {}
for _rd in (0, 1):
    for _cd in (0, 1):
        for _ad in (0, 1):
            _FAST_FLAGS[bytes([_rd, (_ad << 5) | (_cd << 4)])] = _rd | (_cd << 1)
FAST_FLAGS = _FAST_FLAGS


def response_flags(query_flags: int, aa: bool, rcode: int, tc: bool = False) -> int:
    """QR set, opcode/RD/CD copied from the query (RFC 1035, RFC 6840 5.9), RA and AD clear."""
    opcode_rd = query_flags & 0x7900
    cd = query_flags & 0x0010
    return 0x8000 | opcode_rd | (0x0400 if aa else 0) | (0x0200 if tc else 0) | cd | (rcode & 0xF)


_HEADS: dict[tuple[int, int, int, int, int], tuple[bytes, ...]] = {}


def heads(aa: bool, rcode: int, an: int, ns: int, ar: int) -> tuple[bytes, ...]:
    """Shared flags+counts (10 bytes) for the 4 RD/CD variants, without then with an OPT.

    Interned: a million names share a handful of these.
    """
    key = (int(aa), rcode, an, ns, ar)
    found = _HEADS.get(key)
    if found is None:
        out = []
        for with_opt in (0, 1):
            for variant in range(4):
                qflags = (0x0100 if variant & 1 else 0) | (0x0010 if variant & 2 else 0)
                flags = response_flags(qflags, aa, rcode)
                out.append(struct.pack("!HHHHH", flags, 1, an, ns, ar + with_opt))
        found = _HEADS[key] = tuple(out)
    return found


def encode_rrset(owner: bytes, rrset: RRSet) -> bytes:
    if len(rrset.rdatas) == 1:
        return w.rr(owner, rrset.rtype, rrset.ttl, rrset.rdatas[0])
    return b"".join([w.rr(owner, rrset.rtype, rrset.ttl, rd) for rd in rrset.rdatas])


@dataclass(slots=True)
class FastEntry:
    """A ready answer for one exact (lower-case name, type, IN) question.

    kind STATIC: `body` follows the question as is. kind POLICY: `policy` decides per query.
    `stat` indexes the hot-path counters for (zone, qtype, rcode).
    """

    kind: int
    heads: tuple[bytes, ...]
    body: bytes
    policy: PolicyAnswer | None
    zone: str
    qtype: int


STATIC, POLICY = 0, 1


class PolicyAnswer:
    """A policy name compiled: the decision tree plus its pools' answers pre-encoded."""

    __slots__ = (
        "by_facts",
        "cacheable",
        "compiled",
        "name",
        "node",
        "owner",
        "pools",
        "ttl",
        "zone",
    )

    def __init__(
        self, zone: str, owner: bytes, node: object, ttl: int, flags: tuple | None = None
    ) -> None:
        self.zone = zone
        self.owner = owner
        self.name = names.wire_to_text(owner)
        self.node = node
        self.ttl = ttl
        # cacheable: no random draw or rotation, so the decision depends on the client and
        # health alone; by_facts: on the client's GeoFacts alone (no cidr rule, no hash).
        # pools: every (zone, pool) the tree can answer from, whose health stamps its memos.
        self.cacheable, self.by_facts, self.pools = flags or policy_flags(node)
        # The tree compiled against the GeoIP databases (geo/compiled.py): address ranges ->
        # class and ECS scope. None: not compiled (no database given, or a sticky hash),
        # decided from each client's GeoFacts. Set by build.build_table and on GeoIP swaps.
        self.compiled: Any = None

    def records(
        self, pool: Pool, qtype: int, max_answers: int | None, health: Any, start: int = 0
    ) -> list:
        """The addresses of the queried family to answer with: healthy ones, else all (open);
        with max_answers, N of them from `start` on (the caller keeps the rotation)."""
        addrs = _family_addresses(pool, qtype == w.T_A)
        if not addrs:
            return []
        up = [(a, p) for a, p in addrs if health.is_up((pool.zone, pool.name, a))] or addrs
        if max_answers and len(up) > max_answers:
            start %= len(up)
            up = (up[start:] + up[:start])[:max_answers]
        return up


def policy_flags(node: object) -> tuple[bool, bool, tuple[tuple[str, str], ...]]:
    """(cacheable, decides by GeoFacts alone, pool keys) of a policy tree, fixed at compile."""
    from geodns import policies

    cacheable = _deterministic(node)
    pools = tuple(dict.fromkeys((p.zone, p.name) for p in policies.walk_pools(node)))
    return cacheable, cacheable and _facts_only(node), pools


def _deterministic(node: object) -> bool:
    """True when a tree's answer may be cached: no random draw, no rotating max_answers."""
    from geodns import policies

    return not ({"random", "rotation"} & policies.reads(node))


def _facts_only(node: Any) -> bool:
    """True when a tree decides by the client's GeoFacts alone: no cidr rule, no sticky hash."""
    from geodns import policies

    return policies.reads(node) <= {"facts"}


_FAMILY_CACHE: dict[tuple[tuple[str, ...], bool], list[tuple[str, bytes]]] = {}


def _family_addresses(pool: Pool, v4: bool) -> list[tuple[str, bytes]]:
    key = (pool.addresses, v4)
    found = _FAMILY_CACHE.get(key)
    if found is None:
        found = []
        for text in pool.addresses:
            addr = ipaddress.ip_address(text)
            if (addr.version == 4) == v4:
                found.append((text, addr.packed))
        _FAMILY_CACHE[key] = found
    return found


@dataclass(slots=True)
class ZoneTable:
    """One zone compiled for lookups that the fast table cannot answer."""

    zone: Zone
    origin: bytes
    rrsets: dict[bytes, dict[int, RRSet]]
    policies: dict[bytes, PolicyAnswer]
    names: set[bytes]  # every name that exists, empty non-terminals included
    cuts: tuple[bytes, ...]  # delegation points below the apex
    soa_answer: bytes  # SOA RR owned by the question name (for SOA queries at the apex)
    soa_negative: w.Compressed  # the SOA of negative answers: .at(where the origin starts)
    has_wildcards: bool
    signer: Any = None  # dnssec.zone.ZoneSigner when the zone is signed (DO answers)

    def find_cut(self, name: bytes) -> bytes | None:
        for cut in self.cuts:
            if name == cut or is_below(name, cut):
                return cut
        return None

    def ns_records(
        self, owner: bytes, ns: RRSet, anchor: bytes, anchor_at: int, start: int
    ) -> tuple[bytes, dict[bytes, int]]:
        """NS records written at offset `start` of a message, each target compressed into
        `anchor` (a name at `anchor_at`: the cut or the origin in the question), and where
        each target's name starts, for its glue's owner to point at (as Knot answers)."""
        out, where = [], {}
        for rdata, target in zip(ns.rdatas, ns.targets, strict=False):
            where.setdefault(target, start + len(owner) + 10)
            record = w.rr(owner, w.T_NS, ns.ttl, w.pointer_name(rdata, anchor, anchor_at))
            out.append(record)
            start += len(record)
        return b"".join(out), where

    def glue_at(self, targets: Iterable[bytes], where: dict[bytes, int]) -> list[bytes]:
        """glue(), each owner a pointer to its NS target's name (`where`, ns_records')."""
        out = []
        for target in targets:
            sets = self.rrsets.get(target)
            at = where.get(target, 0x4000)
            if not sets or at > 0x3FFF:
                out.extend(self.glue([target]))
                continue
            for rtype in (w.T_A, w.T_AAAA):
                if rtype in sets:
                    out.extend(
                        w.rr(w.pointer(at), rtype, sets[rtype].ttl, rd) for rd in sets[rtype].rdatas
                    )
        return out

    def glue(self, targets: Iterable[bytes]) -> list[bytes]:
        """A/AAAA records this zone holds for the given names (additional section)."""
        out = []
        for target in targets:
            sets = self.rrsets.get(target)
            if not sets:
                continue
            owner = names.name_to_wire(names.wire_to_text(target))
            for rtype in (w.T_A, w.T_AAAA):
                if rtype in sets:
                    out.extend(w.rr(owner, rtype, sets[rtype].ttl, rd) for rd in sets[rtype].rdatas)
        return out


# The fast map is split in shards picked by the key's hash: a reload builds it in a thread,
# and growing one dict of a million entries is a single C call that holds the GIL for
# 100+ ms (answering stops); a shard's growth takes 1/64 of that. Costs a query one hash()
# (bytes cache it, so the dict look-up does not hash again) and one list index.
FAST_SHARDS = 64
FAST_MASK = FAST_SHARDS - 1


def _shards() -> list[dict[bytes, FastEntry]]:
    return [{} for _ in range(FAST_SHARDS)]


@dataclass(slots=True)
class Table:
    """Every zone, compiled. Immutable once built; reload builds another and swaps it."""

    zones: dict[bytes, ZoneTable] = field(default_factory=dict)
    fast: list[dict[bytes, FastEntry]] = field(default_factory=_shards)
    max_zone_labels: int = 0
    signed: frozenset[bytes] = frozenset()  # origins of signed zones: DO queries go slow

    def fast_get(self, key: bytes) -> FastEntry | None:
        """The fast entry for a question (lower-case name, type, class); the hot path inlines it."""
        return self.fast[hash(key) & FAST_MASK].get(key)

    def fast_put(self, key: bytes, entry: FastEntry) -> None:
        self.fast[hash(key) & FAST_MASK][key] = entry

    def fast_size(self) -> int:
        return sum(len(shard) for shard in self.fast)

    def find_zone(self, qname: bytes) -> ZoneTable | None:
        """Longest-suffix match of a lower-case wire name against our zones."""
        name = qname
        while True:
            zt = self.zones.get(name)
            if zt is not None:
                return zt
            if name == b"\x00":
                return None
            name = name[name[0] + 1 :]

    def serials(self) -> dict[str, int]:
        return {zt.zone.origin_text: zt.zone.serial for zt in self.zones.values()}


def _names_with_ents(origin: bytes, names: Iterable[bytes]) -> set[bytes]:
    out = {origin}
    for name in names:
        while name != origin and name not in out:
            out.add(name)
            name = name[name[0] + 1 :]
    return out


def _with_keys(zone: Zone, signer: Any) -> dict[bytes, dict[int, RRSet]]:
    """The zone's RRsets plus the apex DNSKEY (and CDS/CDNSKEY) its signer publishes."""
    rrsets = dict(zone.rrsets)
    apex = dict(rrsets.get(zone.origin, {}))
    for rtype, rdatas in signer.apex_sets().items():
        apex[rtype] = RRSet(rtype, zone.ttl, tuple(rdatas), ())
    rrsets[zone.origin] = apex
    return rrsets


def compile_zone(zone: Zone, table: Table, signer: Any = None) -> ZoneTable:
    """Pre-encode one zone's answers into the table's fast map and return its slow-path view."""
    origin = zone.origin
    neg_ttl = min(zone.soa_ttl, zone.soa_minimum)
    soa_rdata = zone.soa_rdata
    zt = ZoneTable(
        zone=zone,
        origin=origin,
        rrsets=zone.rrsets if signer is None else _with_keys(zone, signer),
        policies={},
        names=_names_with_ents(origin, list(zone.rrsets) + list(zone.policies)),
        cuts=tuple(n for n, s in zone.rrsets.items() if n != origin and w.T_NS in s),
        soa_answer=w.soa_record(origin, zone.soa_ttl, soa_rdata).at(12),
        soa_negative=w.soa_record(origin, neg_ttl, soa_rdata),
        has_wildcards=any(n.startswith(b"\x01*") for n in zone.rrsets),
        signer=signer,
    )
    flags: dict[int, tuple] = {}  # identical policy blocks share one node
    for owner, node in zone.policies.items():
        found = flags.get(id(node))
        if found is None:
            found = flags[id(node)] = policy_flags(node)
        ttl = zone.policy_ttls[owner]
        zt.policies[owner] = PolicyAnswer(zone.origin_text, owner, node, ttl, found)
    _fill_entries(zt, table)
    return zt


_TYPE_CLASS: dict[int, bytes] = {}


def _type_class(rtype: int) -> bytes:
    """The 4 bytes after a question name: type and class IN."""
    found = _TYPE_CLASS.get(rtype)
    if found is None:
        found = _TYPE_CLASS[rtype] = struct.pack("!HH", rtype, w.CLASS_IN)
    return found


def _fill_entries(zt: ZoneTable, table: Table) -> None:
    """Fast entries for exact names that need no chasing, referral or synthesis."""
    zone = zt.zone
    put, origin_text, cuts = table.fast_put, zone.origin_text, bool(zt.cuts)
    for owner, sets in zt.rrsets.items():
        if owner.startswith(b"\x01*") or w.T_CNAME in sets or (cuts and zt.find_cut(owner)):
            continue
        for rtype, rrset in sets.items():
            body = encode_rrset(w.PTR_QNAME, rrset)
            ar = 0
            if owner == zt.origin and rtype == w.T_NS:  # the question is the origin, at 12
                body, where = zt.ns_records(w.PTR_QNAME, rrset, owner, 12, 16 + len(owner))
                glue = zt.glue_at(rrset.targets, where)
                body += b"".join(glue)
                ar = len(glue)
            hd = heads(True, 0, len(rrset.rdatas), 0, ar)
            put(owner + _type_class(rtype), FastEntry(STATIC, hd, body, None, origin_text, rtype))
    key = zt.origin + struct.pack("!HH", w.T_SOA, w.CLASS_IN)
    put(key, FastEntry(STATIC, heads(True, 0, 1, 0, 0), zt.soa_answer, None, origin_text, w.T_SOA))
    a_tail, aaaa_tail = _type_class(w.T_A), _type_class(w.T_AAAA)
    nodata: dict[int, bytes] = {}  # names of one length share one compressed SOA
    for owner, pa in zt.policies.items():
        if cuts and zt.find_cut(owner):
            continue
        # body: the SOA for a NODATA answer (the chosen pool has no address of this family)
        base = 12 + len(owner) - len(zt.origin)
        soa = nodata.get(base)
        if soa is None:
            soa = nodata[base] = zt.soa_negative.at(base)
        put(owner + a_tail, FastEntry(POLICY, (), soa, pa, origin_text, w.T_A))
        put(owner + aaaa_tail, FastEntry(POLICY, (), soa, pa, origin_text, w.T_AAAA))


def compile_table(zones: Iterable[Zone], signers: dict[bytes, Any] | None = None) -> Table:
    """Build a whole new table; the caller swaps it in only if this returns. `signers`:
    the signer of each signed zone by origin (build.py loads their keys)."""
    table = Table()
    signers = signers or {}
    for zone in zones:
        table.zones[zone.origin] = compile_zone(zone, table, signers.get(zone.origin))
    table.signed = frozenset(signers) & frozenset(table.zones)
    return table


def dismantle(table: Table) -> None:
    """Empty a table that is no longer served, in small steps (call it from a thread).

    Dropping a million-name table frees millions of objects in one C call that holds
    the GIL for a second or more; emptying its big containers from a Python loop lets
    the event loop answer in between. The table (and its zones) are unusable afterwards.
    """
    for shard in table.fast:
        teardown.drain(shard)
    for zt in list(table.zones.values()):
        teardown.drain(zt.policies)
        teardown.drain(zt.names)
        for big in (zt.zone.policies, zt.zone.policy_ttls, zt.rrsets, zt.zone.rrsets):
            teardown.drain(big)
    teardown.drain(table.zones)
