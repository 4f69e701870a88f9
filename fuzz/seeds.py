"""Seed inputs for the native fuzz harnesses (fuzz/run.sh): real queries of every shape the
native parser must handle, the test GeoIP databases with their real metadata, cookie
bodies that are valid (random bytes almost never are), and RRL floods (random ones almost
never repeat a key). Mutations of these reach the paths random bytes do not.

usage: python3 fuzz/seeds.py OUT_DIR   (writes OUT_DIR/<harness>/<n>.bin)
"""

from __future__ import annotations

import random
import struct
import sys
from pathlib import Path

import dns.edns
import dns.message
import maxminddb
from siphashc import siphash

ROOT = Path(__file__).resolve().parent.parent


def queries() -> list[bytes]:
    """Queries as resolvers send them: EDNS or not, DO/CD/RD, ECS, COOKIE, NSID, padding,
    unknown options, case, long names; then the robustness test's seeds."""
    ecs = [
        dns.edns.ECSOption("192.0.2.0", 24),
        dns.edns.ECSOption("198.51.100.77", 32),
        dns.edns.ECSOption("2001:db8::", 56),
        dns.edns.ECSOption("0.0.0.0", 0),
    ]
    cookie8 = dns.edns.GenericOption(10, bytes(range(8)))
    cookie24 = dns.edns.GenericOption(10, bytes(range(8)) + b"\x01\x00\x00\x00" + bytes(12))
    cookie40 = dns.edns.GenericOption(10, bytes(40))
    extra = [
        [],
        [cookie8],
        [cookie24],
        [cookie40],
        [dns.edns.GenericOption(3, b"")],  # NSID
        [dns.edns.GenericOption(12, bytes(20))],  # padding
        [dns.edns.GenericOption(65001, b"x" * 5)],
        [ecs[0], cookie8, dns.edns.GenericOption(3, b"")],
    ] + [[e] for e in ecs]
    out = []
    names = [
        "static.example.test",
        "WwW.Geo.Test",
        "a.b.c.d.e.f.g.example.test",
        ".",
        "www.example.test",
        "alias.example.test",
        "x.edge.example.test",
        "a.sub.example.test",
    ]
    names.append(".".join(["x" * 63] * 3) + ".test")
    for i, opts in enumerate(extra):
        for name in names:
            q = dns.message.make_query(name, ["A", "AAAA", "TXT", "SOA"][i % 4], use_edns=0)
            q.use_edns(0, dns.flags.DO if i % 2 else 0, 1232 if i % 3 else 4096, options=opts)
            if i % 5 == 0:
                q.flags |= dns.flags.CD
            out.append(q.to_wire())
    out.append(dns.message.make_query("static.example.test", "A", use_edns=False).to_wire())
    out.append(dns.message.make_query("www.example.test", "AAAA", use_edns=False).to_wire())
    for i, name in enumerate(["id.server", "HOSTNAME.bind", "version.bind", "x.example.test"]):
        q = dns.message.make_query(name, ["TXT", "ANY", "A"][i % 3], rdclass="CH", use_edns=0)
        q.use_edns(0, 0, 512 + 700 * i, options=extra[(i * 3) % len(extra)])
        out.append(q.to_wire())  # CHAOS (csrc/answer/chaos.c)
    for i, name in enumerate(
        ["nx1234.example.test", "*.nx.example.test", "b.a.sub.example.test", "nx.example.test"]
    ):
        q = dns.message.make_query(name, ["A", "TXT", "NS", "A"][i], use_edns=0)
        q.use_edns(0, dns.flags.DO | (0x4000 if i & 1 else 0), 512 + 700 * i)  # CO (RFC 9824)
        out.append(q.to_wire())  # signed: compact denial (csrc/answer/denial.c), referrals
    for opts in extra:  # an answer over the client's size: TC (csrc/answer/truncate.c)
        q = dns.message.make_query("big.example.test", "A", use_edns=0)
        q.use_edns(0, 0, 600, options=opts)
        out.append(q.to_wire())
    return out


