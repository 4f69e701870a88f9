"""The Pulumi provider's methods (check, diff with dry_run, create, update, delete, read)
against a running geodns: through the plain logic classes and, where `pulumi` is
installed, through its dynamic ResourceProvider classes as the engine would call them."""

from __future__ import annotations

import copy

import dns.message
import dns.query
import pytest

from geodns.integrations.client import ApiError
from geodns.integrations.pulumi import PolicyLogic, RecordLogic, ZoneLogic
from tests.integrations.kit import WRITE_TOKEN, ZONE, serve

NEW_ZONE = "pul.test."
DOCUMENT = {
    "zone": NEW_ZONE,
    "ttl": 60,
    "soa": {"mname": "ns1.pul.test.", "rname": "hostmaster.pul.test.", "serial": "auto"},
    "ns": ["ns1.pul.test."],
    "records": {"ns1": {"A": ["192.0.2.53"]}},
}
POLICY = {
    "zone": ZONE,
    "name": "infer",
    "policy": {
        "geo": {"continent:EU": "infer-eu", "continent:AS": "infer-ap", "default": "infer-us"},
        "ttl": 30,
    },
    "pools": {
        "infer-eu": {"addresses": ["192.0.2.110"], "check": "infer-health"},
        "infer-us": {"addresses": ["198.51.100.110"], "check": "infer-health"},
        "infer-ap": {"addresses": ["203.0.113.110"], "check": "infer-health"},
    },
    "checks": {"infer-health": {"type": "http", "port": 8080, "path": "/healthz"}},
}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    s = serve(tmp_path_factory.mktemp("pulumi"), updates=False)
    yield s
    s.server.stop()


def _props(served, extra: dict) -> dict:
    return {"api_url": served.api, "token": WRITE_TOKEN, **extra}


def _answer(served, name: str, rtype: str = "A") -> list[str]:
    reply = dns.query.udp(dns.message.make_query(name, rtype), **served.at, timeout=3)
    return sorted(rr.to_text() for rrset in reply.answer for rr in rrset)


def test_zone_lifecycle(served) -> None:
    logic = ZoneLogic()
    props = _props(served, {"zone": NEW_ZONE, "document": DOCUMENT})
    assert logic.check(props) == []
    zone_id, outs = logic.create(props)
    assert zone_id == NEW_ZONE and outs["version"]
    assert _answer(served, "ns1.pul.test.") == ["192.0.2.53"]
    assert logic.diff(outs, props) == (False, [])  # the dry run: nothing would change
    changed = copy.deepcopy(props)
    changed["document"]["records"]["www"] = {"A": ["192.0.2.80"]}
    assert logic.diff(outs, changed) == (True, [])
    assert logic.diff(outs, {**changed, "zone": "other.test."}) == (True, ["zone"])
    outs = logic.update(outs, changed)
    assert _answer(served, "www.pul.test.") == ["192.0.2.80"]
    assert logic.read(NEW_ZONE, outs)["document"]["records"]["www"] == {"A": ["192.0.2.80"]}
    history = served.history(NEW_ZONE)
    assert history[-1]["who"].endswith("via pulumi")
    broken = copy.deepcopy(props)
    broken["document"]["records"]["bad"] = {"A": ["999.1.1.1"]}
    failures = logic.check(broken)
    assert failures and failures[0][0] == "records.bad.A[0]" and "999.1.1.1" in failures[0][1]
    logic.delete(outs)
    reply = dns.query.udp(dns.message.make_query("www.pul.test.", "A"), **served.at, timeout=3)
    assert reply.rcode() == 5  # REFUSED: no longer our zone


