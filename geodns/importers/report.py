"""What every importer shares: the zone document it builds and the report of what it left out.

An importer never drops anything silently: each source item it cannot carry over becomes a
`not mapped` line (exit 2), and each change it makes on the way (a TTL merged, a name
server placeholder) a `note` line (exit 0): the user reads both before serving the result.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import yaml

# The static types a zone file holds (zones/sections.py STATIC_TYPES); the apex SOA and NS
# go to `soa:` and `ns:`.
STATIC = ("A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "CAA", "PTR", "DS")
# Records geodns makes itself when a zone sets `dnssec:` (or that only a signer makes).
DNSSEC = ("RRSIG", "NSEC", "NSEC3", "NSEC3PARAM", "DNSKEY", "CDS", "CDNSKEY")
MAX_MULTIVALUE = 8  # Route 53 answers up to 8 healthy multivalue records


class ImportFailed(Exception):
    """The input cannot be read at all (not JSON, not a master file, no zone name): exit 1."""


@dataclass
class Report:
    """Every item left out (with why) and every note, in the order met."""

    unmapped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def skip(self, where: str, why: str) -> None:
        self.unmapped.append(f"not mapped: {where}: {why}")

    def note(self, where: str, what: str) -> None:
        self.notes.append(f"note: {where}: {what}")

    def lines(self) -> list[str]:
        return [*self.unmapped, *self.notes]

    @property
    def exit_code(self) -> int:
        return 2 if self.unmapped else 0


@dataclass
class ZoneDoc:
    """A zone document (the schema of zones/*.yaml) being filled by an importer."""

    origin: dns.name.Name
    soa: dict[str, Any] = field(default_factory=dict)
    ns: list[str] = field(default_factory=list)
    checks: dict[str, dict] = field(default_factory=dict)
    pools: dict[str, dict] = field(default_factory=dict)
    records: dict[str, dict] = field(default_factory=dict)
    ttls: dict[str, Counter] = field(default_factory=dict)  # name -> TTLs of its sets
    policy_ttls: dict[str, int] = field(default_factory=dict)  # a steered name's own TTL

    @property
    def zone(self) -> str:
        return self.origin.to_text()

    def label(self, name: dns.name.Name) -> str | None:
        """The key of `records:` for an absolute name; None when outside the zone."""
        if not name.is_subdomain(self.origin):
            return None
        if name == self.origin:
            return "@"
        return name.relativize(self.origin).to_text()

    def node(self, label: str) -> dict:
        return self.records.setdefault(label, {})

    def add_static(self, label: str, rtype: str, values: list[str], ttl: int) -> None:
        body = self.node(label)
        have = body.setdefault(rtype, [])
        have.extend(v for v in values if v not in have)
        self.ttls.setdefault(label, Counter())[ttl] += 1

    def add_policy(self, label: str, node: dict, ttl: int | None) -> None:
        self.node(label).update(node)
        if ttl is not None:
            self.ttls.setdefault(label, Counter())[ttl] += 1
            self.policy_ttls[label] = ttl

    def pool(self, hint: str, body: dict) -> str:
        """Add a pool under a clean, unique name made from `hint`; returns the name."""
        base = re.sub(r"[^a-z0-9-]+", "-", hint.lower()).strip("-") or "pool"
        name, n = base, 2
        while name in self.pools:
            name, n = f"{base}-{n}", n + 1
        self.pools[name] = body
        return name

    def render(self, report: Report) -> str:
        """The YAML text: zone TTL = the commonest TTL, a name's `ttl:` only where it differs."""
        every = Counter()
        for counts in self.ttls.values():
            every.update(counts)
        zone_ttl = every.most_common(1)[0][0] if every else 300
        records: dict[str, dict] = {}
        for label, body in self.records.items():
            counts = self.ttls.get(label)
            out = dict(body)
            if counts:
                # a steered answer's TTL decides the name's: it bounds how fast it moves
                ttl = self.policy_ttls.get(label, counts.most_common(1)[0][0])
                if len(counts) > 1:
                    others = ", ".join(str(t) for t in sorted(counts) if t != ttl)
                    report.note(label, f"TTLs {others} become {ttl} (one TTL per name)")
                if ttl != zone_ttl:
                    out = {"ttl": ttl, **out}
            records[label] = {k: _one(v) if k in STATIC else v for k, v in out.items()}
        used = set(_names(list(self.records.values())))
        self.pools = {k: v for k, v in self.pools.items() if k in used}  # a skipped rule's pool
        if not self.ns:
            self.ns = [f"ns1.{self.zone}"]
            report.note("ns", f"no name servers in the input: {self.ns[0]} is a placeholder")
        doc: dict[str, Any] = {"zone": self.zone, "ttl": zone_ttl}
        if self.soa:
            doc["soa"] = self.soa
        doc["ns"] = self.ns
        for key in ("checks", "pools"):
            if getattr(self, key):
                doc[key] = getattr(self, key)
        doc["records"] = records
        return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def _names(node: Any):
    """Every string in the records' policy nodes: the pools they name (and more, harmlessly)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            if key not in STATIC:
                yield from _names(key)
                yield from _names(value)
    elif isinstance(node, list):
        for item in node:
            yield from _names(item)


class _Dumper(yaml.SafeDumper):
    """Block mappings, flow lists of plain values ([200, 201]), and no &anchors (a shared
    list is written out wherever it stands, as a person would write the file)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flat = all(isinstance(v, (str, int, float)) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)


_Dumper.add_representer(list, _list)


def _one(value: Any) -> Any:
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def absolute(text: str, origin: dns.name.Name | None = None) -> dns.name.Name:
    return dns.name.from_text(text, origin or dns.name.root)


def rdata_text(rd: dns.rdata.Rdata) -> str | None:
    """One record's data as a zone file writes it (records.py parses it back); None when
    geodns's form cannot hold it (a TXT that is not UTF-8)."""
    kind = dns.rdatatype.to_text(rd.rdtype)
    if kind in ("A", "AAAA"):
        return rd.address
    if kind in ("CNAME", "NS", "PTR"):
        return rd.target.to_text()
    if kind == "MX":
        return f"{rd.preference} {rd.exchange.to_text()}"
    if kind == "SRV":
        return f"{rd.priority} {rd.weight} {rd.port} {rd.target.to_text()}"
    if kind == "TXT":
        try:
            return b"".join(rd.strings).decode()
        except UnicodeDecodeError:
            return None
    if kind == "DS":  # a signed child's delegation
        return f"{rd.key_tag} {rd.algorithm} {rd.digest_type} {rd.digest.hex().upper()}"
    if kind == "CAA":
        value = rd.value.decode(errors="replace")
        return None if '"' in value else f'{rd.flags} {rd.tag.decode()} "{value}"'
    return None


def texts(rdatas: list, where: str, report: Report) -> list[str]:
    """The values of one record set for the zone file; what cannot be written is listed,
    and a TXT of several strings is noted (geodns serves one, split every 255 octets)."""
    out = []
    for rd in rdatas:
        text = rdata_text(rd)
        if text is None:
            report.skip(where, f"{rd.to_text()!r} cannot be written in a zone file")
            continue
        if getattr(rd, "strings", None) and len(rd.strings) > 1:
            report.note(where, f"TXT strings joined into one: {rd.to_text()}")
        out.append(text)
    return out


def parse_rdata(rtype: str, text: str, origin: dns.name.Name) -> dns.rdata.Rdata:
    """A provider's presentation-format value (quoted TXT, relative names) as dnspython reads it."""
    return dns.rdata.from_text(dns.rdataclass.IN, rtype, text, origin=origin, relativize=False)


def soa_fields(rd: Any) -> dict[str, Any]:
    """An SOA record as the zone file's `soa:` (serial: auto, as every instance computes it)."""
    return {
        "mname": rd.mname.to_text(),
        "rname": rd.rname.to_text(),
        "serial": "auto",
        "refresh": rd.refresh,
        "retry": rd.retry,
        "expire": rd.expire,
        "minimum": rd.minimum,
    }
