"""`geodns diff` in a shell pipeline over two directories, and `geodns lint` on the example
zones, run as an operator or a CI job runs them (sys.executable -m geodns)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.servers import DATA, REPO

GEODNS = f"{shlex.quote(sys.executable)} -m geodns"
CITY = DATA / "city-test.mmdb"


def zone(origin: str, www: dict) -> dict:
    return {
        "zone": origin,
        "ns": [f"ns1.{origin}"],
        "pools": {"eu": {"addresses": ["192.0.2.1"]}, "us": {"addresses": ["192.0.2.2"]}},
        "records": {"ns1": {"A": "192.0.2.53"}, "www": www},
    }


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """old/ and new/: a.example. moves GB from eu to us, b.example. is the same, c.example.
    is new; a config whose GeoIP database is the City fixture."""
    old, new = tmp_path / "old", tmp_path / "new"
    for d in (old, new):
        d.mkdir()
    same = zone("b.example.", {"failover": ["eu", "us"]})
    for d, gb in ((old, "eu"), (new, "us")):
        a = zone("a.example.", {"geo": {"country:GB": gb, "default": "us"}})
        (d / "a.example.yaml").write_text(yaml.safe_dump(a))
        (d / "b.example.yaml").write_text(yaml.safe_dump(same))
    (new / "c.example.yaml").write_text(yaml.safe_dump(zone("c.example.", {"A": "192.0.2.7"})))
    conf = tmp_path / "geodns.yaml"
    conf.write_text(yaml.safe_dump({"zones_dir": str(old), "geoip": {"city": str(CITY)}}))
    return old, new, conf


def sh(command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def test_diff_of_two_directories_in_a_pipeline(dirs) -> None:
    old, new, conf = dirs
    base = f"{GEODNS} diff {old} {new} --config {conf}"
    moved = sh(f"{base} | grep '^route' | sort")
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.splitlines() == [  # GB: 81.2.69.0/24, 2001:db8:100::/48 (fixture)
        "route www.a.example. ipv4 eu -> us: 1 ranges",
        "route www.a.example. ipv6 eu -> us: 2 ranges",
    ]
    ranges = sh(
        f"{base} --json | {shlex.quote(sys.executable)} -c '"
        "import json, sys; d = json.load(sys.stdin); "
        'print(*sorted(r for e in d["routing"] for r in e["ranges"]))\''
    )
    assert ranges.returncode == 0, ranges.stderr
    assert ranges.stdout.split() == ["2001:db8:100::/48", "81.2.69.0/24", "::5102:4500/120"]
    records = sh(f"{base} | grep -v '^ ' | grep -v '^route'")
    assert records.stdout.splitlines() == [
        "~ a.example. records.www.policy (policy)",
        "+ c.example. ns (zone)",
        "+ c.example. zone (zone)",
        "+ c.example. pools.eu (pool)",
        "+ c.example. pools.us (pool)",
        "+ c.example. records.ns1.A (A)",
        "+ c.example. records.www.A (A)",
    ]


def test_fail_on_change_sets_the_exit_code(dirs) -> None:
    old, new, conf = dirs
    changed = sh(f"{GEODNS} diff {old} {new} --config {conf} --fail-on-change | wc -l")
    assert changed.returncode == 1
    same = sh(f"{GEODNS} diff {old} {old} --config {conf} --fail-on-change")
    assert (same.returncode, same.stdout) == (0, "no changes\n")
    records_only = new / "b.example.yaml"
    records_only.write_text(records_only.read_text().replace("192.0.2.1", "192.0.2.11"))
    (new / "a.example.yaml").write_text((old / "a.example.yaml").read_text())
    (new / "c.example.yaml").unlink()
    moved_nothing = sh(f"{GEODNS} diff {old} {new} --config {conf} --fail-on-change --json")
    assert moved_nothing.returncode == 0, moved_nothing.stderr
    assert json.loads(moved_nothing.stdout)["routing"] == []
    assert [e["path"] for e in json.loads(moved_nothing.stdout)["records"]] == ["pools.eu"]


def test_a_broken_zone_is_an_error_not_a_diff(dirs) -> None:
    old, new, conf = dirs
    (new / "a.example.yaml").write_text(
        "zone: a.example.\nns: [ns1.a.example.]\nrecords:\n  www: {geo: {default: nowhere}}\n"
    )
    out = sh(f"{GEODNS} diff {old} {new} --config {conf} --fail-on-change")
    assert out.returncode == 2
    assert f"{new / 'a.example.yaml'}:4: unknown pool 'nowhere'" in out.stderr
    missing = sh(f"{GEODNS} diff {old} {new / 'nothing-here'} --config {conf}")
    assert missing.returncode == 2 and "nothing-here" in missing.stderr


def test_lint_on_the_example_zones(dirs) -> None:
    """zones/gslb.example.com.yaml as read by hand: www sends every continent but EU (and
    Japan) to us-east; db and shop's EU branch fail over between unchecked pools."""
    conf = dirs[2]
    out = sh(f"{GEODNS} lint {REPO / 'zones'} --config {conf} --json")
    assert out.returncode == 1, out.stderr  # warnings
    found = {(f["name"], f["kind"], f.get("path"), f["severity"]) for f in json.loads(out.stdout)}
    assert found == {
        ("www.gslb.example.com.", "default-fallthrough", "geo", "info"),
        ("shop.gslb.example.com.", "default-fallthrough", "geo", "info"),
        ("db.gslb.example.com.", "unchecked-failover", "failover", "warning"),
        ("db.gslb.example.com.", "never-chosen", "failover", "warning"),
        ("shop.gslb.example.com.", "unchecked-failover", "geo[0].failover", "warning"),
        ("shop.gslb.example.com.", "never-chosen", "geo[0].failover", "warning"),
    }
    www = next(f for f in json.loads(out.stdout) if f["name"] == "www.gslb.example.com.")
    assert www["continents"] == ["AF", "AN", "AS", "NA", "OC", "SA"]
    # the fixture's countries outside Europe, but Japan (tests/data/make_mmdb.py NETWORKS)
    assert www["countries"] == ["AQ", "AU", "BR", "CA", "SG", "US", "ZA"]
    assert www["to"] == "us-east"
    text = sh(f"{GEODNS} lint {REPO / 'zones'} --config {conf}")
    assert "db.gslb.example.com. never-chosen: failover: eu-west can never be chosen" in text.stdout


