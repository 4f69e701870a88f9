"""Who answered: NSID (RFC 5001) and CHAOS TXT id.server./version.bind., over UDP and TCP,
with dnspython and dig."""

from __future__ import annotations

import subprocess

import dns.edns
import dns.message
import dns.rcode
import dns.rdataclass
import pytest

from geodns import __version__
from tests.conftest import CORE_ZONES
from tests.servers import ServerThread, write_config

# Who answers matters here: `make test` runs these again with two workers and on the
# Python fast path (-m workers, -m fast_path).
pytestmark = [pytest.mark.workers, pytest.mark.fast_path]


@pytest.fixture(scope="module")
def named(tmp_path_factory) -> ServerThread:
    tmp = tmp_path_factory.mktemp("identity")
    path = write_config(
        tmp,
        CORE_ZONES,
        dns={"listen": ["127.0.0.1:0"], "nsid": True},
        instance="ns7.example.test",
    )
    server = ServerThread(path).start()
    yield server
    server.stop()


def _chaos(name: str) -> dns.message.Message:
    return dns.message.make_query(name, "TXT", rdclass=dns.rdataclass.CH)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_nsid_names_the_instance(named: ServerThread, transport: str) -> None:
    q = dns.message.make_query(
        "static.example.test", "A", use_edns=0, options=[dns.edns.GenericOption(3, b"")]
    )
    reply = getattr(named, transport)(q)
    (nsid,) = [o for o in reply.options if o.otype == 3]
    assert nsid.to_wire() == b"ns7.example.test"
    assert {rd.address for rrset in reply.answer for rd in rrset} == {"192.0.2.1", "192.0.2.2"}
    plain = getattr(named, transport)(
        dns.message.make_query("static.example.test", "A", use_edns=0)
    )
    assert not [o for o in plain.options if o.otype == 3]  # only when asked


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("id.server.", "ns7.example.test"),
        ("hostname.bind.", "ns7.example.test"),
        ("VERSION.bind.", f"geodns {__version__}"),
        ("version.server.", f"geodns {__version__}"),
    ],
)
def test_chaos_txt_names(named: ServerThread, name: str, text: str) -> None:
    reply = named.udp(_chaos(name))
    assert reply.rcode() == dns.rcode.NOERROR
    (rrset,) = reply.answer
    assert rrset.rdclass == dns.rdataclass.CH
    assert [s.decode() for rd in rrset for s in rd.strings] == [text]


def test_other_chaos_names_are_refused(named: ServerThread) -> None:
    assert named.udp(_chaos("authors.bind.")).rcode() == dns.rcode.REFUSED
    a = dns.message.make_query("id.server.", "A", rdclass=dns.rdataclass.CH)
    assert named.tcp(a).rcode() == dns.rcode.REFUSED


def test_dig_sees_them(named: ServerThread) -> None:
    host, port = named.where(4)
    out = subprocess.run(
        ["dig", f"@{host}", "-p", str(port), "+nsid", "static.example.test", "A"],
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout
    assert 'NSID: 6e 73 37 2e 65 78 61 6d 70 6c 65 2e 74 65 73 74 ("ns7.example.test")' in out
    out = subprocess.run(
        ["dig", f"@{host}", "-p", str(port), "+short", "CH", "TXT", "id.server"],
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout
    assert out.strip() == '"ns7.example.test"'


def test_hidden_version_and_chaos_off(tmp_path) -> None:
    path = write_config(tmp_path, CORE_ZONES, dns={"listen": ["127.0.0.1:0"], "hide_version": True})
    server = ServerThread(path).start()
    try:
        assert server.udp(_chaos("version.bind.")).rcode() == dns.rcode.REFUSED
        assert server.udp(_chaos("id.server.")).rcode() == dns.rcode.NOERROR
        q = dns.message.make_query(
            "static.example.test", "A", use_edns=0, options=[dns.edns.GenericOption(3, b"")]
        )
        assert not [o for o in server.udp(q).options if o.otype == 3]  # nsid: false
    finally:
        server.stop()
    path = write_config(tmp_path, CORE_ZONES, dns={"listen": ["127.0.0.1:0"], "chaos": False})
    server = ServerThread(path).start()
    try:
        assert server.udp(_chaos("id.server.")).rcode() == dns.rcode.REFUSED
    finally:
        server.stop()
