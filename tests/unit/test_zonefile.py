"""Zone validation: each mistake is reported with its file:line, and all of them at once."""

from __future__ import annotations

import os
import struct

import pytest

from geodns.errors import ZoneError
from geodns.zones import load, zonefile

HEAD = "zone: z.test.\nttl: 60\nns: [ns1.z.test.]\nrecords:\n  ns1: {A: 192.0.2.1}\n"
POOLS = "pools:\n  p: {addresses: [192.0.2.10]}\n  q: {addresses: [192.0.2.20]}\n"


def problems(text: str) -> list[str]:
    with pytest.raises(ZoneError) as info:
        zonefile.load_text(text, "z.yaml")
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("  www: {A: 300.0.0.1}\n", 6, "not an IPv4 address"),
        ("  www: {AAAA: 192.0.2.1}\n", 6, "not an IPv6 address"),
        ("  a: {CNAME: b, TXT: x}\n", 6, "CNAME cannot stand beside other data"),
        ("  '@': {CNAME: x}\n", 6, "CNAME is not allowed at the zone apex"),
        ("  x.other.test.: {A: 192.0.2.1}\n", 6, "outside the zone"),
        ("  x: {A: 192.0.2.1, ttl: 2147483648}\n", 6, "TTL 2147483648"),
        ("  x: {A: 192.0.2.1, ttl: -1}\n", 6, "TTL -1"),
        (f"  {'a' * 64}: {{A: 192.0.2.1}}\n", 6, "longer than 63 octets"),
        (f"  {'.'.join(['abcdefghi'] * 26)}: {{A: 192.0.2.1}}\n", 6, "longer than 255 octets"),
        ("  www: {A: 192.0.2.1}\n  WWW.z.test.: {A: 192.0.2.2}\n", 7, "the same name as line 9"),
        ("  www: {A: 192.0.2.1}\n  www: {A: 192.0.2.2}\n", 7, "duplicate key 'www'"),
        ("  www: {AA: 192.0.2.1}\n", 6, "unknown record type or key 'AA'"),
        ("  a.*.b: {A: 192.0.2.1}\n", 6, "only allowed leftmost"),
        ("  sub: {NS: ns.sub}\n", 6, "needs glue"),
        ("  sub: {NS: ns.x.test.}\n  a.sub: {TXT: x}\n", 7, "only glue (A/AAAA) may sit below"),
        ("  sub: {NS: ns.x.test., A: 192.0.2.1}\n", 6, "may hold only NS and DS"),
        ("  www: {DS: '1 13 2 AB', A: 192.0.2.1}\n", 6, "DS only at a delegation"),
        ("  sub: {NS: ns.x.test., DS: '1 13 2 XY'}\n", 6, "must be 'keytag algorithm"),
        ("  sub: {NS: ns.x.test., DS: '70000 13 2 AB'}\n", 6, "must be 'keytag algorithm"),
        ("  mx: {MX: 'ten mail'}\n", 6, "must be an integer"),
        ("  srv: {SRV: '1 2 mail'}\n", 6, "must have 4 fields"),
        ("  c: {CNAME: [a, b]}\n", 6, "exactly one target"),
        ("  w: {geo: {country:XX: p}}\n", 6, "not a valid country code"),
        ("  w: {geo: {planet:EARTH: p}}\n", 6, "unknown selector"),
        ("  w: {geo: {default: nope}}\n", 6, "unknown pool 'nope'"),
        ("  w: {geo: {}}\n", 6, "empty policy"),
        ("  w: {weighted: {p: -1}}\n", 6, "bad weights"),
        ("  w: {weighted: {p: 0, q: 0}}\n", 6, "bad weights"),
        ("  w: {latency: [p, q]}\n", 6, "has no location"),
        ("  w: {failover: [p], geo: {default: q}}\n", 6, "two policies"),
        ("  w: {failover: [p], sticky: true}\n", 6, "misplaced key 'sticky'"),
        ("  w: {failover: [p], when_all_down: maybe}\n", 6, "when_all_down"),
        ("  w: {geo: {default: p}, A: 192.0.2.1}\n", 6, "policy answers A/AAAA itself"),
    ],
)
def test_each_mistake_names_its_line(body: str, line: int, message: str) -> None:
    found = problems(POOLS + HEAD + body)
    found = [p for p in found if f"z.yaml:{line + 3}: " in p]
    assert any(message in p for p in found), problems(POOLS + HEAD + body)


def test_nesting_too_deep() -> None:
    node = "p"
    for _ in range(10):
        node = f"{{failover: [{node}]}}"
    assert any("deeper than 8" in p for p in problems(POOLS + HEAD + f"  w: {node}\n"))


def test_every_problem_at_once() -> None:
    body = "  a: {A: 1.2.3}\n  b: {TXT: [x], ttl: -3}\n  c: {CNAME: a, MX: '1 m'}\nbogus: 1\n"
    found = problems(HEAD + body)
    assert len(found) == 4
    assert {p.split(": ")[0] for p in found} == {"z.yaml:6", "z.yaml:7", "z.yaml:8", "z.yaml:9"}


def test_yaml_syntax_error_has_a_line() -> None:
    found = problems(HEAD + "  www: {A: [192.0.2.1}\n")
    assert found[0].startswith("z.yaml:6: YAML syntax")


def test_txt_longer_than_255_is_split() -> None:
    zone = zonefile.load_text(HEAD + f"  t: {{TXT: '{'x' * 300}'}}\n", "z.yaml")
    rdata = zone.rrsets[b"\x01t\x01z\x04test\x00"][16].rdatas[0]
    assert rdata[0] == 255 and rdata[256] == 45 and len(rdata) == 302


def test_serial_auto_comes_from_the_content(tmp_path) -> None:
    """Same text, same serial, whatever the file's times or who loads it; new text, new one."""
    path, copy = tmp_path / "z.yaml", tmp_path / "copy" / "z.yaml"
    path.write_text(HEAD)
    loader = load.ZoneLoader()
    [first] = loader.load_paths([str(path)])
    path.write_text(HEAD)  # rewritten, the same text
    assert loader.load_paths([str(path)])[0].serial == first.serial
    copy.parent.mkdir()
    copy.write_text(HEAD)
    os.utime(copy, (1_000_000_000, 1_000_000_000))  # another instance's copy, years older
    assert load.ZoneLoader().load_paths([str(copy)])[0].serial == first.serial
    path.write_text(HEAD + "  x: {A: 192.0.2.9}\n")
    changed = loader.load_paths([str(path)])[0]
    assert changed.serial != first.serial and changed.serial_auto


def test_with_serial_rewrites_the_soa() -> None:
    zone = load.with_serial(zonefile.load_text(HEAD, "z.yaml"), 2024010107)
    assert zone.serial == 2024010107
    assert struct.unpack("!5I", zone.soa_rdata[-20:])[0] == 2024010107


def test_a_check_without_timings_gets_the_defaults() -> None:
    """An inline check of type and port only loads (it raised KeyError: 'timeout'), and
    a timeout above the default interval is still refused."""
    pool = "pools: {a: {addresses: [192.0.2.1], check: {type: tcp, port: 80%s}}}\n"
    head = "zone: c.example.\nns: [ns1.c.example.]\n"
    zone = zonefile.load_text(head + pool % "", "c.yaml")
    check = zone.pools["a"].check
    assert (check.type, check.port, check.interval, check.timeout) == ("tcp", 80, 5.0, 2.0)
    with pytest.raises(ZoneError, match="timeout must not exceed interval"):
        zonefile.load_text(head + pool % ", timeout: 9s", "c.yaml")
