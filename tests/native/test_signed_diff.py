"""Signed zones on the native engine: a DO query for a positive answer (static, geo,
weighted draws, sticky, max_answers rotation), a NODATA, a referral (its DS or NSEC) or a
NXDOMAIN (compact denial, its NSEC signed in C) is answered natively, byte for byte the
handler's signed reply (CNAME chains too); what is not signed ahead (wildcard syntheses)
is handed to the handler; an unsigned zone beside it keeps its DO answers native."""

from __future__ import annotations

import random
import struct
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import dns.message
import pytest

from geodns.dns.handler import Handler
from geodns.dnssec import zone as dnssec_zone
from geodns.native import decisions as nativepolicy
from geodns.native import signing
from geodns.native import table as native
from tests.handlers import production_handler
from tests.native import test_kinds_diff as kinds
from tests.native.draws import SharedDraws
from tests.servers import DATA

pytestmark = pytest.mark.skipif(not native.available(), reason="geodns._native not built")

SIGNED = ("kinds.test.", "geo.test.")
GEO_NAMES = ["www", "nodefault", "fence", "open", "split", "sticky", "fo", "v6", "georand"]
GEO_NAMES += ["ns1", "rotate", "missing", "near"]
RRSIG = b"\x00\x2e\x00\x01"  # type RRSIG, class IN
# A, AAAA, and types the names lack (NODATA, signed ahead): TXT, MX, DNSKEY, CDS, RRSIG,
# NSEC, NXNAME (FORMERR), a private type
GEO_TYPES = [1, 1, 1, 28, 28, 16, 15, 48, 59, 46, 47, 128, 0xFF00]


def geo(pool: str, addr: str) -> tuple:
    return ("geo.test.", pool, addr)


HEALTH = [
    *kinds.HEALTH,
    {geo("eu", "192.0.2.10"), geo("eu", "2001:db8:e::10"), geo("na", "192.0.2.20")},
    {geo("gb", "192.0.2.40"), geo("debe", "192.0.2.50"), geo("dflt", "192.0.2.90")},
]


def signed_handler(keys: Path, board: kinds.Board, clock: Any = None) -> Handler:
    for zone in SIGNED:
        subprocess.run(
            [sys.executable, "-m", "geodns", "dnssec", "keygen", zone, "--dir", str(keys)],
            check=True,
            capture_output=True,
        )
    folders = [DATA / "zones" / d for d in ("kinds", "core", "geo")]
    h = production_handler(folders, health=board, rng=SharedDraws(3), dnssec={"key_dir": str(keys)})
    assert h.table.signed == {b"\x05kinds\x04test\x00", b"\x03geo\x04test\x00"}
    for zt in h.table.zones.values():  # a test clock: the signers sign by it
        if zt.signer is not None and clock is not None:
            zt.signer.clock, zt.signer.built = clock, int(clock())
    return h


def do_query(rng: random.Random, name: str, qtype: int, payload: int = 1232) -> bytes:
    """A DO query (an ECS option two times in three) for name, qtype."""
    if rng.random() < 0.2:
        name = name.upper()
    data = struct.pack("!HHHHHH", rng.randrange(65536), rng.choice([0, 0x100]), 1, 0, 0, 1)
    data += kinds.wire_name(name) + struct.pack("!HH", qtype, 1)
    opts = kinds.ecs(rng) if rng.random() < 0.67 else b""
    flags = 0x8000 | (0x4000 if rng.random() < 0.1 else 0)  # DO, sometimes CO
    return data + b"\x00" + struct.pack("!HHIH", 41, payload, flags, len(opts)) + opts


def mixed(rng: random.Random, i: int) -> bytes:
    """Every third a geo.test name, else the kinds queries (DO in most)."""
    if i % 3 == 0:
        name = rng.choice(GEO_NAMES) + ".geo.test"
        qtype = rng.choice(GEO_TYPES)
        return do_query(rng, name, qtype, rng.choice([1232, 1232, 512, 4096]))
    data = kinds.query(rng, chased=bool(i & 1))
    if i % 7 == 0:  # the core zone, unsigned: DO answers stay native
        data = data.replace(b"\x05kinds\x04test\x00", b"\x07example\x04test\x00")
    return data


