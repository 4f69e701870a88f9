"""Keys in time and across instances: a ZSK rollover driven by BIND's timing metadata, the
same RRSIGs from three instances, and Unbound validating (AD) or refusing (SERVFAIL)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dns.dnssec
import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from geodns.dnssec import keyfile
from geodns.geo.locator import demo_geoip_path
from tests.e2e.test_dnssec import ZONE, delv
from tests.servers import REPO, ServerThread, write_config

GEOLITE2 = demo_geoip_path()
HAS_BIND = shutil.which("dnssec-keygen") is not None and shutil.which("delv") is not None


def zone_dir(tmp: Path) -> Path:
    (tmp / "zones").mkdir(exist_ok=True)
    text = (REPO / "zones" / "gslb.example.com.yaml").read_text()
    text = text.replace("ttl: 60\n", "ttl: 60\ndnssec: {keys: ../keys}\n", 1)
    (tmp / "zones" / "gslb.example.com.yaml").write_text(text)
    return tmp / "zones"


def bind_key(keys: Path, *args: str) -> int:
    """A key made by BIND's dnssec-keygen with the given timing flags; its tag."""
    out = subprocess.run(
        ["dnssec-keygen", "-K", str(keys), "-a", "13", *args, ZONE],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip().rsplit("+", 1)[1])


def _tags(reply: dns.message.Message, rdtype: int) -> set[int]:
    return {
        sig.key_tag
        for rrset in reply.answer
        if rrset.rdtype == dns.rdatatype.RRSIG
        for sig in rrset
        if sig.type_covered == rdtype
    }


def _dnskey_tags(server: ServerThread) -> set[int]:
    q = dns.message.make_query(ZONE, "DNSKEY", want_dnssec=True)
    reply = server.udp(q)
    keys = [r for r in reply.answer if r.rdtype == dns.rdatatype.DNSKEY]
    return {dns.dnssec.key_id(k) for k in keys[0]} if keys else set()


@pytest.mark.skipif(not HAS_BIND, reason="dnssec-keygen and delv (bind9) not installed")
def test_zsk_double_signature_rollover_by_bind_timing(tmp_path: Path) -> None:
    """RFC 6781 §4.1.1.2 with D seconds per step: {KSK, ZSK1} signed by ZSK1; the new
    ZSK2 published and signing beside ZSK1; ZSK1 retired and removed; delv validates at
    every step while the server rebuilds on the key events alone (no reload asked)."""
    keys, d = tmp_path / "keys", 6
    keys.mkdir()
    ksk = bind_key(keys, "-f", "KSK")
    zsk1 = bind_key(keys, "-I", f"+{2 * d}", "-D", f"+{2 * d}")
    zsk2 = bind_key(keys, "-P", f"+{d}", "-A", f"+{d}")
    conf = write_config(
        tmp_path,
        zone_dir(tmp_path),
        dns={"listen": ["127.0.0.1:0"]},
        reload={"watch": True, "poll_interval": "0.2s"},
    )
    server = ServerThread(conf).start()
    try:
        steps = [({ksk, zsk1}, {zsk1}), ({ksk, zsk1, zsk2}, {zsk1, zsk2}), ({ksk, zsk2}, {zsk2})]
        for dnskeys, signing in steps:
            deadline = time.monotonic() + 3 * d
            while _dnskey_tags(server) != dnskeys:
                assert time.monotonic() < deadline, f"DNSKEY set never became {dnskeys}"
                time.sleep(0.1)
            reply = server.udp(dns.message.make_query(f"static.{ZONE}", "A", want_dnssec=True))
            assert _tags(reply, dns.rdatatype.A) == signing
            out = delv((server, tmp_path), f"static.{ZONE}", "A")
            assert "; fully validated" in out, out
    finally:
        server.stop()


def _raw(server: ServerThread, query: bytes) -> bytes:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.sendto(query, server.where())
        return sock.recv(65535)


def test_three_instances_with_the_same_keys_serve_identical_signatures(tmp_path: Path) -> None:
    key = keyfile.generate(ZONE)
    keyfile.write_key(key, tmp_path / "keys")
    zones = zone_dir(tmp_path)
    servers = []
    for i in range(3):
        folder = tmp_path / f"i{i}"
        folder.mkdir()
        geoip = {"city": GEOLITE2} if GEOLITE2 else {}
        conf = write_config(folder, zones, dns={"listen": ["127.0.0.1:0"]}, geoip=geoip)
        servers.append(ServerThread(conf).start())
    try:
        for name, ecs in (
            (f"www.{ZONE}", "81.2.69.0"),
            (f"static.{ZONE}", None),
            (f"nope.{ZONE}", None),
        ):
            opts = [dns.edns.ECSOption(ecs, 24)] if ecs else []
            q = dns.message.make_query(name, "A", want_dnssec=True, options=opts)
            wires = {_raw(s, q.to_wire()) for s in servers}  # the bytes as sent
            assert len(wires) == 1, [w.hex() for w in wires]
    finally:
        for server in servers:
            server.stop()


UNBOUND = shutil.which("unbound")


