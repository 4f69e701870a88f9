"""YAML zone file -> model.Zone, reporting every problem with file:line."""

from __future__ import annotations

import codecs
import hashlib
import ipaddress
import os
import re
import struct
from pathlib import Path
from typing import Any

from geodns import names
from geodns import wire as w
from geodns.errors import Problem, Problems, Where, ZoneError
from geodns.model import Pool, RRSet, Zone
from geodns.zones import checkspec, teardown, yamlio
from geodns.zones.check import check_zone
from geodns.zones.records import RecordContext, parse_rrset

MAX_TTL = 2**31 - 1  # RFC 2181 section 8
STATIC_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "CAA", "PTR")
POLICY_KEYS = ("geo", "latency", "weighted", "failover")
NODE_OPTIONS = ("max_answers", "when_all_down", "sticky", "rtt")
TOP_KEYS = ("zone", "ttl", "soa", "ns", "checks", "pools", "records")
SOA_KEYS = ("mname", "rname", "serial", "refresh", "retry", "expire", "minimum")
POOL_KEYS = ("addresses", "location", "check")


def _at(raw: Any, key: Any, fallback: Where) -> Where:
    return raw.at(key) if isinstance(raw, (yamlio.LineDict, yamlio.LineList)) else fallback


# Names of plain labels (a leftmost '*' allowed) take a short cut past wire.name_to_wire.
_SIMPLE_NAME = re.compile(r"(?:\*|[A-Za-z0-9_-]{1,63})(?:\.[A-Za-z0-9_-]{1,63})*\.?")


def _simple_wire(text: str, origin: bytes) -> bytes | None:
    """The wire form of a _SIMPLE_NAME (relative ones below origin); None if over 255 octets."""
    if text.endswith("."):
        labels, tail = text[:-1].split("."), b"\x00"
    else:
        labels, tail = text.split("."), origin
    wire_name = b"".join([bytes((len(label),)) + label.encode() for label in labels]) + tail
    return wire_name if len(wire_name) <= 255 else None


