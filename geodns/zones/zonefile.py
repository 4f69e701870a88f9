"""YAML zone file text -> model.Zone, reporting every problem with file:line.

Only parsing lives here; zones/load.py lists, reads and decides which files need it.
"""

from __future__ import annotations

import os
import struct
from typing import Any

from geodns import names
from geodns import wire as w
from geodns.errors import Problem, Problems, Where, ZoneError
from geodns.model import RRSet, Zone
from geodns.zones import sections, teardown, yamlio
from geodns.zones.check import check_zone
from geodns.zones.state import FileState, as_int, at

TOP_KEYS = ("zone", "ttl", "soa", "ns", "checks", "pools", "records", "dnssec")
SOA_KEYS = ("mname", "rname", "serial", "refresh", "retry", "expire", "minimum")


def _header(ld: FileState, raw: yamlio.LineDict) -> None:
    top = raw.where
    for key in raw:
        if key not in TOP_KEYS:
            ld.add(raw.at(key), f"unknown key {key!r} (known: {', '.join(TOP_KEYS)})")
    zone = raw.get("zone")
    if not isinstance(zone, str) or not zone.strip():
        ld.add(raw.at("zone") if "zone" in raw else top, "zone: the zone name is required")
        raise ZoneError(ld.problems.items)
    zone = zone.strip()
    if not zone.endswith("."):
        zone += "."
    try:
        ld.origin = names.name_to_wire(zone).lower()
    except ValueError as exc:
        ld.add(raw.at("zone"), f"zone: {exc}")
        raise ZoneError(ld.problems.items) from exc
    ld.origin_text = names.wire_to_text(ld.origin)
    if "ttl" in raw:
        ld.ttl = ld.ttl_value(raw["ttl"], raw.at("ttl"), "ttl") or ld.ttl


def _soa(ld: FileState, raw: yamlio.LineDict, ns_names: list[bytes]) -> tuple[bytes, list, Any]:
    """Encode the SOA names and return (rdata_prefix, [refresh..minimum], serial or 'auto')."""
    soa = raw.get("soa") or yamlio.LineDict()
    where = at(raw, "soa", raw.where)
    if not isinstance(soa, dict):
        ld.add(where, "soa: must be a mapping")
        soa = yamlio.LineDict()
    for key in soa:
        if key not in SOA_KEYS:
            ld.add(at(soa, key, where), f"soa: unknown key {key!r} (known: {', '.join(SOA_KEYS)})")
    mname = soa.get("mname") or (names.wire_to_text(ns_names[0]) if ns_names else None)
    if mname is None:
        ld.add(where, "soa: mname is required when the zone has no ns")
        mname = ld.origin_text
    rname = soa.get("rname", f"hostmaster.{ld.origin_text}")
    m = ld.name(mname, at(soa, "mname", where)) or b"\x00"
    r = ld.name(rname, at(soa, "rname", where)) or b"\x00"
    values = []
    for key, default in (("refresh", 3600), ("retry", 600), ("expire", 604800), ("minimum", 60)):
        value = as_int(soa.get(key, default), 0, 2**32 - 1)
        if value is None:
            ld.add(at(soa, key, where), f"soa.{key}: must be an integer from 0 to 4294967295")
            value = default
        values.append(value)
    serial = soa.get("serial", "auto")
    if serial != "auto" and as_int(serial, 0, 2**32 - 1) is None:
        ld.add(at(soa, "serial", where), "soa.serial: must be 'auto' or an integer")
        serial = "auto"
    return m + r, values, serial


def _apex_ns(ld: FileState, raw: yamlio.LineDict) -> list[bytes]:
    ns = raw.get("ns")
    where = at(raw, "ns", raw.where)
    if ns is None:
        ld.add(raw.where, "ns: the zone needs at least one name server")
        return []
    if isinstance(ns, str):
        ns = [ns]
    if not isinstance(ns, list) or not ns:
        ld.add(where, "ns: must be a non-empty list of names")
        return []
    found = []
    for i, item in enumerate(ns):
        name = ld.name(item, at(ns, i, where))
        if name is not None:
            found.append(name)
    return found


def _dnssec(ld: FileState, raw: yamlio.LineDict, path: str) -> str | None:
    """`dnssec: {keys: DIR}`: the key directory, relative to the zone file's folder."""
    if "dnssec" not in raw:
        return None
    spec, where = raw["dnssec"], raw.at("dnssec")
    if not isinstance(spec, dict) or set(spec) - {"keys"} or not isinstance(spec.get("keys"), str):
        ld.add(where, "dnssec: must be a mapping with one key, keys: <key directory>")
        return None
    return os.path.join(os.path.dirname(os.path.abspath(path)), spec["keys"])


def _apex_rrset(ld: FileState, ns_names: list[bytes]) -> RRSet:
    texts = tuple(names.wire_to_text(n) for n in ns_names)
    targets = tuple(n.lower() for n in ns_names)
    return RRSet(w.T_NS, ld.ttl, tuple(ns_names), texts, targets)


def load_text(text: str, path: str, *, auto_serial: int = 1, digest: str = "") -> Zone:
    """Parse one zone file's text; ZoneError lists every problem found.

    The caller decides what `serial: auto` means (load.py: from the content's hash, so
    every instance agrees) and passes the text's hash, which it needed first to skip unchanged
    files; parsing neither stats nor hashes.
    """
    problems = Problems()
    raw = yamlio.load_or_raise(text, path, problems, ZoneError)
    if not isinstance(raw, yamlio.LineDict):
        raise ZoneError([Problem(Where(path, 1), "a zone file must be a mapping")])
    ld = FileState(path, problems)
    _header(ld, raw)
    ns_names = _apex_ns(ld, raw)
    soa_prefix, soa_values, serial = _soa(ld, raw, ns_names)
    pools = sections.pools(ld, raw)
    dnssec_keys = _dnssec(ld, raw, path)
    zone: dict[str, dict] = {"rrsets": {}, "policies": {}, "policy_ttls": {}}
    if ns_names:
        zone["rrsets"].setdefault(ld.origin, {})[w.T_NS] = _apex_rrset(ld, ns_names)
    where_of = sections.records(ld, raw, pools, zone)
    where_of.setdefault(ld.origin, at(raw, "ns", raw.where))
    check_zone(ld.origin, zone, where_of, ld.add)
    teardown.drain(where_of)  # big zones: free the parse a little at a time (GIL)
    teardown.drain_tree(raw)
    problems.raise_if_any(ZoneError)
    auto = serial == "auto"
    serial = auto_serial if auto else int(serial)
    return Zone(
        origin=ld.origin,
        origin_text=ld.origin_text,
        source=path,
        ttl=ld.ttl,
        serial=serial,
        soa_ttl=ld.ttl,
        soa_rdata=soa_prefix + struct.pack("!IIIII", serial, *soa_values),
        soa_minimum=soa_values[3],
        rrsets=zone["rrsets"],
        policies=zone["policies"],
        policy_ttls=zone["policy_ttls"],
        pools=pools,
        content_hash=digest,
        serial_auto=auto,
        dnssec_keys=dnssec_keys,
    )