def test_policy_and_record_lifecycle(served) -> None:
    logic = PolicyLogic()
    props = _props(served, POLICY)
    assert logic.check(props) == []
    policy_id, outs = logic.create(props)
    assert policy_id == f"{ZONE}/infer"
    assert _answer(served, f"infer.{ZONE}") == ["198.51.100.110"]  # no GeoIP: default
    assert logic.diff(outs, props) == (False, [])
    fewer = copy.deepcopy(props)
    del fewer["pools"]["infer-ap"]
    del fewer["policy"]["geo"]["continent:AS"]
    assert logic.diff(outs, fewer) == (True, [])
    outs = logic.update(outs, fewer)
    _, doc = _doc(served)
    assert "infer-ap" not in doc["pools"] and "continent:AS" not in doc["records"]["infer"]["geo"]
    dangling = copy.deepcopy(fewer)
    dangling["policy"]["geo"]["continent:OC"] = "nowhere"
    assert any("nowhere" in reason for _, reason in logic.check(dangling))
    with pytest.raises(ApiError) as refused:
        logic.update(outs, dangling)
    assert refused.value.status == 422 and refused.value.problems
    logic.delete(outs)
    _, doc = _doc(served)
    assert "infer" not in doc["records"] and "infer-eu" not in (doc.get("pools") or {})
    assert "infer-health" not in (doc.get("checks") or {})

    record = RecordLogic()
    rprops = _props(
        served, {"zone": ZONE, "name": "txt", "type": "TXT", "values": ["hello pulumi"], "ttl": 120}
    )
    _, routs = record.create(rprops)
    assert _answer(served, f"txt.{ZONE}", "TXT") == ['"hello pulumi"']
    assert record.diff(routs, rprops) == (False, [])
    assert record.diff(routs, {**rprops, "values": ["bye"]}) == (True, [])
    assert record.diff(routs, {**rprops, "type": "SPF"})[1] == ["type"]
    record.delete(routs)
    assert _answer(served, f"txt.{ZONE}", "TXT") == []


def _doc(served):
    from tests.e2e.zonekit import call

    status, doc, _ = call(served.server.app.http_bound, "GET", f"/api/v1/zones/{ZONE}")
    return status, doc


def test_pulumi_dynamic_providers(served) -> None:
    pulumi = pytest.importorskip("pulumi", reason="pip install 'geodns[pulumi]'")
    from pulumi import dynamic

    from geodns.integrations.pulumi import PolicyProvider, ZoneProvider

    assert issubclass(ZoneProvider, dynamic.ResourceProvider) and pulumi
    provider = PolicyProvider()
    props = _props(served, {**POLICY, "name": "infer2"})
    checked = provider.check({}, props)
    assert checked.failures == []
    created = provider.create(props)
    assert created.id == f"{ZONE}/infer2"
    assert provider.diff(created.id, created.outs, props).changes is False
    bad = copy.deepcopy(props)
    bad["pools"]["infer-eu"]["addresses"] = ["not-an-address"]
    failures = provider.check(created.outs, bad).failures
    assert failures and failures[0].property == "pools.infer-eu.addresses[0]"
    provider.delete(created.id, created.outs)
    zone = ZoneProvider().read(ZONE, _props(served, {}))
    assert "infer2" not in zone.outs["document"]["records"]


def test_the_documented_program_runs_against_a_server(served) -> None:
    """docs/automation.md's Pulumi program, its resources driven through the logic (no
    Pulumi engine here): the zone is created and the inference name answers."""
    import re
    import types
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "automation.md").read_text()
    program = re.search(r'```python\n("""__main__.py.*?)```', text, re.S).group(1)
    made: dict[str, dict] = {}

    def resource(logic):
        def make(name, *, opts=None, **kw):
            props = {"api_url": kw.pop("api_url"), "token": kw.pop("token", None), **kw}
            if "record_name" in props:
                props["name"] = props.pop("record_name")
            _, outs = logic.create(props)
            made[name] = outs
            return types.SimpleNamespace(**outs)

        return make

    fake = types.ModuleType("pulumi")
    fake.Config = lambda _: types.SimpleNamespace(
        get=lambda key: served.api, require_secret=lambda key: WRITE_TOKEN
    )
    fake.ResourceOptions = lambda **kw: kw
    fake.export = lambda *a: None
    program = program.replace("import pulumi\n", "").replace(
        "from geodns.integrations.pulumi import Policy, Record, Zone\n", ""
    )
    scope = {
        "pulumi": fake,
        "Zone": resource(ZoneLogic()),
        "Policy": resource(PolicyLogic()),
        "Record": resource(RecordLogic()),
    }
    exec(compile(program, "automation.md", "exec"), scope)
    assert set(made) == {"ml-zone", "inference", "status-txt"}
    answer = _answer(served, "infer.ml.example.com.")
    assert answer and set(answer) <= {"192.0.2.10", "198.51.100.10", "203.0.113.10"}
    assert _answer(served, "_status.ml.example.com.", "TXT") == ['"managed by pulumi"']
    ZoneLogic().delete(made["ml-zone"])