def test_lint_finds_weights_of_zero_and_unused_pools(tmp_path: Path, dirs) -> None:
    checked = {"type": "tcp", "port": 80}
    doc = {
        "zone": "l.example.",
        "ns": ["ns1.l.example."],
        "pools": {
            "a": {"addresses": ["192.0.2.1"], "check": checked},
            "b": {"addresses": ["192.0.2.2"], "check": checked},
            "spare": {"addresses": ["192.0.2.3"], "check": checked},
            "unused": {"addresses": ["192.0.2.4"]},
        },
        "records": {
            "ns1": {"A": "192.0.2.53"},
            "w": {"weighted": {"a": 1, "spare": 0}},
            "v": {"weighted": {"b": 1, "spare": 0}},
            "f": {"failover": ["a", "b"]},
            "g": {"geo": {"continent:EU": "a"}},
        },
    }
    path = tmp_path / "l.example.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = sh(f"{GEODNS} lint {path} --config {dirs[2]} --json")
    assert out.returncode == 1
    found = {(f["name"], f["kind"], f["severity"]) for f in json.loads(out.stdout)}
    assert found == {
        ("w.l.example.", "zero-weight", "warning"),
        ("v.l.example.", "zero-weight", "warning"),
        ("l.example.", "never-chosen", "warning"),  # pool unused
        ("g.l.example.", "default-fallthrough", "warning"),  # no default: NODATA
    }
    del doc["pools"]["unused"], doc["records"]["g"], doc["records"]["v"]
    doc["records"]["w"] = {"weighted": {"a": 1, "spare": 1}}
    path.write_text(yaml.safe_dump(doc))
    clean = sh(f"{GEODNS} lint {path} --config {dirs[2]}")
    assert clean.returncode == 0, clean.stdout
    assert clean.stdout.strip().endswith("0 finding(s), 0 warning(s) in 1 zone(s)")