def _int(value: Any, lo: int, hi: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        return None
    return value


class _Loader:
    """State for loading one file: its problems, origin, and what it has seen so far."""

    def __init__(self, path: str, problems: Problems) -> None:
        self.path = path
        self.problems = problems
        self.origin = b"\x00"
        self.origin_text = "."
        self.ttl = 3600
        self.policy_cache: dict[Any, Any] = {}  # policy block shape -> parsed node

    def add(self, where: Where, message: str) -> None:
        self.problems.add(where, message)

    def name(self, text: Any, where: Where, *, owner: bool = False) -> bytes | None:
        """Resolve a relative or absolute name against the origin; None (and a problem) if bad."""
        if type(text) is str and _SIMPLE_NAME.fullmatch(text):
            wire_name = _simple_wire(text, self.origin)
            if wire_name is not None and (not owner or wire_name.endswith(self.origin)):
                return wire_name.lower() if owner else wire_name
        if not isinstance(text, (str, int)) or isinstance(text, bool):
            self.add(where, f"name {text!r} must be a string")
            return None
        text = str(text).strip()
        if text == "@":
            return self.origin
        if text.endswith("."):
            absolute = text
        else:
            absolute = text + "." + (self.origin_text if self.origin_text != "." else "")
        try:
            wire_name = names.name_to_wire(absolute)
        except ValueError as exc:
            self.add(where, str(exc))
            return None
        lower = wire_name.lower()
        if owner and not lower.endswith(self.origin):
            self.add(where, f"{text!r} is outside the zone {self.origin_text}")
            return None
        if owner and b"*" in names.wire_labels(lower)[1:]:
            self.add(where, f"{text!r}: a wildcard label '*' is only allowed leftmost")
            return None
        return lower if owner else wire_name

    def ttl_value(self, value: Any, where: Where, what: str) -> int | None:
        ttl = _int(value, 0, MAX_TTL)
        if ttl is None:
            self.add(where, f"{what}: TTL {value!r} must be an integer from 0 to {MAX_TTL}")
        return ttl


def _header(ld: _Loader, raw: yamlio.LineDict) -> None:
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


def _soa(ld: _Loader, raw: yamlio.LineDict, ns_names: list[bytes]) -> tuple[bytes, int, Any]:
    """Encode the SOA RDATA (serial filled in later) and return (rdata_prefix, minimum, serial)."""
    soa = raw.get("soa") or yamlio.LineDict()
    where = _at(raw, "soa", raw.where)
    if not isinstance(soa, dict):
        ld.add(where, "soa: must be a mapping")
        soa = yamlio.LineDict()
    for key in soa:
        if key not in SOA_KEYS:
            ld.add(_at(soa, key, where), f"soa: unknown key {key!r} (known: {', '.join(SOA_KEYS)})")
    mname = soa.get("mname") or (names.wire_to_text(ns_names[0]) if ns_names else None)
    if mname is None:
        ld.add(where, "soa: mname is required when the zone has no ns")
        mname = ld.origin_text
    rname = soa.get("rname", f"hostmaster.{ld.origin_text}")
    m = ld.name(mname, _at(soa, "mname", where)) or b"\x00"
    r = ld.name(rname, _at(soa, "rname", where)) or b"\x00"
    values = []
    for key, default in (("refresh", 3600), ("retry", 600), ("expire", 604800), ("minimum", 60)):
        value = _int(soa.get(key, default), 0, 2**32 - 1)
        if value is None:
            ld.add(_at(soa, key, where), f"soa.{key}: must be an integer from 0 to 4294967295")
            value = default
        values.append(value)
    serial = soa.get("serial", "auto")
    if serial != "auto" and _int(serial, 0, 2**32 - 1) is None:
        ld.add(_at(soa, "serial", where), "soa.serial: must be 'auto' or an integer")
        serial = "auto"
    return m + r, values, serial


def _pools(ld: _Loader, raw: yamlio.LineDict) -> dict[str, Pool]:
    checks = checkspec.parse_templates(raw.get("checks"), _at(raw, "checks", raw.where), ld)
    pools: dict[str, Pool] = {}
    section = raw.get("pools") or {}
    where = _at(raw, "pools", raw.where)
    if not isinstance(section, dict):
        ld.add(where, "pools: must be a mapping of pool name to pool")
        return pools
    for name, body in section.items():
        at = _at(section, name, where)
        pool = _pool(ld, str(name), body, at, checks)
        if pool is not None:
            pools[str(name)] = pool
    return pools


def _pool(ld: _Loader, name: str, body: Any, at: Where, checks: dict) -> Pool | None:
    if not isinstance(body, dict):
        ld.add(at, f"pool {name!r}: must be a mapping with addresses")
        return None
    for key in body:
        if key not in POOL_KEYS:
            ld.add(_at(body, key, at), f"pool {name!r}: unknown key {key!r}")
    addrs = body.get("addresses")
    if isinstance(addrs, str):
        addrs = [addrs]
    if not isinstance(addrs, list) or not addrs:
        ld.add(_at(body, "addresses", at), f"pool {name!r}: addresses must be a non-empty list")
        return None
    out: list[str] = []
    for i, text in enumerate(addrs):
        try:
            addr = str(ipaddress.ip_address(str(text)))
        except ValueError:
            ld.add(_at(addrs, i, at), f"pool {name!r}: {text!r} is not an IP address")
            continue
        if addr in out:
            ld.add(_at(addrs, i, at), f"pool {name!r}: address {addr} listed twice")
        else:
            out.append(addr)
    location = _location(ld, name, body.get("location"), _at(body, "location", at))
    check = None
    if body.get("check") is not None:
        check = checkspec.resolve(body["check"], _at(body, "check", at), checks, ld)
    return Pool(ld.origin_text, name, tuple(out), location, check)


def _location(ld: _Loader, name: str, raw: Any, at: Where) -> tuple[float, float] | None:
    if raw is None:
        return None
    try:
        lat, lon = float(raw["lat"]), float(raw["lon"])
        if set(raw) != {"lat", "lon"} or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError
    except (KeyError, TypeError, ValueError):
        ld.add(at, f"pool {name!r}: location must be {{lat: -90..90, lon: -180..180}}")
        return None
    return (lat, lon)


def _records(
    ld: _Loader, raw: yamlio.LineDict, pools: dict[str, Pool], zone: dict
) -> dict[bytes, Where]:
    seen: dict[bytes, Where] = {}
    section = raw.get("records") or {}
    where = _at(raw, "records", raw.where)
    if not isinstance(section, dict):
        ld.add(where, "records: must be a mapping of name to records")
        return seen
    ctx = RecordContext(ld.origin, ld.origin_text, ld.name, ld.add)
    for key, body in section.items():
        at = _at(section, key, where)
        owner = ld.name(key, at, owner=True)
        if owner is None:
            continue
        if owner in seen:
            ld.add(at, f"{key!r}: the same name as line {seen[owner].line}")
            continue
        seen[owner] = at
        if not isinstance(body, dict):
            ld.add(at, f"{key!r}: must be a mapping of record type to data")
            continue
        _name_records(ld, ctx, owner, str(key), body, at, pools, zone)
        section[key] = None  # done with it: a big zone's parse tree shrinks as it goes
    return seen


def _name_records(
    ld: _Loader, ctx: RecordContext, owner: bytes, label: str, body: Any, at: Where, pools, zone
) -> None:
    ttl = ld.ttl
    if "ttl" in body:
        ttl = ld.ttl_value(body["ttl"], body.at("ttl"), label) or ld.ttl
    node_raw = None
    for key, value in body.items():
        if key == "ttl":
            continue
        kat = body.at(key)
        if key in POLICY_KEYS or key in NODE_OPTIONS:
            if node_raw is None:
                node_raw = yamlio.LineDict()
                node_raw.where = at
            node_raw[key] = value
            node_raw.key_where[key] = kat
            continue
        upper = key.upper() if type(key) is str else str(key).upper()
        if upper not in STATIC_TYPES:
            known = ", ".join([*STATIC_TYPES, *POLICY_KEYS, "ttl"])
            ld.add(kat, f"{label!r}: unknown record type or key {key!r} (known: {known})")
            continue
        rrset = parse_rrset(ctx, upper, value, ttl, kat, label)
        if rrset is not None:
            sets = zone["rrsets"].get(owner)
            if sets is None:
                sets = zone["rrsets"][owner] = {}
            sets[rrset.rtype] = rrset
    if node_raw is None:
        return
    if any(k in node_raw for k in POLICY_KEYS):
        node = _policy(ld, node_raw, at, pools)
        if node is not None:
            zone["policies"][owner] = node
            zone["policy_ttls"][owner] = ttl
    else:
        ld.add(at, f"{label!r}: {', '.join(node_raw)} given without a policy")


def _policy(ld: _Loader, raw: yamlio.LineDict, at: Where, pools: dict[str, Pool]) -> Any:
    """Parse a policy node; identical blocks share one parsed (immutable) tree."""
    from geodns import policies  # the policy registry; imported late to keep startup lean

    shape = _shape(raw)
    found = ld.policy_cache.get(shape) if shape is not None else None
    if found is not None:
        return found
    before = len(ld.problems)
    ctx = policies.ParseContext(zone=ld.origin_text, pools=pools, problems=ld.problems)
    node = policies.parse_node(raw, at, ctx)  # the name's ttl is in zone.policy_ttls
    if node is not None and shape is not None and len(ld.problems) == before:
        ld.policy_cache[shape] = node
    return node


_SCALARS = (str, int, float, bool, type(None))


def _shape(raw: Any) -> Any:
    """A hashable copy of a YAML value (types kept: 1, 1.0 and True differ); None if odd."""
    if isinstance(raw, dict):
        items = []
        for key, value in raw.items():
            inner = _shape(value)
            if inner is None or type(key) not in _SCALARS:
                return None
            items.append((type(key), key, inner))
        return (dict, tuple(items))
    if isinstance(raw, list):
        items = []
        for value in raw:
            inner = _shape(value)
            if inner is None:
                return None
            items.append(inner)
        return (list, tuple(items))
    if type(raw) in _SCALARS:
        return (type(raw), raw)
    return None


def load_text(text: str, path: str, previous: Zone | None = None) -> Zone:
    """Parse one zone file's text; ZoneError lists every problem found."""
    problems = Problems()
    raw = yamlio.load_or_raise(text, path, problems, ZoneError)
    if not isinstance(raw, yamlio.LineDict):
        raise ZoneError([Problem(Where(path, 1), "a zone file must be a mapping")])
    ld = _Loader(path, problems)
    _header(ld, raw)
    ns_names = _apex_ns(ld, raw)
    soa_prefix, soa_values, serial = _soa(ld, raw, ns_names)
    pools = _pools(ld, raw)
    zone: dict[str, dict] = {"rrsets": {}, "policies": {}, "policy_ttls": {}}
    if ns_names:
        rdatas = tuple(ns_names)
        texts = tuple(names.wire_to_text(n) for n in ns_names)
        targets = tuple(n.lower() for n in ns_names)
        zone["rrsets"].setdefault(ld.origin, {})[w.T_NS] = RRSet(
            w.T_NS, ld.ttl, rdatas, texts, targets
        )
    where_of = _records(ld, raw, pools, zone)
    where_of.setdefault(ld.origin, _at(raw, "ns", raw.where))
    check_zone(ld.origin, zone, where_of, ld.add)
    teardown.drain(where_of)  # big zones: free the parse a little at a time (GIL)
    teardown.drain_tree(raw)
    problems.raise_if_any(ZoneError)
    digest = _sha256(text)
    serial = _serial(serial, digest, path, previous)
    minimum = soa_values[3]
    return Zone(
        origin=ld.origin,
        origin_text=ld.origin_text,
        source=path,
        ttl=ld.ttl,
        serial=serial,
        soa_ttl=ld.ttl,
        soa_rdata=soa_prefix + struct.pack("!IIIII", serial, *soa_values),
        soa_minimum=minimum,
        rrsets=zone["rrsets"],
        policies=zone["policies"],
        policy_ttls=zone["policy_ttls"],
        pools=pools,
        content_hash=digest,
    )


def _sha256(text: str) -> str:
    """The hex SHA-256 of the text's UTF-8, encoded a chunk at a time."""
    digest = hashlib.sha256()
    step = 1 << 20
    for start in range(0, len(text), step):
        digest.update(text[start : start + step].encode())
    return digest.hexdigest()


def _apex_ns(ld: _Loader, raw: yamlio.LineDict) -> list[bytes]:
    ns = raw.get("ns")
    where = _at(raw, "ns", raw.where)
    if ns is None:
        ld.add(raw.where, "ns: the zone needs at least one name server")
        return []
    if isinstance(ns, str):
        ns = [ns]
    if not isinstance(ns, list) or not ns:
        ld.add(where, "ns: must be a non-empty list of names")
        return []
    names = []
    for i, item in enumerate(ns):
        name = ld.name(item, _at(ns, i, where))
        if name is not None:
            names.append(name)
    return names


def _serial(serial: Any, digest: str, path: str, previous: Zone | None) -> int:
    """`auto`: the file's mtime, kept while the content is unchanged, and always growing."""
    if serial != "auto":
        return int(serial)
    if previous is not None and previous.content_hash == digest:
        return previous.serial
    try:
        mtime = int(os.stat(path).st_mtime)
    except OSError:
        mtime = 1
    floor = previous.serial + 1 if previous is not None else 1
    return max(mtime, floor) % 2**32


ZONE_FILE = re.compile(r"^[^.].*\.ya?ml$")


def zone_files(zones_dir: str) -> list[str]:
    """The zone files a directory holds, in a stable order (hidden and editor files skipped)."""
    folder = Path(zones_dir)
    return sorted(str(p) for p in folder.iterdir() if p.is_file() and ZONE_FILE.match(p.name))


def _read_text(path: str) -> str:
    """The file as UTF-8 text, decoded a MiB at a time (one 50 MB decode holds the GIL)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    parts = []
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            parts.append(decoder.decode(block))
    parts.append(decoder.decode(b"", final=True))
    return "".join(parts)


def load_file(path: str, previous: Zone | None = None) -> Zone:
    """Read and parse one zone file."""
    try:
        text = _read_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ZoneError([Problem(Where(path), f"cannot read zone file: {exc}")]) from exc
    return load_text(text, path, previous)


def load_paths(paths: list[str], previous: dict[bytes, Zone] | None = None) -> list[Zone]:
    """Load several zone files; every problem of every file is reported together."""
    previous = previous or {}
    by_path = {z.source: z for z in previous.values()}
    problems: list[Problem] = []
    zones: list[Zone] = []
    origins: dict[bytes, str] = {}
    for path in paths:
        try:
            zone = load_file(path, by_path.get(path))
        except ZoneError as exc:
            problems.extend(exc.problems)
            continue
        if zone.origin in origins:
            problems.append(
                Problem(
                    Where(path, 1),
                    f"zone {zone.origin_text} is also defined in {origins[zone.origin]}",
                )
            )
            continue
        origins[zone.origin] = path
        zones.append(zone)
    if problems:
        raise ZoneError(problems)
    return zones


def load_dir(zones_dir: str, previous: dict[bytes, Zone] | None = None) -> list[Zone]:
    """Every zone file in a directory; an unreadable directory is a problem like any other."""
    try:
        paths = zone_files(zones_dir)
    except OSError as exc:
        raise ZoneError([Problem(Where(zones_dir), f"cannot list zones: {exc.strerror}")]) from exc
    return load_paths(paths, previous)
