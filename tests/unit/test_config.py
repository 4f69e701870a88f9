"""Config loading: defaults, durations, and every mistake with file:line."""

from __future__ import annotations

import pytest

from geodns import config
from geodns.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "seconds"), [("500ms", 0.5), ("10s", 10.0), ("5m", 300.0), ("1h", 3600.0), (3, 3.0)]
)
def test_durations(text, seconds) -> None:
    assert config.parse_duration(text) == seconds


def test_defaults_and_relative_paths(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("geoip: {city: db/x.mmdb}\nzones_dir: z\ndns: {tcp_idle_timeout: 500ms}\n")
    conf = config.load(str(path))
    assert conf.dns.listen == ("127.0.0.1:5353",) and conf.dns.max_udp_payload == 1232
    assert conf.dns.tcp_idle_timeout == 0.5
    assert conf.geoip.city == str(tmp_path / "db" / "x.mmdb")
    assert conf.zones_dir == str(tmp_path / "z")


def test_fleet_keys_and_paths(tmp_path) -> None:
    (tmp_path / "bus.key").write_text("0123456789abcdef0123\n")
    path = tmp_path / "c.yaml"
    path.write_text(
        "fleet:\n  quorum: 18%\n  key_file: bus.key\n  max_skew: 10s\n"
        "  tls: {ca_file: ca.pem, cert_file: c.pem, key_file: c-key.pem}\n"
    )
    fleet = config.load(str(path)).fleet
    assert fleet.quorum == "18%" and fleet.replicas == 3 and fleet.max_skew == 10.0
    assert fleet.key_file == str(tmp_path / "bus.key")
    assert fleet.tls == config.FleetTls(
        *(str(tmp_path / n) for n in ("ca.pem", "c.pem", "c-key.pem"))
    )
    assert config.read_fleet_key(fleet.key_file) == b"0123456789abcdef0123"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("dns: {colour: blue}\n", 1, "unknown key 'colour'"),
        ("dns:\n  listen: [nowhere]\n", 2, "does not appear to be an IPv4 or IPv6"),
        ("dns:\n  workers: 0\n", 2, "positive integer or 'auto'"),
        ("dns:\n  max_udp_payload: 100\n", 2, "between 512 and 65535"),
        ("ecs:\n  max_source_v4: 40\n", 2, "between 0 and 32"),
        ("ecs:\n  enabled: 'yes'\n", 2, "true or false"),
        ("log:\n  format: xml\n", 2, "one of text, json"),
        ("reload:\n  poll_interval: soon\n", 2, "duration"),
        ("zonez: x\n", 1, "unknown key 'zonez'"),
        ("zones: {source: git}\n", 1, "zones.source: must be files or fleet"),
        ("http: {max_body: lots}\n", 1, "http.max_body: expected a size"),
        ("dns: {}\ndns: {}\n", 2, "duplicate key 'dns'"),
        ("dns:\n  fast_path: turbo\n", 2, "one of auto, native, python"),
        ("prometheus:\n  url: 7\n", 2, "prometheus.url: must be a string"),
        ("prometheus:\n  url: ftp://x\n", 2, "http:// or https:// URL"),
        ("prometheus:\n  stale_after: soon\n", 2, "duration"),
        ("rtt:\n  half_life: soon\n", 2, "duration"),
        ("fleet:\n  quorum: 0%\n", 2, "'P%' (1-100)"),
        ("fleet:\n  quorum: most\n", 2, "'majority', a positive integer"),
        ("fleet:\n  replicas: 7\n", 2, "between 1 and 5"),
        ("fleet:\n  max_skew: soon\n", 2, "duration"),
        ("fleet:\n  tls: {ca: x}\n", 2, "mapping of ca_file, cert_file, key_file"),
        ("fleet:\n  key_file: missing.key\n", 2, "fleet.key_file: cannot read"),
    ],
)
def test_mistakes(tmp_path, text, line, message) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        config.load(str(path))
    assert any(
        str(p).startswith(f"{path}:{line}: ") and message in str(p) for p in info.value.problems
    ), [str(p) for p in info.value.problems]