def slips(packets: list[bytes]) -> list[bytes]:
    """split | query | reply length | reply | cookie option: each query with itself as the
    reply (QR set, some rcodes) and, for every other one, our COOKIE option."""
    out = []
    cookie = b"\x00\x0a\x00\x18" + bytes(range(24))
    for n, q in enumerate(packets):
        reply = q[:2] + bytes([q[2] | 0x80, (q[3] & 0xF0) | (0, 3, 5, 1)[n % 4]]) + q[4:]
        tail = cookie if n % 2 else b""
        out.append(struct.pack("!H", len(q)) + q + struct.pack("!H", len(reply)) + reply + tail)
    return out


def databases() -> list[bytes]:
    """Each test .mmdb with the harness's header: node count, record size, ip_version."""
    out = []
    sizes = {24: 0, 28: 1, 32: 2}
    for path in sorted((ROOT / "tests" / "data").glob("*.mmdb")):
        meta = maxminddb.open_database(str(path)).metadata()
        head = struct.pack("<IBB", meta.node_count, sizes[meta.record_size], meta.ip_version & 1)
        out.append(head + path.read_bytes())
    return out


def cookies(rng: random.Random) -> list[bytes]:
    """secret | flags | address | now | body, with a body whose server cookie is valid."""
    out = []
    for i in range(32):
        secret, addr = rng.randbytes(16), rng.randbytes(16)
        flags = i % 4  # 1: 16-byte address; 2: now near today's clock
        now = 1_700_000_000 + rng.randrange(-5000, 5000)
        client = rng.randbytes(8)
        address = addr if flags & 1 else addr[:4]
        ts = (now - rng.choice([0, 1799, 1800, 3600, 3601, -300, -301])) & 0xFFFFFFFF
        head = b"\x01\x00\x00\x00" + ts.to_bytes(4, "big")
        mac = siphash(secret, client + head + address).to_bytes(8, "little")
        body = client + (head + mac if i % 8 else b"")
        out.append(secret + bytes([flags]) + addr + struct.pack("<q", now) + body)
    return out


def floods(rng: random.Random) -> list[bytes]:
    """Settings, then one account's responses again and again, a few others among them."""
    out = []
    for i in range(16):
        settings = bytes([1, 4, 1, 4, 1, 4, 120, i % 4, 24, 56, i % 8 & ~2, 7])
        exempt = bytes([i & 1]) + bytes(rng.randbytes(16)) + bytes([8])
        ops = b""
        key = bytes([i & 1]) + rng.randbytes(16) + bytes([i % 3 + 1]) + b"\x00\x05abcde"
        for n in range(60):
            other = bytes([0]) + rng.randbytes(16) + b"\x01\x00\x01z"
            ops += (key if n % 7 else other) + bytes([rng.choice([0, 0, 0, 210])])
        out.append(settings + exempt + ops)
    return out


def main(out: Path) -> None:
    rng = random.Random(14)
    sets = {
        "netparse": queries(),
        "rrlreply": slips(queries()),
        "mmdb": databases(),
        "geodata": databases(),
        "cookie": cookies(rng),
        "rrl": floods(rng),
        "ranges": [],
        "qlog": slips(queries()),  # query length | query | reply length | reply | texts
        "pick": [rng.randbytes(n) for n in (0, 1, 3, 7, 20, 64, 130, 300)],
        # algorithm selector | private key (32) | message: both algorithms, short keys too
        "sign": [bytes([n % 2]) + rng.randbytes(n) for n in (0, 5, 32, 33, 40, 200, 1500)],
    }
    for harness, seeds in sets.items():
        d = out / harness
        d.mkdir(parents=True, exist_ok=True)
        for n, seed in enumerate(seeds):
            (d / f"{n}.bin").write_bytes(seed)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
