"""An RFC 1035 master file ($ORIGIN, $TTL, $INCLUDE, $GENERATE) -> static records, one to one.

dnspython's zone parser reads the file, so every directive BIND writes is understood the way
BIND understands it; this module only says where each record set goes in a zone document.
"""

from __future__ import annotations

import contextlib
import os

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.tokenizer
import dns.zone
import dns.zonefile

from geodns.importers.report import (
    DNSSEC,
    STATIC,
    ImportFailed,
    Report,
    ZoneDoc,
    soa_fields,
    texts,
)

OPTIONS: tuple[str, ...] = ()


def read(path: str, zone: str | None, report: Report) -> ZoneDoc:
    """The master file at `path`; `zone` is its origin when the file sets no $ORIGIN."""
    origin = dns.name.from_text(zone) if zone else None
    skipped: list[str] = []
    try:
        # $INCLUDE names files relative to the master file's directory (a zones directory,
        # as named's `directory` is): the command runs there while it reads.
        with contextlib.chdir(os.path.dirname(os.path.abspath(path))):
            parsed = _parse(os.path.basename(path), origin, skipped)
    except (dns.zone.UnknownOrigin, dns.zonefile.UnknownOrigin) as exc:
        raise ImportFailed(f"{path}: no $ORIGIN in the file: give --zone NAME") from exc
    except (dns.exception.DNSException, OSError, UnicodeDecodeError) as exc:
        raise ImportFailed(f"{path}: {exc}") from exc
    for where in skipped:
        report.skip(where, f"a name outside the zone {parsed.origin.to_text()}")
    doc = ZoneDoc(parsed.origin)
    for name in sorted(parsed.nodes):
        for rdataset in parsed.nodes[name].rdatasets:
            _rdataset(doc, name, rdataset, report)
    return doc


class _Reader(dns.zonefile.Reader):
    """dnspython's reader, saying where it passes over a name outside the zone (it skips
    such a line without a word; an importer must list it)."""

    skipped: list[str]

    def _eat_line(self) -> None:  # called only for an out-of-zone owner name
        self.skipped.append(f"{self.tok.filename}:{self.tok.line_number}")
        super()._eat_line()


def _parse(path: str, origin: dns.name.Name | None, skipped: list[str]) -> dns.zone.Zone:
    """dns.zone.from_file, with _Reader (the same steps: a writer transaction, one read)."""
    zone = dns.zone.Zone(origin, relativize=False)
    with open(path, encoding="utf-8") as fh, zone.writer(True) as txn:
        reader = _Reader(dns.tokenizer.Tokenizer(fh, path), dns.rdataclass.IN, txn, True)
        reader.skipped = skipped
        reader.read()
    return zone


def _rdataset(doc: ZoneDoc, name: dns.name.Name, rdataset, report: Report) -> None:
    kind = dns.rdatatype.to_text(rdataset.rdtype)
    label = doc.label(name)
    where = f"{name.to_text()} {kind}"
    if label is None:
        report.skip(where, f"outside the zone {doc.zone}")
        return
    if kind in DNSSEC:
        report.note(where, "dropped: geodns signs the zones it serves itself (`dnssec:`)")
        return
    if label == "@" and kind == "SOA":
        doc.soa = soa_fields(rdataset[0])
        return
    if label == "@" and kind == "NS":
        doc.ns = [rd.target.to_text() for rd in rdataset]
        return
    if kind not in STATIC:
        report.skip(where, f"geodns does not serve {kind} records")
        return
    values = texts(list(rdataset), where, report)
    if values:
        doc.add_static(label, kind, values, rdataset.ttl)