def test_signed_answers_are_native_and_the_reference(tmp_path: Path) -> None:
    """60k queries (DO in most, ECS in many) over the signed kinds and geo zones under
    eight health states: wherever the native side answers, its bytes are the handler's;
    it answers signed static, geo, weighted and sticky names, and hands over the rest."""
    board = kinds.Board()
    h = signed_handler(tmp_path / "keys", board)
    built = native.for_handler(h)
    rng = random.Random(2)
    seen: Counter = Counter()
    names: Counter = Counter()
    qtypes: Counter = Counter()  # signed native answers by type asked
    for down in HEALTH:
        board.set(down)
        dec = nativepolicy.decisions(built, board)
        for i in range(7500):
            data = mixed(rng, i)
            opt = data.index(b"\0", 12) + 5  # the OPT record after the question, when any
            do = bool(data[10:12] == b"\0\1" and data[opt + 7] & 0x80)
            low = data.lower()
            signed = b"\x05kinds\x04test\x00" in low or b"\x03geo\x04test\x00" in low
            size = 65535 if i % 11 == 0 else 512
            answered = kinds.check(h, built, dec, data, kinds.host(rng), size)
            seen[(do, signed, answered)] += 1
            if do and signed and answered:
                qtype = struct.unpack_from("!H", data, data.index(b"\0", 12) + 1)[0]
                qtypes[qtype] += 1
                if qtype in (1, 28):  # positive answers (and policy NODATA) by name
                    names[low[13 : 13 + low[12]]] += 1
    assert seen[(True, True, True)] > 8000, seen
    assert seen[(False, True, True)] > 3000 and seen[(True, False, True)] > 300, seen
    for name in [b"www", b"split", b"sticky", b"fo", b"georand", b"ns1", b"wrr", b"heavy"]:
        assert names[name] > 20, (name, names)
    for name in [b"rotate", b"rot1", b"wrot", b"stickyrot"]:  # max_answers: a body per start
        assert names[name] > 20, (name, names)
    for name in [b"alias", b"alias2", b"ageo", b"astick", b"arot", b"astatic"]:  # CNAME chains
        assert names[name] > 10, (name, names)
    for name in [b"anx", b"q", b"z"]:  # NXDOMAIN at a chain's end, wildcards: the handler's
        assert names[name] == 0, (name, names)
    assert names[b"missing"] > 20, names  # NXDOMAIN: compact denial, its NSEC signed in C
    assert names[b"sub"] > 10, names  # referrals: the NSEC proving no DS, signed ahead
    for qtype in [16, 15, 46, 47, 0xFF00]:  # NODATA (the NSEC signed ahead per name)
        assert qtypes[qtype] > 100, (qtype, qtypes)
    assert qtypes[128] == 0, qtypes  # NXNAME (FORMERR): the handler's


def test_signed_answer_carries_its_rrsig_and_truncates(tmp_path: Path) -> None:
    """A native signed answer holds the RRSIG after the records; one too large for the
    query's payload (the 40-address `big` with its signature in 512 bytes) gets TC from the
    engine, the handler's reply; over TCP the native side answers it whole."""
    board = kinds.Board()
    h = signed_handler(tmp_path / "keys", board)
    built = native.for_handler(h)
    dec = nativepolicy.decisions(built, board)
    rng = random.Random(5)
    q = do_query(random.Random(1), "www.geo.test", 1)
    reply = built.table.answer(q, bytes([81, 2, 69, 7]), dec)[0]
    assert struct.unpack_from("!H", reply, 6)[0] == 2 and RRSIG in reply
    nodata = do_query(rng, "v6.geo.test", 1)  # a policy name whose pool has no IPv4: NODATA
    assert kinds.check(h, built, dec, nodata, "192.0.2.1")
    reply = built.table.answer(nodata, bytes(4), dec)[0]
    assert struct.unpack_from("!HHH", reply, 6) == (0, 4, 1)  # SOA, RRSIG, NSEC, RRSIG; OPT
    big = do_query(rng, "big.kinds.test", 1, 512)
    tc = built.table.answer(big, bytes(4), dec, None, 0, None, 0.0, None, 0)[0]
    assert tc[2] & 0x02 and struct.unpack_from("!H", tc, 6)[0] == 0  # TC, no records
    assert kinds.check(h, built, dec, big, "192.0.2.1", 512)  # the handler's TC reply
    assert kinds.check(h, built, dec, big, "192.0.2.1", 65535)


def _inceptions(reply: bytes) -> set[int]:
    """The RRSIG inception times in a reply's answer section (read by dnspython)."""
    msg = dns.message.from_wire(reply)
    return {rd.inception for rrset in msg.answer if rrset.rdtype == 46 for rd in rrset}


