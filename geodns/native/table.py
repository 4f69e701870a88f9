"""The native fast path's table: a compiled Table flattened for geodns._native.

The C side answers what this holds (static names, NXDOMAIN) byte for byte as Handler.handle
does, and hands everything else to the Python handler, which stays the reference. Which
path runs is `dns.fast_path` (auto | native | python); `auto` runs native when the
extension loads and nothing in the config needs every query in Python.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from geodns import __version__, names, policies
from geodns import wire as w
from geodns.dns.assemble import Opts
from geodns.dns.identity import Identity
from geodns.errors import GeoDNSError
from geodns.native import chase as nativechase
from geodns.native import denial as nativedenial
from geodns.native import loaded, signing
from geodns.table import POLICY, STATIC, FastEntry, Table

_engine = loaded()  # None: a machine without a compiler runs the Python path

AUTO, NATIVE, PYTHON = "auto", "native", "python"
CHOICES = (AUTO, NATIVE, PYTHON)


def available() -> bool:
    """Whether geodns._native was built and imports."""
    return _engine is not None


def python_reasons(conf: Any) -> list[str]:
    """What in a config needs every UDP query in the Python handler (native threads would
    only hand them over): response rate limiting when its shared native table
    (geodns._native) is not built. (The query log is written from the threads too.)"""
    from geodns.native import shared

    reasons = []
    if conf.rrl.responses_per_second and not shared.available():
        reasons.append("rrl is on and geodns._native is not built")
    return reasons


def resolve(conf: Any) -> tuple[str, str]:
    """(path, why): which path serves UDP for this config. `native` without the extension
    is a start error (GeoDNSError); `auto` without it is python with a reason the caller
    logs once."""
    choice = conf.dns.fast_path
    if choice == PYTHON:
        return PYTHON, "dns.fast_path is python"
    if _engine is None:
        if choice == NATIVE:
            raise GeoDNSError(
                "dns.fast_path is native but the geodns._native extension is not built "
                "(pip install with a C compiler, or set dns.fast_path: auto)"
            )
        return PYTHON, "the geodns._native extension is not built: answering in Python"
    reasons = python_reasons(conf)
    if reasons:
        return PYTHON, "answering in Python: " + ", ".join(reasons)
    return NATIVE, "native"


@dataclass(slots=True)
class Built:
    """A native table, the zone names its counters index, and its policy entries by slot
    (a by_pool counter names a slot and the pool's index in its tree's pools)."""

    table: Any
    zones: list[str]
    policies: list[FastEntry] = field(default_factory=list)
    max_source: tuple[int, int] = (24, 56)
    # max_answers: each rotating name's counter (uint64, by id of its PolicyAnswer), kept
    # across health changes as Python's memos keep theirs
    rot_index: dict[int, int] = field(default_factory=dict)
    rotations: bytearray = field(default_factory=bytearray)
    # slots of CNAME chains ending in a policy name: (the records' owner, records before)
    chains: dict[int, tuple[bytes, int]] = field(default_factory=dict)
    # DNSSEC: the signed zones' answers signed ahead (native/signing.py), and each policy
    # slot's owner (its lower-case wire name: a signature covers it, so no sharing)
    signing: signing.Presigner | None = None
    owners: dict[int, bytes] = field(default_factory=dict)

    def pool_key(self, slot: int, pool: int) -> tuple[str, str, str]:
        """The by_pool label of a native pool counter (its policy slot, pool index)."""
        pa = self.policies[slot].policy
        return pa.zone, pa.name, pa.pools[pool][1]


def _known_types() -> bytes:
    """wire.TYPE_TEXT as a 65536-bit map: the qtypes counted under their own label."""
    bits = bytearray(8192)
    for qtype in w.TYPE_TEXT:
        bits[qtype >> 3] |= 1 << (qtype & 7)
    return bytes(bits)


def _pointers(soa: w.Compressed) -> tuple[int, ...]:
    """Where a Compressed record's name pointers sit (the fields at() adds its base to)."""
    out, mask, bit = [], soa.mask, 0
    while mask:
        if mask & 1:
            out.append(soa.size - 2 - bit // 8)
        mask >>= 1
        bit += 1
    return tuple(out)


def build(
    table: Table,
    *,
    max_udp_payload: int = 1232,
    ecs_enabled: bool = True,
    cookies: bool = True,
    nsid: bool = False,
    max_source: tuple[int, int] = (24, 56),
    identity: tuple[bytes, bytes, bytes] | None = None,
) -> Built:
    """A geodns._native.Table for `table` with these answering settings: every zone (its
    names, cuts and negative SOA) and every fast entry (static ones pre-encoded, policy
    ones marked so they go to Python)."""
    if _engine is None:
        raise RuntimeError("geodns._native is not built")
    opts = Opts(max_udp_payload)
    native = _engine.Table(
        opts.plain[0],
        opts.plain[1],
        opts.ecs_head[0],
        opts.ecs_head[1],
        max_udp_payload,
        ecs_enabled,
        cookies,
        nsid,
        _known_types(),
        *max_source,
    )
    zone_index: dict[str, int] = {}
    presigner = signing.for_table(table)  # DNSSEC: signed zones' answers signed ahead
    zones: list[str] = []
    for zt in table.zones.values():
        soa = zt.soa_negative
        template = soa.template.to_bytes(soa.size, "big")
        cuts = bool(zt.cuts)
        signed = zt.origin in table.signed  # DO queries: signed ahead (native/signing.py)
        index = native.add_zone(zt.origin, template, _pointers(soa), zt.has_wildcards, cuts, signed)
        zone_index[zt.zone.origin_text] = index
        zones.append(zt.zone.origin_text)
        native.add_names(index, zt.names, False)
        native.add_names(index, nativechase.python_names(zt), False, 1)  # NODATA: Python's
        if cuts:
            native.add_names(index, zt.cuts, True)
        signing.add_nodata(native, presigner, zt, index)
        nativedenial.add(native, presigner, zt, index, signing.query)  # NXDOMAIN with DO
    built = Built(native, zones, max_source=max_source)
    built.signing = presigner
    for shard in table.fast:
        for key, entry in shard.items():
            zone = zone_index[entry.zone]
            if entry.kind == STATIC:
                native.add_entry(key, STATIC, zone, entry.qtype, b"".join(entry.heads), entry.body)
                signing.add_static(native, presigner, key, entry.zone, entry.heads[0], entry.body)
            else:  # body: the NODATA SOA; the answers come with the decisions
                slot = len(built.policies)
                built.policies.append(entry)
                built.owners[slot] = key[:-4]
                _rotation(built, entry.policy)
                native.add_entry(key, POLICY, zone, entry.qtype, b"", entry.body, slot)
    for zt in table.zones.values():  # chains, wildcards, referrals (native/chase.py)
        _add_chased(native, built, zt, zone_index[zt.zone.origin_text])
    if built.signing is not None:  # past the signing week's end: DO queries are Python's
        native.set_signed_until(built.signing.until())
        built.signing.memo.clear()  # the table holds the variants now (decisions: fresh())
    native.seal()
    # the texts the query log names answers by: zone i, pool p of policy slot s
    pools = [[pool[1] for pool in entry.policy.pools] for entry in built.policies]
    _engine.table_log_names(native, zones, pools)
    zones.append("")  # answers outside every zone (CHAOS): counted under zone "" as Python's
    if identity is not None:  # NSID and CHAOS answered natively (csrc/answer/chaos.c)
        with contextlib.suppress(ValueError):  # a name past the C's room: NSID, CHAOS Python's
            native.set_identity(*identity)
    built.rotations = bytearray(8 * len(built.rot_index))
    return built


def _rotation(built: Built, pa: Any) -> None:
    """A counter for a policy name whose answers rotate (max_answers), once per name."""
    if "rotation" in policies.reads(pa.node):
        built.rot_index.setdefault(id(pa), len(built.rot_index))


def _add_chased(native: Any, built: Built, zt: Any, zone: int) -> None:
    """A zone's native-only entries: CNAME chains, wildcard owners, referrals."""
    for e in nativechase.entries(zt):
        if e.kind != POLICY:
            native.add_entry(e.key, e.kind, zone, e.qtype, e.heads, e.body)
            if e.kind == STATIC:  # a chain to static data, a wildcard's own name: signed
                signing.add_static(
                    native, built.signing, e.key, zt.zone.origin_text, e.heads, e.body
                )
            elif e.kind == nativechase.REFERRAL:  # DNSSEC: the DS or its NSEC signed ahead
                signing.add_referral(native, built.signing, zt, e.key)
            continue
        slot = len(built.policies)
        built.policies.append(FastEntry(POLICY, (), e.body, e.policy, zt.zone.origin_text, e.qtype))
        built.chains[slot] = (e.owner, e.before)
        built.owners[slot] = e.key[:-4]  # DNSSEC: the chain's records are signed for it
        _rotation(built, e.policy)
        native.add_entry(e.key, POLICY, zone, e.qtype, b"", e.body, slot, True)


# The last table flattened where it was built (the supervisor, before it forks workers):
# a worker forked from it finds it here and shares its pages instead of flattening again.
_PREPARED: list[tuple[Table, tuple, Built]] = []


def _build_settings(
    payload: int,
    ecs_enabled: bool,
    cookies: bool,
    nsid: bool,
    max_source: tuple[int, int],
    identity: Identity | None = None,
) -> tuple:
    return payload, ecs_enabled, cookies, nsid, max_source, native_identity(identity)


def native_identity(identity: Identity | None) -> tuple[bytes, bytes, bytes] | None:
    """Who answers, pre-encoded for the C (Table.set_identity): our NSID option and the
    CH TXT records of the id and version names (b"": REFUSED), as identity.py makes them."""
    if identity is None:
        return None

    def record(name: str) -> bytes:
        reply = identity.chaos_reply(names.name_to_wire(name), w.T_TXT)
        return reply.answer[0] if reply.rcode == 0 else b""

    return identity.nsid_option(), record("id.server."), record("version.server.")


def prepare(table: Table, conf: Any) -> None:
    """Flatten `table` with the config's answering settings now, for the workers forked
    next (only the latest is kept: an older table's workers hold their own copy)."""
    settings = _build_settings(
        conf.dns.max_udp_payload,
        conf.ecs.enabled,
        conf.cookies.enabled,
        conf.dns.nsid,
        (conf.ecs.max_source_v4, conf.ecs.max_source_v6),
        Identity(conf.instance_name(), __version__, conf.dns.nsid, conf.dns.chaos,
                 conf.dns.hide_version),
    )  # fmt: skip
    built = _prepared(table, settings)
    if built is None:
        built = build(
            table,
            max_udp_payload=settings[0],
            ecs_enabled=settings[1],
            cookies=settings[2],
            nsid=settings[3],
            max_source=settings[4],
            identity=settings[5],
        )
    _PREPARED[:] = [(table, settings, built)]


def _prepared(table: Table, settings: tuple) -> Built | None:
    for held, held_settings, built in _PREPARED:
        if held is table and held_settings == settings:
            return built
    return None


def for_handler(handler: Any) -> Built:
    """The native table for a handler's table and settings (what it would answer with):
    the one prepared before the fork when it matches, else flattened now."""
    settings = _build_settings(
        handler.max_udp_payload,
        handler.ecs_enabled,
        handler.cookies is not None,
        handler.identity.nsid,
        (handler.clients.max_v4, handler.clients.max_v6),
        handler.identity,
    )
    found = _prepared(handler.table, settings)
    if found is not None:
        return found
    return build(
        handler.table,
        max_udp_payload=settings[0],
        ecs_enabled=settings[1],
        cookies=settings[2],
        nsid=settings[3],
        max_source=settings[4],
        identity=settings[5],
    )


def engine() -> Any:
    """The geodns._native module (RuntimeError when it is not built)."""
    if _engine is None:
        raise RuntimeError("geodns._native is not built")
    return _engine


def server(fds: list[int], *, threads: int = 1, reply_size: int = 1232, queue: int = 4096) -> Any:
    """Native threads for these UDP descriptors (geodns._native.Server), not started;
    `queue`: datagrams handed to Python that may wait (beyond: dropped, and counted)."""
    if _engine is None:
        raise RuntimeError("geodns._native is not built")
    return _engine.Server(fds, threads=threads, reply_size=reply_size, queue=queue)


def add_counts(stats: Any, built: Built, counts: dict, seen: dict) -> None:
    """Native answers into a Stats' counters: the growth of each total since `seen`
    (updated), under the labels the Python path counts with. A key's layout is the C's:
    geodns._native.counter_key() decodes it into a query (zone, qtype, rcode: the UDP
    query counts), a pool (by_pool) or an RRL action (rrl)."""
    queries, by_pool, decode = stats.queries, stats.by_pool, engine().counter_key
    for key, total in counts.items():
        delta = total - seen.get(key, 0)
        if not delta:
            continue
        seen[key] = total
        kind, *parts = decode(key)
        if kind == "pool":
            by_pool[built.pool_key(*parts)] += delta
        elif kind == "action":  # slip, badcookie, drop, log_only
            stats.rrl[parts[0]] += delta
        else:
            zone, label, rcode = parts
            queries[(built.zones[zone], label, rcode, "udp")] += delta
