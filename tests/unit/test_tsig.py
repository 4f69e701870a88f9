"""dns/tsig.py against dnspython's TSIG: its signed requests verify here, our signed replies
verify there, and every way a signature goes wrong gets the RFC 8945 error."""

from __future__ import annotations

import base64
import time

import dns.message
import dns.rcode
import dns.tsig
import dns.tsigkeyring
import dns.update
import pytest

from geodns.dns import tsig

SECRET = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def _keys(algorithm: str) -> dict[bytes, tsig.Key]:
    key = tsig.Key("acme.", algorithm, base64.b64decode(SECRET))
    return {key.wire: key}


def _signed(algorithm, secret: str = SECRET, name: str = "acme") -> dns.message.Message:
    upd = dns.update.UpdateMessage("example.test.")
    upd.add("_acme-challenge.www", 60, "TXT", "token")
    keyring = dns.tsigkeyring.from_text({name: (algorithm, secret)})
    upd.use_tsig(keyring, algorithm=algorithm)
    return upd


@pytest.mark.parametrize(
    ("theirs", "ours"),
    [(dns.tsig.HMAC_SHA256, "hmac-sha256"), (dns.tsig.HMAC_SHA512, "hmac-sha512")],
)
def test_dnspython_signed_request_verifies_and_our_reply_verifies_there(theirs, ours) -> None:
    request = _signed(theirs)
    wire = request.to_wire()
    sig = tsig.find(wire)
    assert sig is not None and sig.key == tsig.name_wire("acme.")
    error, key = tsig.verify(wire, sig, _keys(ours), int(time.time()))
    assert error == 0 and key is not None
    reply = dns.message.make_response(request)
    reply.tsig = None  # ours signs it
    raw = reply.to_wire()
    signed = tsig.sign(raw, key, int(time.time()), sig.mac)
    keyring = dns.tsigkeyring.from_text({"acme": (theirs, SECRET)})
    back = dns.message.from_wire(signed, keyring=keyring, request_mac=request.mac)
    assert back.had_tsig and back.rcode() == dns.rcode.NOERROR


def test_a_tampered_message_is_badsig() -> None:
    wire = bytearray(_signed(dns.tsig.HMAC_SHA256).to_wire())
    sig = tsig.find(bytes(wire))
    wire[sig.start - 1] ^= 0x01  # the last byte of the TXT data
    error, _ = tsig.verify(bytes(wire), sig, _keys("hmac-sha256"), int(time.time()))
    assert error == tsig.BADSIG


def test_another_secret_is_badsig_and_another_key_or_algorithm_badkey() -> None:
    other = base64.b64encode(b"x" * 32).decode()
    wire = _signed(dns.tsig.HMAC_SHA256, secret=other).to_wire()
    now = int(time.time())
    assert tsig.verify(wire, tsig.find(wire), _keys("hmac-sha256"), now)[0] == tsig.BADSIG
    wire = _signed(dns.tsig.HMAC_SHA256, name="other").to_wire()
    assert tsig.verify(wire, tsig.find(wire), _keys("hmac-sha256"), now)[0] == tsig.BADKEY
    wire = _signed(dns.tsig.HMAC_SHA512).to_wire()
    assert tsig.verify(wire, tsig.find(wire), _keys("hmac-sha256"), now)[0] == tsig.BADKEY


def test_outside_the_fudge_is_badtime() -> None:
    wire = _signed(dns.tsig.HMAC_SHA256).to_wire()  # dnspython's fudge: 300 s
    sig = tsig.find(wire)
    assert tsig.verify(wire, sig, _keys("hmac-sha256"), sig.time_signed + 299)[0] == 0
    assert tsig.verify(wire, sig, _keys("hmac-sha256"), sig.time_signed + 301)[0] == tsig.BADTIME
    assert tsig.verify(wire, sig, _keys("hmac-sha256"), sig.time_signed - 301)[0] == tsig.BADTIME


def test_badkey_reply_is_unsigned_and_dnspython_reads_the_error() -> None:
    request = _signed(dns.tsig.HMAC_SHA256, name="other")
    wire = request.to_wire()
    sig = tsig.find(wire)
    reply = dns.message.make_response(request)
    reply.tsig = None
    reply.set_rcode(dns.rcode.NOTAUTH)
    raw = tsig.unsigned_error(reply.to_wire(), sig, tsig.BADKEY, int(time.time()))
    keyring = dns.tsigkeyring.from_text({"other": (dns.tsig.HMAC_SHA256, SECRET)})
    with pytest.raises(dns.tsig.PeerBadKey):
        dns.message.from_wire(raw, keyring=keyring, request_mac=request.mac)


def test_tsig_not_last_is_a_format_error() -> None:
    wire = _signed(dns.tsig.HMAC_SHA256).to_wire()
    from geodns.wire import FormErr

    with pytest.raises(FormErr):
        tsig.find(wire + b"\x00")  # trailing bytes after the TSIG
    assert tsig.find(dns.message.make_query("a.test.", "A").to_wire()) is None