def test_a_new_signing_week_is_signed_again(tmp_path: Path) -> None:
    """The native answers carry the window they were signed in; a week later the handler
    signs in the new window, the watcher sees the move (dnssec/zone.py window_moved) and a
    rebuilt table answers with the new window again, byte for byte the handler's."""
    now = [1_800_000_000.0]
    board = kinds.Board()
    h = signed_handler(tmp_path / "keys", board, lambda: now[0])
    built = native.for_handler(h)
    dec = nativepolicy.decisions(built, board)
    q = do_query(random.Random(1), "split.geo.test", 1)
    week = 7 * 86400
    start = int(now[0]) - int(now[0]) % week - week  # sign.window: last week's start
    assert _inceptions(built.table.answer(q, bytes(4), dec)[0]) == {start}
    signer = h.table.zones[b"\x03geo\x04test\x00"].signer
    assert not dnssec_zone.window_moved(signer)
    end = start + 2 * week  # this week's end: the native signed answers stop there
    fresh = built.table.answer(q, bytes(4), dec, None, end - 1)
    assert fresh is not None and _inceptions(fresh[0]) == {start}
    assert built.table.answer(q, bytes(4), dec, None, end) is None  # stale: Python's
    now[0] += week
    assert dnssec_zone.window_moved(signer)
    assert _inceptions(h.handle(q, "192.0.2.1", 512)) == {start + week}
    native._PREPARED.clear()
    rebuilt = native.build(h.table)
    dec = nativepolicy.decisions(rebuilt, board)
    assert _inceptions(rebuilt.table.answer(q, bytes(4), dec)[0]) == {start + week}
    assert kinds.check(h, rebuilt, dec, q, "192.0.2.1")


def test_past_the_cap_answers_go_to_the_handler(tmp_path: Path, monkeypatch) -> None:
    """With room for 40 signed variants a build signs 40 (static names, NODATA, then the
    policy classes' own 40): the rest of the DO queries are the handler's, and what the
    native side answers is still the handler's bytes."""
    monkeypatch.setattr(signing, "CAP", 40)
    board = kinds.Board()
    h = signed_handler(tmp_path / "keys", board)
    built = native.for_handler(h)
    assert built.signing is not None and built.signing.left == 0
    rng = random.Random(9)
    seen: Counter = Counter()
    for down in HEALTH[:3]:
        board.set(down)
        dec = nativepolicy.decisions(built, board)
        for i in range(3000):
            data = mixed(rng, i)
            opt = data.index(b"\0", 12) + 5
            do = bool(data[10:12] == b"\0\1" and data[opt + 7] & 0x80)
            low = data.lower()
            signed = b"\x05kinds\x04test\x00" in low or b"\x03geo\x04test\x00" in low
            seen[(do and signed, kinds.check(h, built, dec, data, kinds.host(rng)))] += 1
    assert seen[(True, True)] > 50 and seen[(True, False)] > 2000, seen


DS = "12345 13 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE0D0D8DE70E0D4E9F5C5A2E8C"
CUTS_ZONE = f"""zone: cuts.test.
ttl: 60
ns: [ns1.cuts.test.]
records:
  ns1: {{A: 192.0.2.1}}
  www: {{A: 192.0.2.2, TXT: "here"}}
  sub: {{NS: [ns.sub.cuts.test., ns.elsewhere.example.]}}
  ns.sub: {{A: 192.0.2.153, AAAA: "2001:db8::153"}}
  secure: {{NS: [ns.secure.cuts.test.], DS: ["{DS}"]}}
  ns.secure: {{A: 192.0.2.154}}
  x.y.deep: {{NS: [ns.elsewhere.example.]}}
"""
CUT_NAMES = ["sub", "a.sub", "ns.sub", "x.y.sub", "secure", "ns.secure", "b.c.secure"]
CUT_NAMES += ["x.y.deep", "q.x.y.deep", "A-LONGER-LABEL.x.y.deep", "www", "nothing", "n.www"]


def cuts_handler(tmp_path: Path, keys_made: int = 1) -> Handler:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "cuts.test.yaml").write_text(CUTS_ZONE)
    keys = tmp_path / "keys"
    args = [sys.executable, "-m", "geodns", "dnssec", "keygen", "cuts.test.", "--dir", str(keys)]
    for _ in range(keys_made):  # two: both sign (RFC 6781's double signature)
        subprocess.run(args, check=True, capture_output=True)
    return production_handler(zones, rng=SharedDraws(3), dnssec={"key_dir": str(keys)})


