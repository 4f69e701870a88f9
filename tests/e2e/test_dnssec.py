"""Signed answers from a real server, checked by BIND's delv and dnspython's validator."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dns.dnssec
import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from geodns.geo.locator import demo_geoip_path
from geodns.native import table as native
from tests.servers import REPO, ServerThread, wait_for, write_config

# Who answers matters here (the native path answers positive DO queries from answers signed
# ahead, native/signing.py, and hands the rest to Python): `make test` runs these again with
# two workers and on the Python fast path.
pytestmark = [pytest.mark.workers, pytest.mark.fast_path]

ZONE = "gslb.example.com."
GEOLITE2 = demo_geoip_path()
HAS_DELV = shutil.which("delv") is not None
DS = "12345 13 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE0D0D8DE70E0D4E9F5C5A2E8C"
BIG = ", ".join(f'"{c * 250}"' for c in "abcdef")
EXTRA = f"""
  sub:       {{NS: [ns.sub.gslb.example.com.]}}
  ns.sub:    {{A: 192.0.2.153}}
  secure:    {{NS: [ns.secure.gslb.example.com.], DS: ["{DS}"]}}
  ns.secure: {{A: 192.0.2.154}}
  big:       {{TXT: [{BIG}]}}
"""


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, Path]]:
    """The demo zone signed with a key made by `geodns dnssec keygen`, on the slow path."""
    tmp = tmp_path_factory.mktemp("dnssec")
    (tmp / "zones").mkdir()
    text = (REPO / "zones" / "gslb.example.com.yaml").read_text()
    text = text.replace("ttl: 60\n", "ttl: 60\ndnssec: {keys: ../keys}\n", 1) + EXTRA
    (tmp / "zones" / "gslb.example.com.yaml").write_text(text)
    made = subprocess.run(
        [sys.executable, "-m", "geodns", "dnssec", "keygen", ZONE, "--dir", str(tmp / "keys")],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    geoip = {"city": GEOLITE2} if GEOLITE2 else {}
    path = write_config(tmp, tmp / "zones", dns={"listen": ["127.0.0.1:0"]}, geoip=geoip)
    server = ServerThread(path).start()
    yield server, tmp
    server.stop()


def _anchor(keys: Path) -> str:
    lines = [p.read_text().splitlines()[-1] for p in sorted(keys.glob("*.key"))]
    line = next(x for x in lines if " DNSKEY 257 " in x).split()  # the KSK (SEP) anchors
    flags, proto, alg, b64 = line[3], line[4], line[5], "".join(line[6:])
    return f'trust-anchors {{\n  {ZONE} static-key {flags} {proto} {alg} "{b64}";\n}};\n'


def delv(signed: tuple[ServerThread, Path], name: str, rtype: str) -> str:
    server, tmp = signed
    anchors = tmp / "anchors"
    anchors.write_text(_anchor(tmp / "keys"))
    host, port = server.where()
    out = subprocess.run(
        ["delv", f"@{host}", "-p", str(port), "-a", str(anchors), f"+root={ZONE}", name, rtype],
        capture_output=True,
        text=True,
        timeout=20,
    )
    return out.stdout + out.stderr


@pytest.mark.skipif(not HAS_DELV, reason="delv (bind9-dnsutils) not installed")
@pytest.mark.parametrize(
    ("name", "rtype"),
    [
        ("static", "A"),
        ("www", "A"),  # geo
        ("canary", "A"),  # weighted
        ("db", "AAAA"),  # failover
        ("alias", "A"),  # CNAME to a geo name
        ("anything.edge", "A"),  # wildcard
        ("@", "MX"),
        ("@", "TXT"),
        ("@", "DNSKEY"),
        ("@", "NS"),
    ],
)
def test_delv_fully_validates_positive_answers(signed, name: str, rtype: str) -> None:
    fqdn = ZONE if name == "@" else f"{name}.{ZONE}"
    out = delv(signed, fqdn, rtype)
    assert "; fully validated" in out, out
    assert f"RRSIG\t{rtype}" in out or f"RRSIG {rtype}" in out, out


@pytest.mark.skipif(not HAS_DELV, reason="delv (bind9-dnsutils) not installed")
@pytest.mark.parametrize(
    ("name", "rtype"), [("nope", "A"), ("static", "TXT"), ("ns1", "AAAA"), ("a.b.nope", "MX")]
)
def test_delv_validates_negative_answers(signed, name: str, rtype: str) -> None:
    out = delv(signed, f"{name}.{ZONE}", rtype)
    assert "; negative response, fully validated" in out, out


def _ask(server: ServerThread, name: str, rtype: str, **kw) -> dns.message.Message:
    q = dns.message.make_query(name, rtype, want_dnssec=True, payload=1232, **kw)
    return server.udp(q)


def _dnskeys(server: ServerThread) -> dict:
    reply = _ask(server, ZONE, "DNSKEY")
    return {
        dns.name.from_text(ZONE): reply.find_rrset(
            reply.answer, dns.name.from_text(ZONE), 1, dns.rdatatype.DNSKEY
        )
    }


def _validate_answer(server: ServerThread, reply: dns.message.Message) -> set[str]:
    keys = _dnskeys(server)
    addresses = set()
    for rrset in reply.answer:
        if rrset.rdtype == dns.rdatatype.RRSIG:
            continue
        sigs = reply.find_rrset(reply.answer, rrset.name, 1, dns.rdatatype.RRSIG, rrset.rdtype)
        dns.dnssec.validate(rrset, sigs, keys)
        addresses |= {r.to_text() for r in rrset if rrset.rdtype == dns.rdatatype.A}
    return addresses


@pytest.mark.skipif(GEOLITE2 is None, reason="maxminddb-geolite2 not installed")
def test_geo_answers_for_two_ecs_subnets_are_different_pools_and_both_validate(signed) -> None:
    server, _ = signed
    london = dns.edns.ECSOption("81.2.69.0", 24)
    tokyo = dns.edns.ECSOption("1.0.16.0", 24)
    eu = _validate_answer(server, _ask(server, f"www.{ZONE}", "A", options=[london]))
    ap = _validate_answer(server, _ask(server, f"www.{ZONE}", "A", options=[tokyo]))
    assert eu == {"192.0.2.10", "192.0.2.11"} and ap == {"203.0.113.10"}


def test_nxdomain_is_compact_denial_unless_co(signed) -> None:
    server, _ = signed
    reply = _ask(server, f"nope.{ZONE}", "A")
    assert reply.rcode() == dns.rcode.NOERROR and not reply.answer
    nsec = [r for r in reply.authority if r.rdtype == dns.rdatatype.NSEC]
    assert len(nsec) == 1 and nsec[0].name == dns.name.from_text(f"nope.{ZONE}")
    bitmap = nsec[0][0].to_text()
    assert bitmap.startswith(f"\\000.nope.{ZONE}")
    assert "NXNAME" in bitmap.upper() or "TYPE128" in bitmap
    co = dns.message.make_query(f"nope.{ZONE}", "A", want_dnssec=True, payload=1232)
    co.ednsflags |= 0x4000  # Compact Answers OK (RFC 9824)
    assert server.udp(co).rcode() == dns.rcode.NXDOMAIN


def test_nodata_nsec_lists_the_types_the_name_has(signed) -> None:
    server, _ = signed
    reply = _ask(server, f"static.{ZONE}", "TXT")
    nsec = next(r for r in reply.authority if r.rdtype == dns.rdatatype.NSEC)
    types = set(nsec[0].to_text().split()[1:])
    assert types == {"A", "AAAA", "RRSIG", "NSEC"}
    policy = _ask(server, f"www.{ZONE}", "MX")
    types = set(
        next(r for r in policy.authority if r.rdtype == dns.rdatatype.NSEC)[0].to_text().split()[1:]
    )
    assert types == {"A", "AAAA", "RRSIG", "NSEC"}


def test_referrals_carry_a_signed_ds_or_an_nsec_proving_none(signed) -> None:
    server, _ = signed
    keys = _dnskeys(server)
    for child, proof in (("sub", dns.rdatatype.NSEC), ("secure", dns.rdatatype.DS)):
        reply = _ask(server, f"host.{child}.{ZONE}", "A")
        assert not reply.flags & dns.flags.AA
        proven = reply.find_rrset(reply.authority, dns.name.from_text(f"{child}.{ZONE}"), 1, proof)
        sigs = reply.find_rrset(reply.authority, proven.name, 1, dns.rdatatype.RRSIG, proof)
        dns.dnssec.validate(proven, sigs, keys)
        assert not [
            r
            for r in reply.authority
            if r.rdtype == dns.rdatatype.RRSIG and r.covers == dns.rdatatype.NS
        ]


def test_without_do_the_answer_is_unsigned_and_nxname_is_formerr(signed) -> None:
    server, _ = signed
    plain = server.udp(dns.message.make_query(f"nope.{ZONE}", "A", use_edns=0))
    assert plain.rcode() == dns.rcode.NXDOMAIN
    assert not [r for r in plain.authority if r.rdtype in (dns.rdatatype.RRSIG, dns.rdatatype.NSEC)]
    static = server.udp(dns.message.make_query(f"static.{ZONE}", "A"))
    assert [r.rdtype for r in static.answer] == [dns.rdatatype.A]
    assert server.udp(dns.message.make_query(f"static.{ZONE}", 128)).rcode() == dns.rcode.FORMERR


def test_a_signed_answer_too_big_for_udp_is_truncated_and_whole_over_tcp(signed) -> None:
    server, _ = signed
    q = dns.message.make_query(f"big.{ZONE}", "TXT", want_dnssec=True, payload=1232)
    assert server.udp(q, ignore_trailing=True).flags & dns.flags.TC
    whole = server.tcp(q)
    assert [r.rdtype for r in whole.answer] == [dns.rdatatype.TXT, dns.rdatatype.RRSIG]


def _handed(server: ServerThread) -> int:
    """geodns_native_engine_queries_total{transport="udp", answered_by="python"}: UDP
    queries the native threads handed to the handler, once two reads in a row agree (a
    worker's report may come a poll late)."""
    last = [-1]

    def settled() -> bool:
        now = server.call(server.app.counters).stats.engine[("udp", "python")]
        same, last[0] = now == last[0], now
        return same

    wait_for(settled, timeout=20.0, interval=0.2)
    return last[0]


def test_signed_positive_answers_are_served_natively(signed) -> None:
    """On the native path, DO queries for static and geo answers (with ECS from two
    continents), NODATA, referrals (the DS or the NSEC proving none) and NXDOMAIN (compact
    denial: its NSEC signed in C per name) are answered by the C threads, signed and valid:
    the handover counter does not move for them, and does for what Python answers (a
    NODATA for CDS, a type only the apex signs)."""
    server, _ = signed
    if native.resolve(server.app.config)[0] != native.NATIVE:
        pytest.skip("the Python fast path answers everything")
    _dnskeys(server)  # DNSKEY is Python's: asked before counting
    before = _handed(server)
    london = dns.edns.ECSOption("81.2.69.0", 24)
    tokyo = dns.edns.ECSOption("1.0.16.0", 24)
    replies = []
    for i in range(20):
        replies.append(_ask(server, f"static.{ZONE}", "A"))
        replies.append(_ask(server, f"www.{ZONE}", "A", options=[london if i & 1 else tokyo]))
        nodata = _ask(server, f"static.{ZONE}", "TXT")
        assert [r.rdtype for r in nodata.authority].count(dns.rdatatype.NSEC) == 1
        nx = _ask(server, f"nope{i}.{ZONE}", "A")
        assert nx.rcode() == dns.rcode.NOERROR and not nx.answer
        assert [r.rdtype for r in nx.authority].count(dns.rdatatype.NSEC) == 1
        cut = _ask(server, f"a.{'secure' if i & 1 else 'sub'}.{ZONE}", "A")
        assert {r.rdtype for r in cut.authority} & {dns.rdatatype.DS, dns.rdatatype.NSEC}
    moved = _handed(server) - before
    assert moved == 0, moved
    _ask(server, f"static.{ZONE}", "CDS")  # a NODATA for an apex type: Python's
    wait_for(lambda: _handed(server) - before == 1, timeout=20.0)
    for reply in replies:  # signed and valid (DNSKEY asked after the counting)
        assert _validate_answer(server, reply)
