"""Authoritative protocol behaviour (README "Protocol behaviour"), direct and over UDP/TCP v4/v6."""

from __future__ import annotations

import struct

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest

# Who answers matters here: `make test` runs these again with two workers and on the
# Python fast path (-m workers, -m fast_path).
pytestmark = [pytest.mark.workers, pytest.mark.fast_path]

ZONE = "example.test."
SOA_NEG_TTL = 30  # min(zone ttl 120, soa minimum 30)


def q(name: str, rtype: str = "A", **kw) -> dns.message.Message:
    return dns.message.make_query(name, rtype, **kw)


def texts(section) -> set[str]:
    return {
        f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)} {rd}"
        for rrset in section
        for rd in rrset
    }


def assert_negative(reply: dns.message.Message, rcode: int) -> None:
    assert reply.rcode() == rcode
    assert reply.flags & dns.flags.AA
    assert not reply.answer
    assert len(reply.authority) == 1
    soa = reply.authority[0]
    assert soa.rdtype == dns.rdatatype.SOA and str(soa.name) == ZONE
    assert soa.ttl == SOA_NEG_TTL


def test_answer_is_authoritative_with_records(ask) -> None:
    reply = ask(q("static.example.test", "A"))
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.AA and reply.flags & dns.flags.QR
    assert not reply.flags & dns.flags.RA
    assert texts(reply.answer) == {
        "static.example.test. A 192.0.2.1",
        "static.example.test. A 192.0.2.2",
    }
    assert reply.answer[0].ttl == 300


@pytest.mark.parametrize("rd", [True, False])
def test_rd_and_cd_are_copied(ask, rd: bool) -> None:
    query = q("static.example.test", "A")
    query.flags = (dns.flags.RD if rd else 0) | dns.flags.CD
    reply = ask(query)
    assert bool(reply.flags & dns.flags.RD) == rd
    assert reply.flags & dns.flags.CD


@pytest.mark.parametrize(
    "name", ["StAtIc.ExAmPlE.tEsT", "STATIC.EXAMPLE.TEST", "static.example.test"]
)
def test_question_echoed_byte_for_byte(ask_raw, name: str) -> None:
    wire = q(name, "A").to_wire()
    reply = ask_raw(wire)
    question_len = len(dns.name.from_text(name).to_wire()) + 4
    assert reply[12 : 12 + question_len] == wire[12 : 12 + question_len]
    assert dns.message.from_wire(reply).rcode() == dns.rcode.NOERROR


def test_refused_outside_our_zones(ask) -> None:
    for name in ("www.example.org", "test", "."):
        reply = ask(q(name, "A"))
        assert reply.rcode() == dns.rcode.REFUSED
        assert not reply.flags & dns.flags.AA
        assert not reply.answer


def test_nxdomain_has_soa_with_negative_ttl(ask) -> None:
    assert_negative(ask(q("nope.example.test", "A")), dns.rcode.NXDOMAIN)
    assert_negative(ask(q("deep.nope.static.example.test", "AAAA")), dns.rcode.NXDOMAIN)


def test_nodata_has_soa(ask) -> None:
    assert_negative(ask(q("static.example.test", "MX")), dns.rcode.NOERROR)
    assert_negative(ask(q("mail.example.test", "AAAA")), dns.rcode.NOERROR)


def test_empty_non_terminal_is_nodata(ask) -> None:
    assert_negative(ask(q("_tcp.example.test", "A")), dns.rcode.NOERROR)
    assert_negative(ask(q("_tcp.example.test", "SRV")), dns.rcode.NOERROR)


def test_apex_records(ask) -> None:
    soa = ask(q(ZONE, "SOA"))
    assert soa.answer[0].rdtype == dns.rdatatype.SOA and soa.answer[0][0].serial == 2024010101
    ns = ask(q(ZONE, "NS"))
    assert texts(ns.answer) == {f"{ZONE} NS ns1.{ZONE}", f"{ZONE} NS ns2.{ZONE}"}
    assert f"ns2.{ZONE} AAAA 2001:db8::54" in texts(ns.additional)
    assert texts(ask(q(ZONE, "MX")).answer) == {f"{ZONE} MX 10 mail.{ZONE}"}
    assert texts(ask(q(ZONE, "CAA")).answer) == {f'{ZONE} CAA 0 issue "letsencrypt.org"'}