def test_signed_referrals_are_native_and_the_reference(tmp_path: Path) -> None:
    """A DO query at or below a cut gets the referral with the DS and its RRSIG (`secure`)
    or the NSEC proving there is none (`sub`, `x.y.deep`), signed ahead per cut: native,
    byte for byte the handler's, at the cut and at every depth below it (TC in 512 bytes
    where it does not fit); DS at the cut stays the handler's (the parent's own answer)."""
    rng = random.Random(4)
    h = cuts_handler(tmp_path)
    built = native.for_handler(h)
    dec = nativepolicy.decisions(built, kinds.Board())
    seen: Counter = Counter()
    for i in range(3000):
        name = rng.choice(CUT_NAMES)
        qtype = rng.choice([1, 28, 2, 16, 43, 255, 15])
        data = do_query(rng, name + ".cuts.test", qtype, rng.choice([1232, 512, 4096]))
        answered = kinds.check(h, built, dec, data, kinds.host(rng), 65535 if i % 5 else 512)
        seen[(name.lower(), qtype == 43, answered)] += 1
    for name in ["sub", "a.sub", "ns.sub", "x.y.sub", "secure", "ns.secure", "b.c.secure"]:
        assert seen[(name, False, True)] > 50 and not seen[(name, False, False)], (name, seen)
    for name in ["x.y.deep", "q.x.y.deep", "a-longer-label.x.y.deep"]:
        assert seen[(name, False, True)] > 50 and not seen[(name, False, False)], (name, seen)
    assert not seen[("sub", True, True)] and not seen[("secure", True, True)], seen
    q = do_query(random.Random(1), "a.secure.cuts.test", 1)
    reply = dns.message.from_wire(built.table.answer(q, bytes(4), dec)[0])
    assert {r.rdtype for r in reply.authority} == {2, 43, 46}, reply  # NS, DS, RRSIG
    q = do_query(random.Random(1), "a.sub.cuts.test", 1)
    reply = dns.message.from_wire(built.table.answer(q, bytes(4), dec)[0])
    assert {r.rdtype for r in reply.authority} == {2, 47, 46}, reply  # NS, NSEC, RRSIG


def nx_name(rng: random.Random) -> str:
    """A name that does not exist: under the apex, under a name, a `*` label, up to 253
    characters, mixed case."""
    pick = rng.random()
    if pick < 0.1:
        return "*.nothing"
    if pick < 0.2:
        return ".".join(["a" * 63] * 3) + "." + "b" * (253 - 3 * 64 - 10)
    labels = [rng.choice(["nx", "Missing", "q", "x1"]) for _ in range(rng.randrange(1, 4))]
    return ".".join(labels) + rng.choice(["", ".www", ".ns1"])


def test_signed_nxdomain_is_native_and_the_reference(tmp_path: Path) -> None:
    """A DO query for a name that does not exist gets compact denial (RFC 9824) natively:
    NOERROR, or NXDOMAIN with CO, the SOA and its RRSIGs, an NSEC at the name with its
    RRSIG by each of the zone's two signing keys, byte for byte the handler's (TC in 512
    bytes where it does not fit); ANY, meta types and NXNAME stay the handler's."""
    rng = random.Random(6)
    h = cuts_handler(tmp_path, keys_made=2)
    built = native.for_handler(h)
    dec = nativepolicy.decisions(built, kinds.Board())
    seen: Counter = Counter()
    for i in range(3000):
        qtype = rng.choice([1, 28, 16, 46, 47, 48, 43, 255, 128, 251, 0xFF00])
        data = do_query(rng, nx_name(rng) + ".cuts.test", qtype, rng.choice([1232, 512, 4096]))
        answered = kinds.check(h, built, dec, data, kinds.host(rng), 65535 if i % 5 else 512)
        seen[(qtype in (255, 128, 251), answered)] += 1
    assert seen[(False, True)] > 2000 and not seen[(False, False)], seen
    assert not seen[(True, True)], seen
    for co, rcode in [(0, 0), (0x4000, 3)]:
        q = struct.pack("!HHHHHH", 7, 0, 1, 0, 0, 1) + kinds.wire_name("nx.cuts.test")
        q += struct.pack("!HHBHHIH", 1, 1, 0, 41, 1232, 0x8000 | co, 0)
        reply = dns.message.from_wire(built.table.answer(q, bytes(4), dec)[0])
        assert reply.rcode() == rcode and not reply.answer
        types = Counter(rd.rdtype for rrset in reply.authority for rd in rrset)
        assert types == {6: 1, 46: 4, 47: 1}, types  # SOA, NSEC; two keys sign each


def test_signed_nxdomain_beside_wildcards(tmp_path: Path) -> None:
    """In a zone with wildcards a name no wildcard covers gets its compact denial natively
    (the handler's bytes); one a wildcard synthesizes stays the handler's."""
    board = kinds.Board()
    h = signed_handler(tmp_path / "keys", board)
    built = native.for_handler(h)
    dec = nativepolicy.decisions(built, board)
    rng = random.Random(3)
    seen: Counter = Counter()
    names = ["nothing.kinds", "a.b.nothing.kinds", "*.kinds", "zz.geo", "x.y.wild.kinds"]
    for i in range(300):
        name = names[i % len(names)]
        q = do_query(rng, name + ".test", rng.choice([1, 28, 16]), rng.choice([512, 1232]))
        seen[(name, kinds.check(h, built, dec, q, kinds.host(rng), 512 if i & 1 else 65535))] += 1
    assert seen == {(n, n != "x.y.wild.kinds"): 60 for n in names}, seen
