"""Two real servers with the same keys and zone, one signing with libcrypto in C and one with
the `cryptography` package (GEODNS_NO_NATIVE=1): every RRSIG they serve is the same bytes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import dns.rdatatype
import pytest

from geodns.dnssec import signer
from geodns.geo.locator import demo_geoip_path
from tests.servers import REPO, ServerProcess, write_config

ZONE = "gslb.example.com."
REPEAT = 30
GEOLITE2 = demo_geoip_path()
QUERIES = [  # (name, type, ECS subnet or None): each kind of answer the zone has
    ("@", "SOA", None),
    ("@", "DNSKEY", None),
    ("@", "CDS", None),
    ("@", "MX", None),
    ("@", "TXT", None),
    ("@", "NS", None),
    ("static", "A", None),
    ("static", "AAAA", None),
    ("www", "A", "81.2.69.0/24"),  # geo: Europe
    ("www", "A", "1.0.16.0/24"),  # geo: Japan
    ("www", "AAAA", "81.2.69.0/24"),
    ("canary", "A", None),  # weighted: either pool, so asked REPEAT times
    ("db", "A", None),  # failover
    ("alias", "A", "81.2.69.0/24"),  # CNAME to a geo name
    ("anything.edge", "A", None),  # wildcard
    ("nope", "A", None),  # compact denial: NSEC at the name
    ("static", "TXT", None),  # NODATA
]


@pytest.fixture(scope="module")
def zone_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("signers")
    (tmp / "zones").mkdir()
    text = (REPO / "zones" / "gslb.example.com.yaml").read_text()
    text = text.replace("ttl: 60\n", "ttl: 60\ndnssec: {keys: ../keys}\n", 1)
    (tmp / "zones" / "gslb.example.com.yaml").write_text(text)
    keygen = [sys.executable, "-m", "geodns", "dnssec", "keygen", ZONE, "--dir", str(tmp / "keys")]
    for alg in ("13", "15"):  # both algorithms sign every RRset
        made = subprocess.run(
            [*keygen, "--algorithm", alg],
            capture_output=True,
            text=True,
        )
        assert made.returncode == 0, made.stderr
    return tmp


def signed_sets(reply: dns.message.Message) -> dict[tuple, list[bytes]]:
    """(owner, type, records) -> the RRSIG rdatas (wire) covering that RRset."""
    out = {}
    for section in (reply.answer, reply.authority):
        for rrset in section:
            if rrset.rdtype == dns.rdatatype.RRSIG:
                continue
            sigs = [
                rd.to_wire()
                for s in section
                if s.rdtype == dns.rdatatype.RRSIG and s.name == rrset.name
                for rd in s
                if rd.type_covered == rrset.rdtype
            ]
            records = tuple(sorted(rd.to_wire() for rd in rrset))
            out[(rrset.name.to_text(), rrset.rdtype, records)] = sorted(sigs)
    return out


def answers(zone_dir: Path, tmp: Path, **env: str) -> tuple[dict[tuple, list[bytes]], str]:
    """Every RRset QUERIES got signed, with its RRSIGs, and the server's log."""
    geoip = {"city": GEOLITE2} if GEOLITE2 else {}
    conf = write_config(tmp, zone_dir / "zones", dns={"listen": ["127.0.0.1:0"]}, geoip=geoip)
    proc = ServerProcess(["serve", "--config", str(conf)], env=env).start()
    out: dict[tuple, list[bytes]] = {}
    try:
        host, port = proc.bound[0]
        for name, rtype, ecs in QUERIES:
            fqdn = ZONE if name == "@" else f"{name}.{ZONE}"
            options = [dns.edns.ECSOption.from_text(ecs)] if ecs else []
            for _ in range(REPEAT if name == "canary" else 1):
                q = dns.message.make_query(fqdn, rtype, want_dnssec=True, options=options)
                sets = signed_sets(dns.query.tcp(q, host, port=port, timeout=10))
                assert sets and all(len(sigs) == 2 for sigs in sets.values()), (name, sets)
                out.update(sets)
    finally:
        proc.stop()
    return out, proc.log


@pytest.mark.skipif(signer.native_module() is None, reason="the extension has no C signer")
def test_the_c_and_the_python_signer_serve_the_same_rrsigs(zone_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "py").mkdir()
    by_c, c_log = answers(zone_dir, tmp_path / "c")
    by_py, py_log = answers(zone_dir, tmp_path / "py", GEODNS_NO_NATIVE="1")
    assert "signer: native (OpenSSL" in c_log, c_log
    assert "signer: python (cryptography" in py_log, py_log
    assert len(by_c) >= len(QUERIES)  # (every answer and denial has at least one RRset)
    common = set(by_c) & set(by_py)
    drawn = {k for k in set(by_c) | set(by_py) if k[0].startswith("canary.")}  # by weight
    assert (set(by_c) | set(by_py)) - drawn <= common and drawn & common
    for rrset in common:
        assert by_c[rrset] == by_py[rrset], rrset
