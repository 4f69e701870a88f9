"""DNSSEC keys and signatures checked against BIND's tools and dnspython's validator."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from geodns.dnssec import keyfile, keyset, sign
from geodns.names import name_to_wire

ZONE = "gslb.example.com."
HAS_BIND = shutil.which("dnssec-keygen") is not None


def bind_keygen(tmp_path: Path, *args: str) -> Path:
    out = subprocess.run(
        ["dnssec-keygen", "-K", str(tmp_path), *args, ZONE],
        capture_output=True,
        text=True,
        check=True,
    )
    return tmp_path / (out.stdout.strip() + ".key")


@pytest.mark.skipif(not HAS_BIND, reason="dnssec-keygen (bind9-utils) not installed")
@pytest.mark.parametrize("alg", ["13", "15"])
def test_bind_key_files_read_with_the_tag_bind_named_them(tmp_path: Path, alg: str) -> None:
    path = bind_keygen(tmp_path, "-a", alg, "-f", "KSK")
    key = keyfile.read_key(path, ZONE)
    assert path.name == f"K{ZONE}+{int(alg):03d}+{key.tag:05d}.key"
    assert key.is_ksk and key.when("Activate") is not None


@pytest.mark.skipif(not HAS_BIND, reason="dnssec-keygen (bind9-utils) not installed")
def test_ds_equals_dnssec_dsfromkey(tmp_path: Path) -> None:
    path = bind_keygen(tmp_path, "-a", "13", "-f", "KSK")
    key = keyfile.read_key(path, ZONE)
    theirs = subprocess.run(
        ["dnssec-dsfromkey", "-2", str(path)], capture_output=True, text=True, check=True
    ).stdout.split()
    ds = sign.ds_rdata(key)
    assert [int(theirs[3]), int(theirs[4]), int(theirs[5])] == [key.tag, 13, 2]
    assert ds[4:].hex().upper() == "".join(theirs[6:]).upper()


@pytest.mark.parametrize("alg", [13, 15])
def test_written_keys_read_back_and_sign_what_dnspython_validates(tmp_path: Path, alg: int) -> None:
    key = keyfile.read_key(keyfile.write_key(keyfile.generate(ZONE, alg), tmp_path), ZONE)
    owner = name_to_wire("WWW.gslb.example.com.")
    rdatas = [bytes([192, 0, 2, 10]), bytes([192, 0, 2, 11])]
    when = sign.window(time.time())
    sig = sign.sign_rrset(key, name_to_wire(ZONE), owner, 1, 60, rdatas, when)
    rrset = dns.rrset.from_text("www.gslb.example.com.", 60, "IN", "A", "192.0.2.11", "192.0.2.10")
    rrsig = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.RRSIG, sig, 0, len(sig))
    sigset = dns.rrset.from_rdata(rrset.name, 60, rrsig)
    dnskey = dns.rdata.from_wire(
        dns.rdataclass.IN, dns.rdatatype.DNSKEY, key.rdata, 0, len(key.rdata)
    )
    keys = {dns.name.from_text(ZONE): dns.rrset.from_rdata(ZONE, 3600, dnskey)}
    dns.dnssec.validate(rrset, sigset, keys)  # raises ValidationFailure when wrong
    assert sign.sign_rrset(key, name_to_wire(ZONE), owner, 1, 60, rdatas, when) == sig


def test_a_wildcard_signature_validates_for_a_synthesized_name(tmp_path: Path) -> None:
    key = keyfile.generate(ZONE)
    owner = name_to_wire("*.wild.gslb.example.com.")
    when = sign.window(time.time())
    sig = sign.sign_rrset(key, name_to_wire(ZONE), owner, 16, 30, [b"\x02hi"], when)
    assert sig[3] == 4  # labels: wild.gslb.example.com
    rrset = dns.rrset.from_text("*.wild.gslb.example.com.", 30, "IN", "TXT", '"hi"')
    rrsig = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.RRSIG, sig, 0, len(sig))
    dnskey = dns.rdata.from_wire(
        dns.rdataclass.IN, dns.rdatatype.DNSKEY, key.rdata, 0, len(key.rdata)
    )
    dns.dnssec.validate(
        rrset,
        dns.rrset.from_rdata(rrset.name, 30, rrsig),
        {dns.name.from_text(ZONE): dns.rrset.from_rdata(ZONE, 3600, dnskey)},
    )


@pytest.mark.parametrize("now", [0, 3 * 86400, 7 * 86400 - 1, 1_800_000_123])
def test_window_is_week_aligned_and_never_starts_in_the_future(now: int) -> None:
    inception, expiration = sign.window(now)
    assert inception % sign.WEEK == 0 and expiration % sign.WEEK == 0
    assert inception <= now - sign.WEEK < now and expiration - now >= sign.WEEK
    assert expiration - inception == 3 * sign.WEEK


def test_keys_for_another_zone_or_a_broken_file_are_named(tmp_path: Path) -> None:
    path = keyfile.write_key(keyfile.generate("other.example."), tmp_path)
    with pytest.raises(keyfile.KeyError_, match=r"other\.example"):
        keyfile.read_key(path, ZONE)
    path.with_suffix(".private").write_text("Private-key-format: v1.3\n")
    with pytest.raises(keyfile.KeyError_, match=re.escape(path.name)):
        keyfile.read_key(path, "other.example.")


def test_double_signature_zsk_rollover_by_timing(tmp_path: Path) -> None:
    """RFC 6781 4.1.1.2: the new ZSK is published and signs beside the old, then the old
    one stops signing and later leaves the DNSKEY set."""
    ksk = keyfile.generate(ZONE)
    old = keyfile.generate(ZONE, ksk=False)
    new = keyfile.generate(ZONE, ksk=False)
    t0 = 1_000_000
    old.timing.update(Publish=t0, Activate=t0, Inactive=t0 + 300, Delete=t0 + 600)
    new.timing.update(Publish=t0 + 100, Activate=t0 + 100)
    ksk.timing.update(Publish=t0, Activate=t0)
    keys = [ksk, old, new]
    steps = {
        t0: ({ksk, old}, {old}),
        t0 + 100: ({ksk, old, new}, {old, new}),
        t0 + 300: ({ksk, old, new}, {new}),
        t0 + 600: ({ksk, new}, {new}),
    }
    for now, (shown, signing) in steps.items():
        state = keyset.state_at(keys, now)
        assert set(state.published) == shown and set(state.zsks) == signing
        assert state.ksks == (ksk,)
    assert keyset.next_event(keys, t0 + 100)[0] == t0 + 300


def test_a_zone_with_no_active_key_is_an_error(tmp_path: Path) -> None:
    key = keyfile.generate(ZONE)
    key.timing["Inactive"] = 10
    with pytest.raises(keyfile.KeyError_, match="no active key"):
        keyset.require_signing([key], ZONE, str(tmp_path), 100)