def test_other_record_types(ask) -> None:
    srv = ask(q("_sip._tcp.example.test", "SRV"))
    assert texts(srv.answer) == {"_sip._tcp.example.test. SRV 10 5 5060 sip.example.test."}
    assert texts(ask(q("ptr.example.test", "PTR")).answer) == {
        "ptr.example.test. PTR host.example.test."
    }


def test_cname_chased_inside_the_zone(ask) -> None:
    reply = ask(q("alias2.example.test", "A"))
    assert [r.rdtype for r in reply.answer] == [dns.rdatatype.CNAME] * 2 + [dns.rdatatype.A]
    assert "static.example.test. A 192.0.2.1" in texts(reply.answer)
    assert reply.flags & dns.flags.AA


def test_cname_query_type_is_not_chased(ask) -> None:
    reply = ask(q("alias.example.test", "CNAME"))
    assert texts(reply.answer) == {"alias.example.test. CNAME static.example.test."}


def test_cname_leaving_the_zone_stops(ask) -> None:
    reply = ask(q("outside.example.test", "A"))
    assert texts(reply.answer) == {"outside.example.test. CNAME www.example.org."}
    assert reply.rcode() == dns.rcode.NOERROR


def test_cname_loop_terminates(ask) -> None:
    reply = ask(q("loop1.example.test", "A"))
    assert {r.rdtype for r in reply.answer} == {dns.rdatatype.CNAME}
    assert len(reply.answer) == 2


def test_cname_to_missing_name_is_nxdomain(ask) -> None:
    reply = ask(q("dangling.example.test", "A"))
    assert reply.rcode() == dns.rcode.NXDOMAIN  # RFC 6604: the rcode of the last name
    assert texts(reply.answer) == {"dangling.example.test. CNAME nothing-here.example.test."}


@pytest.mark.parametrize(
    "name", ["a.edge.example.test", "x.y.edge.example.test", "*.edge.example.test"]
)
def test_wildcard_synthesis(ask, name: str) -> None:
    reply = ask(q(name, "A"))
    assert texts(reply.answer) == {f"{name}. A 192.0.2.99"}
    assert reply.flags & dns.flags.AA


def test_wildcard_does_not_cover_existing_names(ask) -> None:
    assert_negative(ask(q("real.edge.example.test", "A")), dns.rcode.NOERROR)
    assert_negative(ask(q("edge.example.test", "A")), dns.rcode.NOERROR)  # empty non-terminal
    # below an existing name the wildcard is not the closest encloser's
    assert_negative(ask(q("x.real.edge.example.test", "A")), dns.rcode.NXDOMAIN)


def test_wildcard_nodata_and_cname(ask) -> None:
    assert_negative(ask(q("a.edge.example.test", "MX")), dns.rcode.NOERROR)
    reply = ask(q("z.wcname.example.test", "A"))
    assert "z.wcname.example.test. CNAME static.example.test." in texts(reply.answer)
    assert "static.example.test. A 192.0.2.1" in texts(reply.answer)


@pytest.mark.parametrize(
    "name", ["sub.example.test", "host.sub.example.test", "a.b.sub.example.test"]
)
def test_referral_with_glue(ask, name: str) -> None:
    reply = ask(q(name, "A"))
    assert reply.rcode() == dns.rcode.NOERROR
    assert not reply.flags & dns.flags.AA
    assert not reply.answer
    assert texts(reply.authority) == {
        "sub.example.test. NS ns.sub.example.test.",
        "sub.example.test. NS ns.elsewhere.example.",
    }
    assert texts(reply.additional) == {"ns.sub.example.test. A 192.0.2.153"}


def test_ds_at_delegation_is_answered_by_parent(ask) -> None:
    assert_negative(ask(q("sub.example.test", "DS")), dns.rcode.NOERROR)


def test_opt_only_when_the_query_had_one(ask) -> None:
    plain = ask(q("static.example.test", "A"))
    assert plain.edns == -1
    with_edns = ask(q("static.example.test", "A", use_edns=0, payload=4096))
    assert with_edns.edns == 0
    assert with_edns.payload == 1232  # capped at max_udp_payload


def test_do_bit_copied(ask) -> None:
    reply = ask(q("static.example.test", "A", want_dnssec=True))
    assert reply.ednsflags & dns.flags.DO


def test_badvers(ask) -> None:
    reply = ask(q("static.example.test", "A", use_edns=1))
    assert reply.rcode() == dns.rcode.BADVERS
    assert reply.edns == 0
    assert not reply.answer


