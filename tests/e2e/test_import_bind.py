"""`geodns import bind`: a master file ($ORIGIN, $TTL, $INCLUDE, $GENERATE) served by geodns
answers what BIND answers from the same file.

BIND's own reading is the reference: `named-checkzone -D` (bind9-utils) dumps the zone as
named would load it, and every record set it holds that geodns serves is asked of a real
geodns server (UDP on an ephemeral loopback port) with dnspython. Where BIND is not
installed that comparison is skipped; the hand-written table below still runs.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.zone
import pytest

from tests.e2e.importkit import FIXTURES, run_import
from tests.servers import ServerThread, write_config

SRC = FIXTURES / "bind"
SERVED = {"A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA", "NS"}
NOTED_TTL = {"www.example.com."}  # "TTLs 3600 become 300": one TTL per name in geodns
DELEGATED = dns.name.from_text("lab.example.com.")  # answered by referral, not from the zone


@pytest.fixture(scope="module")
def imported():
    return run_import("bind", SRC / "example.com.zone")


@pytest.fixture(scope="module")
def server(imported, tmp_path_factory) -> Iterator[ServerThread]:
    tmp = tmp_path_factory.mktemp("bind")
    zones = tmp / "zones"
    zones.mkdir()
    (zones / "example.com.yaml").write_text(imported.text)
    srv = ServerThread(write_config(tmp, zones, dns={"listen": ["127.0.0.1:0"]})).start()
    yield srv
    srv.stop()


def ask(server: ServerThread, name: str, rtype: str) -> dns.message.Message:
    return server.udp(dns.message.make_query(name, rtype))


def test_left_out_and_dropped_records_are_listed(imported) -> None:
    assert imported.rc == 2
    assert imported.unmapped() == [
        "not mapped: example.com.zone:27: a name outside the zone example.com.",
        "not mapped: host.example.com. SSHFP: geodns does not serve SSHFP records",
    ]
    for dnssec in ("DNSKEY", "RRSIG"):
        assert f"note: example.com. {dnssec}: dropped: geodns signs" in imported.stderr
    assert "TXT strings joined into one" in imported.stderr


def test_soa_keeps_the_timers(imported) -> None:
    assert imported.doc["soa"] == {
        "mname": "ns1.example.com.",
        "rname": "hostmaster.example.com.",
        "serial": "auto",
        "refresh": 7200,
        "retry": 900,
        "expire": 1209600,
        "minimum": 300,
    }


# Read off the master file by hand: (name, type, data, ttl)
TABLE = [
    ("www.example.com.", "A", {"192.0.2.80", "192.0.2.81"}, 300),
    ("mail.example.com.", "AAAA", {"2001:db8::25"}, 3600),
    ("app.example.com.", "A", {"192.0.2.70"}, 3600),  # from $INCLUDE hosts.inc
    ("api.example.com.", "CNAME", {"app.example.com."}, 3600),  # relative name in the include
    ("dhcp-3.example.com.", "A", {"198.51.100.3"}, 3600),  # $GENERATE 1-4
    ("anything.edge.example.com.", "A", {"192.0.2.99"}, 3600),  # *.edge
    ("example.com.", "MX", {"10 mail.example.com.", "20 mail.example.net."}, 3600),
    ("_sip._tcp.example.com.", "SRV", {"10 60 5060 sip.example.com."}, 3600),
    ("example.com.", "CAA", {'0 issue "letsencrypt.org"'}, 3600),
]
DS = "12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"


@pytest.mark.parametrize(("name", "rtype", "data", "ttl"), TABLE)
def test_hand_table(server: ServerThread, name, rtype, data, ttl) -> None:
    reply = ask(server, name, rtype)
    (rrset,) = reply.answer
    assert {rd.to_text() for rd in rrset} == data
    assert rrset.ttl == ttl


def test_the_delegations_ds_is_served(server: ServerThread) -> None:
    """DS sits at the delegation point, answered by the parent (RFC 4035 §3.1.4.1)."""
    (rrset,) = ask(server, "lab.example.com.", "DS").answer
    assert {rd.to_text().upper() for rd in rrset} == {DS}


def test_generate_beyond_its_range_is_nxdomain(server: ServerThread) -> None:
    assert ask(server, "dhcp-5.example.com.", "A").rcode() == dns.rcode.NXDOMAIN


def _bind_zone() -> dns.zone.Zone:
    out = subprocess.run(
        ["named-checkzone", "-D", "-o", "-", "-w", str(SRC), "example.com", "example.com.zone"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return dns.zone.from_text(out, "example.com.", relativize=False, check_origin=False)


def _txt(rdataset) -> set[str]:
    """TXT data as a client reads it (strings joined: geodns serves one, noted)."""
    return {b"".join(rd.strings).decode() for rd in rdataset}


@pytest.mark.skipif(shutil.which("named-checkzone") is None, reason="bind9-utils not installed")
def test_every_record_bind_loads_is_served_the_same(server: ServerThread) -> None:
    compared = 0
    for name, node in _bind_zone().nodes.items():
        if name.is_subdomain(DELEGATED):
            continue
        qname = name.to_text().replace("*", "anything")
        for rdataset in node.rdatasets:
            rtype = dns.rdatatype.to_text(rdataset.rdtype)
            if rtype not in SERVED:
                continue
            (got,) = ask(server, qname, rtype).answer
            if rtype == "TXT":
                assert _txt(got) == _txt(rdataset), qname
            else:
                assert set(got) == set(rdataset), (qname, rtype)
            if name.to_text() not in NOTED_TTL:
                assert got.ttl == rdataset.ttl, (qname, rtype)
            compared += 1
    assert compared >= 20  # every mapped set of the fixture, not a vacuous loop
