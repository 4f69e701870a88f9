"""deploy/prometheus/alerts.yaml under `promtool test rules`: every rule fires on the data
it is for and stays quiet on healthy data or before its `for:` has passed, and the reload
alert still fires 30 minutes after a broken reload (a gauge, not a counter's increase)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

PROM = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
TESTS = ("alerts.test.yaml", "alerts.days.test.yaml")

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing")


def rules() -> dict[str, dict]:
    groups = yaml.safe_load((PROM / "alerts.yaml").read_text())["groups"]
    return {r["alert"]: r for g in groups for r in g["rules"]}


def cases() -> list[dict]:
    return [
        case
        for name in TESTS
        for test in yaml.safe_load((PROM / name).read_text())["tests"]
        for case in test["alert_rule_test"]
    ]


def promtool(folder: Path, *files: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["promtool", "test", "rules", *(files or TESTS)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )


@needs_promtool
def test_promtool_passes_every_case() -> None:
    result = promtool(PROM)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(TESTS)


def test_every_rule_has_a_firing_and_a_quiet_case() -> None:
    fires = {c["alertname"] for c in cases() if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in cases() if not c.get("exp_alerts")}
    assert fires == set(rules()) and quiet == set(rules())


def test_reload_alerts_read_the_last_result_and_fire_30_minutes_on() -> None:
    for name, kind in (("GeoDNSZoneReloadFailing", "zones"), ("GeoDNSGeoIPReloadFailing", "geoip")):
        assert rules()[name]["expr"] == f'geodns_reload_last_success{{kind="{kind}"}} == 0'
        # the broken reload lands at 2m in the input; the case 30 minutes on still fires
        late = [c for c in cases() if c["alertname"] == name and c.get("exp_alerts")]
        assert [c["eval_time"] for c in late] == ["32m"]


def mutated(tmp_path: Path, old: str, new: str) -> subprocess.CompletedProcess:
    """promtool on the test files against an alerts.yaml with one change."""
    for name in TESTS:
        shutil.copy(PROM / name, tmp_path / name)
    text = (PROM / "alerts.yaml").read_text()
    assert text.count(old) == 1, old
    (tmp_path / "alerts.yaml").write_text(text.replace(old, new))
    days = "GeoIPDatabaseOld" in new or "86400" in new
    return promtool(tmp_path, TESTS[1] if days else TESTS[0])


@needs_promtool
@pytest.mark.parametrize(
    ("old", "new", "case"),
    [
        # the counter-based reload rule this replaced: quiet again 15 minutes on
        (
            'expr: geodns_reload_last_success{kind="zones"} == 0',
            'expr: increase(geodns_reload_last_success{kind="zones"}[15m]) < 0',
            "GeoDNSZoneReloadFailing",
        ),
        (
            "/ sum by (job, instance) (rate(geodns_queries_total[5m])) > 0.01",
            "/ sum by (job, instance) (rate(geodns_queries_total[5m])) >= 0.01",
            "GeoDNSServfailRatioHigh",
        ),
        ("for: 30m", "for: 15m", "GeoDNSMemberDownLong"),
        ("/ 86400 > 35", "/ 86400 > 37", "GeoDNSGeoIPDatabaseOld"),
    ],
    ids=["reload-by-increase", "servfail-at-1pct", "member-down-15m", "geoip-37-days"],
)
def test_the_cases_bite(tmp_path: Path, old: str, new: str, case: str) -> None:
    result = mutated(tmp_path, old, new)
    said = result.stdout + result.stderr
    assert result.returncode != 0 and f"alertname: {case}" in said, said