def test_two_opts_is_formerr(ask_raw) -> None:
    wire = bytearray(q("static.example.test", "A", use_edns=0).to_wire())
    opt = bytes(wire[-11:])
    wire[10:12] = struct.pack("!H", 2)
    reply = ask_raw(bytes(wire) + opt)
    assert dns.message.from_wire(reply).rcode() == dns.rcode.FORMERR


@pytest.mark.parametrize("name", ["static.example.test", "nope.example.test"])
def test_opt_rdata_shorter_than_an_option_is_formerr(ask_raw, name: str) -> None:
    """Two bytes of OPT RDATA that start like ECS: not an option at all (RFC 6891 6.1.2)."""
    wire = q(name, "A", use_edns=0).to_wire()
    reply = ask_raw(wire[:-2] + b"\x00\x02\x00\x08")
    assert reply is not None
    assert reply[:2] == wire[:2] and reply[3] & 0x0F == dns.rcode.FORMERR


@pytest.mark.parametrize("edns", [False, True])
def test_truncation_over_udp(ask, edns: bool) -> None:
    query = (
        q("big.example.test", "TXT", use_edns=0, payload=256)
        if edns
        else q("big.example.test", "TXT")
    )
    reply = ask(query)
    if ask.transport == "tcp":
        assert not reply.flags & dns.flags.TC
        assert len(reply.answer[0]) == 4
    else:
        assert reply.flags & dns.flags.TC  # payload < 512 counts as 512: still too big
        assert not reply.answer and not reply.authority
        assert reply.edns == (0 if edns else -1)


def test_large_payload_gets_the_whole_answer(ask) -> None:
    reply = ask(q("big.example.test", "TXT", use_edns=0, payload=4096))
    assert not reply.flags & dns.flags.TC
    assert len(reply.answer[0]) == 4


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda b: b[:4] + b"\x00\x02" + b[6:] + b[12:], id="qdcount-2"),
        pytest.param(lambda b: b + b"\x00junk", id="trailing-bytes"),
        pytest.param(lambda b: b[:4] + b"\x00\x01\x00\x01" + b[8:], id="ancount-without-record"),
        pytest.param(lambda b: b[:-3], id="question-truncated"),
        pytest.param(lambda b: b[:4] + b"\x00\x00" + b[6:12], id="qdcount-0"),
    ],
)
def test_malformed_is_formerr(ask_raw, mutate) -> None:
    wire = q("static.example.test", "A").to_wire()
    reply = ask_raw(mutate(wire))
    assert reply is not None
    assert reply[:2] == wire[:2]
    assert reply[3] & 0x0F == dns.rcode.FORMERR
    assert reply[2] & 0x80


def test_unparseable_is_dropped(ask_raw) -> None:
    assert ask_raw(b"\x12\x34\x01") is None


def test_responses_are_never_answered(ask_raw) -> None:
    wire = bytearray(q("static.example.test", "A").to_wire())
    wire[2] |= 0x80
    assert ask_raw(bytes(wire)) is None


@pytest.mark.parametrize("opcode", [1, 2, 4, 5, 15])
def test_other_opcodes_notimp(ask_raw, opcode: int) -> None:
    wire = bytearray(q("static.example.test", "A").to_wire())
    wire[2] = (wire[2] & 0x87) | (opcode << 3)
    reply = ask_raw(bytes(wire))
    assert reply is not None and reply[:2] == wire[:2]
    assert reply[2] & 0x80 and (reply[2] >> 3) & 0xF == opcode
    assert reply[3] & 0xF == dns.rcode.NOTIMP


def test_any_is_minimal(ask) -> None:
    reply = ask(q("static.example.test", "ANY"))
    assert len(reply.answer) == 1 and len(reply.answer[0]) >= 1
    apex = ask(q(ZONE, "ANY"))
    assert len(apex.answer) == 1


def test_any_at_a_cname_is_the_cname(ask) -> None:
    reply = ask(q("alias.example.test", "ANY"))
    assert texts(reply.answer) == {"alias.example.test. CNAME static.example.test."}


def test_other_class_refused(ask) -> None:
    reply = ask(dns.message.make_query("static.example.test", "A", rdclass=dns.rdataclass.CH))
    assert reply.rcode() == dns.rcode.REFUSED


def test_zone_transfer_refused(ask) -> None:
    assert ask(q(ZONE, "AXFR")).rcode() == dns.rcode.REFUSED


def test_unknown_type_nodata(ask) -> None:
    assert_negative(ask(q("static.example.test", "TYPE65280")), dns.rcode.NOERROR)
    assert_negative(ask(q("static.example.test", "HTTPS")), dns.rcode.NOERROR)