def _unbound(tmp: Path, port: int, upstream: tuple[str, int], anchor: str) -> subprocess.Popen:
    (tmp / "anchor").write_text(anchor)
    (tmp / "unbound.conf").write_text(f"""server:
  interface: 127.0.0.1@{port}
  port: {port}
  username: ""
  chroot: ""
  directory: "{tmp}"
  pidfile: ""
  use-syslog: no
  logfile: "{tmp}/unbound.log"
  do-not-query-localhost: no
  module-config: "subnetcache validator iterator"
  send-client-subnet: 127.0.0.1
  client-subnet-always-forward: yes
  max-client-subnet-ipv4: 24
  trust-anchor-file: "{tmp}/anchor"
  val-log-level: 2
  domain-insecure: "example.com."
stub-zone:
  name: "{ZONE}"
  stub-addr: {upstream[0]}@{upstream[1]}
""")
    return subprocess.Popen(
        ["unbound", "-d", "-c", str(tmp / "unbound.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ask_resolver(port: int, ecs: str) -> dns.message.Message:
    q = dns.message.make_query(
        f"www.{ZONE}", "A", want_dnssec=True, options=[dns.edns.ECSOption(ecs, 24)]
    )
    deadline = time.monotonic() + 30  # unbound starting on a busy machine
    while True:
        try:
            return dns.query.udp(q, "127.0.0.1", port=port, timeout=2)
        except (dns.exception.Timeout, OSError):  # not listening yet: refused, EAGAIN
            assert time.monotonic() < deadline, "unbound never answered"
            time.sleep(0.1)


@pytest.fixture()
def signed_server(tmp_path: Path) -> Iterator[tuple[ServerThread, Path, keyfile.Key]]:
    key = keyfile.generate(ZONE)
    keyfile.write_key(key, tmp_path / "keys")
    geoip = {"city": GEOLITE2} if GEOLITE2 else {}
    conf = write_config(tmp_path, zone_dir(tmp_path), dns={"listen": ["127.0.0.1:0"]}, geoip=geoip)
    server = ServerThread(conf).start()
    yield server, tmp_path, key
    server.stop()


def _ds_anchor(key: keyfile.Key) -> str:
    from geodns.dnssec import sign

    ds = sign.ds_rdata(key)
    return f"{ZONE} IN DS {key.tag} {key.algorithm} 2 {ds[4:].hex().upper()}\n"


@pytest.mark.skipif(UNBOUND is None or GEOLITE2 is None, reason="unbound or GeoLite2 missing")
def test_unbound_validates_each_continents_pool_with_ad(signed_server) -> None:
    server, tmp, key = signed_server
    port = _free_port()
    proc = _unbound(tmp, port, server.where(), _ds_anchor(key))
    try:
        eu = _ask_resolver(port, "81.2.69.0")
        ap = _ask_resolver(port, "1.0.16.0")
        for reply, want in ((eu, {"192.0.2.10", "192.0.2.11"}), (ap, {"203.0.113.10"})):
            assert reply.rcode() == dns.rcode.NOERROR
            assert reply.flags & dns.flags.AD, reply
            got = {r.to_text() for rr in reply.answer if rr.rdtype == dns.rdatatype.A for r in rr}
            assert got == want
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.skipif(UNBOUND is None, reason="unbound not installed")
def test_unbound_refuses_answers_signed_by_a_key_it_does_not_trust(signed_server) -> None:
    server, tmp, _key = signed_server
    impostor = keyfile.generate(ZONE)  # the anchor names a key the server never signs with
    port = _free_port()
    proc = _unbound(tmp, port, server.where(), _ds_anchor(impostor))
    try:
        assert _ask_resolver(port, "81.2.69.0").rcode() == dns.rcode.SERVFAIL
    finally:
        proc.terminate()
        proc.wait(10)


FAILOVER_ZONE = """zone: {zone}
ttl: 5
dnssec: {{keys: ../keys}}
ns: [ns1.{zone}]
pools:
  primary:
    addresses: [192.0.2.1]
    check: {{type: tcp, port: {p1}, target: "127.0.0.1:{p1}", interval: 0.3s, timeout: 0.3s,
             fall: 1, rise: 1}}
  backup:
    addresses: [192.0.2.2]
    check: {{type: tcp, port: {p2}, target: "127.0.0.1:{p2}", interval: 0.3s, timeout: 0.3s}}
records:
  ns1: {{A: 192.0.2.53}}
  svc: {{failover: [primary, backup]}}
"""


@pytest.mark.skipif(not HAS_BIND, reason="delv (bind9-dnsutils) not installed")
def test_failover_answer_validates_after_the_primary_goes_down(tmp_path: Path) -> None:
    import socket

    primary = socket.create_server(("127.0.0.1", 0))
    backup = socket.create_server(("127.0.0.1", 0))
    keyfile.write_key(keyfile.generate(ZONE), tmp_path / "keys")
    (tmp_path / "zones").mkdir()
    text = FAILOVER_ZONE.format(zone=ZONE, p1=primary.getsockname()[1], p2=backup.getsockname()[1])
    (tmp_path / "zones" / "z.yaml").write_text(text)
    conf = write_config(tmp_path, tmp_path / "zones", dns={"listen": ["127.0.0.1:0"]})
    server = ServerThread(conf).start()
    try:
        out = delv((server, tmp_path), f"svc.{ZONE}", "A")
        assert "; fully validated" in out and "192.0.2.1" in out, out
        primary.close()
        deadline = time.monotonic() + 10  # a health interval or two, with slack
        while True:
            out = delv((server, tmp_path), f"svc.{ZONE}", "A")
            if "192.0.2.2" in out:
                break
            assert time.monotonic() < deadline, out
            time.sleep(0.2)
        assert "; fully validated" in out, out
    finally:
        server.stop()
        backup.close()
