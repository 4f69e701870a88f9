"""Importers on bad and odd input: what they cannot map is listed (never dropped silently),
what they cannot read is an error (exit 1), and whatever they print loads as a zone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from geodns import cli
from geodns.importers import convert
from geodns.importers.report import ImportFailed
from geodns.zones import load

ZONE = "example.com."
SOA = {
    "Name": ZONE,
    "Type": "SOA",
    "TTL": 900,
    "ResourceRecords": [
        {"Value": "ns1.example.com. hostmaster.example.com. 1 7200 900 1209600 86400"}
    ],
}


def a(name: str, value: str, **kw) -> dict:
    return {
        "Name": f"{name}.{ZONE}",
        "Type": "A",
        "TTL": 60,
        "ResourceRecords": [{"Value": value}],
        **kw,
    }


def write(tmp: Path, name: str, data) -> Path:
    path = tmp / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def loads(tmp: Path, text: str) -> dict:
    """The real loader takes the document (raises with file:line otherwise)."""
    path = tmp / "out.yaml"
    path.write_text(text)
    load.load_paths([str(path)])
    return yaml.safe_load(text)


def r53(tmp: Path, sets: list, health: list | None = None, **extra):
    path = write(tmp, "r.json", {"ResourceRecordSets": [SOA, *sets], **extra})
    opts = {}
    if health is not None:
        opts["health"] = str(write(tmp, "h.json", {"HealthChecks": health}))
    text, report = convert("route53", str(path), **opts)
    return loads(tmp, text), report


def hc(kind: str, **cfg) -> dict:
    return {"Id": "hc1", "HealthCheckConfig": {"Type": kind, **cfg}}


@pytest.mark.parametrize(
    ("sets", "health", "listed"),
    [
        ([a("x", "192.0.2.1", Bogus=1)], None, "x.example.com. A: field Bogus has no geodns"),
        (
            [a("x", "192.0.2.1", SetIdentifier="a", Failover="PRIMARY", HealthCheckId="hc1")],
            None,
            "health check hc1: pass --health",
        ),
        (
            [a("x", "192.0.2.1", SetIdentifier="a", Failover="PRIMARY", HealthCheckId="hc1")],
            [hc("CLOUDWATCH_METRIC", AlarmIdentifier={"Region": "us-east-1", "Name": "n"})],
            "type CLOUDWATCH_METRIC watches no endpoint",
        ),
        (
            [a("x", "192.0.2.1", SetIdentifier="a", Failover="PRIMARY", HealthCheckId="hc1")],
            [hc("HTTP", IPAddress="192.0.2.1", Inverted=True)],
            "inverted checks",
        ),
        (
            [a("x", "192.0.2.1", SetIdentifier="a", Region="xx-nowhere-1")],
            None,
            "AWS region 'xx-nowhere-1' is not in geodns's region table",
        ),
        (
            [
                a(
                    "x",
                    "192.0.2.1",
                    SetIdentifier="a",
                    GeoLocation={"CountryCode": "US", "SubdivisionCode": "ZZ"},
                )
            ],
            None,
            "not a place geodns's GeoIP data names",
        ),
        (
            [
                a(
                    "x",
                    "192.0.2.1",
                    SetIdentifier="a",
                    CidrRoutingConfig={"CollectionId": "c", "LocationName": "hq"},
                )
            ],
            None,
            "CIDR location 'hq': pass --cidr",
        ),
        (
            [a("x", "192.0.2.1", SetIdentifier="a", TrafficPolicyInstanceId="t")],
            None,
            "field TrafficPolicyInstanceId",
        ),
        (
            [
                {
                    "Name": f"x.{ZONE}",
                    "Type": "TXT",
                    "TTL": 60,
                    "SetIdentifier": "a",
                    "Weight": 1,
                    "ResourceRecords": [{"Value": '"t"'}],
                }
            ],
            None,
            "geodns routes A and AAAA only",
        ),
    ],
)
def test_route53_lists_what_it_cannot_map(tmp_path, sets, health, listed) -> None:
    _, report = r53(tmp_path, sets, health)
    assert any(listed in line for line in report.unmapped), report.unmapped
    assert report.exit_code == 2


def test_route53_unknown_top_level_field_is_listed(tmp_path) -> None:
    _, report = r53(tmp_path, [], NextMarker="x")
    assert report.unmapped == [
        f"not mapped: {tmp_path / 'r.json'}: top-level field NextMarker not understood"
    ]


def test_route53_disabled_check_is_no_check_and_said(tmp_path) -> None:
    sets = [a("x", "192.0.2.1", SetIdentifier="a", Failover="PRIMARY", HealthCheckId="hc1")]
    doc, report = r53(tmp_path, sets, [hc("HTTP", IPAddress="192.0.2.1", Disabled=True)])
    assert "check" not in doc["pools"]["x-a"]
    assert report.exit_code == 0 and "Route 53 counts it healthy" in report.notes[0]


def test_route53_all_zero_weights_share_equally(tmp_path) -> None:
    sets = [
        a("x", "192.0.2.1", SetIdentifier="a", Weight=0),
        a("x", "192.0.2.2", SetIdentifier="b", Weight=0),
    ]
    doc, report = r53(tmp_path, sets)
    assert doc["records"]["x"] == {"weighted": {"x-a": 1, "x-b": 1}}
    assert report.exit_code == 0


@pytest.mark.parametrize(
    ("fmt", "name", "text", "why"),
    [
        ("route53", "r.json", "{not json", "r.json"),
        ("route53", "r.json", '{"ResourceRecordSets": [{"Type": "A"}]}', "expected list-resource"),
        (
            "route53",
            "r.json",
            json.dumps({"ResourceRecordSets": [a("x", "192.0.2.1")]}),
            "no SOA record set to name the zone",
        ),
        ("bind", "z.zone", "$ORIGIN example.com.\n@ IN A not-an-address\n", "z.zone"),
        ("bind", "z.zone", "@ 300 IN A 192.0.2.1\n", "no $ORIGIN"),
        ("clouddns", "c.json", "[1, 2]", "expected Cloud DNS record sets"),
        ("azure-tm", "p.json", "{}", "--zone"),
    ],
)
def test_unreadable_input_is_an_error(tmp_path, fmt, name, text, why) -> None:
    with pytest.raises(ImportFailed, match=None) as err:
        convert(fmt, str(write(tmp_path, name, text)))
    assert why in str(err.value)


def test_an_option_the_format_does_not_take_is_an_error(tmp_path, capsys) -> None:
    path = write(tmp_path, "z.zone", "$ORIGIN example.com.\n@ 300 IN A 192.0.2.1\n")
    assert cli.main(["import", "bind", str(path), "--health", str(path)]) == 1
    assert "--health means nothing to the bind format" in capsys.readouterr().err


def test_exit_0_when_everything_maps(tmp_path, capsys) -> None:
    path = write(
        tmp_path, "z.zone", "$ORIGIN example.com.\n$TTL 300\n@ IN NS ns1\nns1 IN A 192.0.2.1\n"
    )
    assert cli.main(["import", "bind", str(path)]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    assert loads(tmp_path, out.out)["records"] == {"ns1": {"A": "192.0.2.1"}}


def test_clouddns_udp_load_balancer_and_unknown_region(tmp_path) -> None:
    ilb = {"ipAddress": "10.0.0.5", "port": "53", "ipProtocol": "udp"}
    items = [
        {
            "name": ZONE,
            "type": "SOA",
            "ttl": 300,
            "rrdatas": ["ns1.example.com. h.example.com. 1 2 3 4 5"],
        },
        {
            "name": f"x.{ZONE}",
            "type": "A",
            "ttl": 30,
            "routingPolicy": {
                "geo": {
                    "items": [
                        {
                            "location": "us-east1",
                            "healthCheckedTargets": {"internalLoadBalancers": [ilb]},
                        },
                        {"location": "mars-north1", "rrdatas": ["192.0.2.9"], "bogus": 1},
                    ]
                }
            },
        },
    ]
    text, report = convert("clouddns", str(write(tmp_path, "c.json", items)))
    doc = loads(tmp_path, text)
    assert "check" not in doc["pools"]["x-us-east1"]
    assert any("UDP not probed" in line for line in report.unmapped)
    assert any("'mars-north1' is not in geodns's region table" in u for u in report.unmapped)
    assert any("geo item.bogus not understood" in u for u in report.unmapped)


def test_azure_unknown_method_and_min_child_endpoints(tmp_path) -> None:
    def prof(name, method, endpoints, **kw):
        return {
            "name": name,
            "type": "Microsoft.Network/trafficManagerProfiles",
            "properties": {
                "trafficRoutingMethod": method,
                "endpoints": endpoints,
                "dnsConfig": {"relativeName": name, "ttl": 30},
                **kw,
            },
        }

    ext = {
        "name": "e",
        "type": "Microsoft.Network/trafficManagerProfiles/externalEndpoints",
        "properties": {"target": "192.0.2.1", "priority": 1},
    }
    nested = {
        "name": "n",
        "type": "Microsoft.Network/trafficManagerProfiles/nestedEndpoints",
        "properties": {
            "targetResourceId": "/x/trafficManagerProfiles/child",
            "minChildEndpoints": 2,
            "priority": 2,
        },
    }
    profiles = [
        prof("top", "Priority", [ext, nested]),
        prof("child", "Priority", [{**ext, "name": "c"}]),
        prof("odd", "Fastest", [{**ext, "name": "o"}], newSetting=1),
    ]
    text, report = convert("azure-tm", str(write(tmp_path, "p.json", profiles)), zone=ZONE)
    doc = loads(tmp_path, text)
    assert doc["records"]["top"] == {"failover": ["top-e", {"failover": ["top-c"]}]}
    assert "odd" not in doc["records"]
    left = "\n".join(report.unmapped)
    assert "minChildEndpoints 2" in left
    assert "routing method 'Fastest' not understood" in left
    assert "field newSetting not understood" in left


def test_a_steered_names_ttl_wins_and_the_rest_is_noted(tmp_path) -> None:
    """One TTL per name: the policy's (it bounds how fast answers move), the others noted."""
    txt = {"Name": f"www.{ZONE}", "Type": "TXT", "TTL": 300, "ResourceRecords": [{"Value": '"t"'}]}
    mx = {**txt, "Type": "MX", "ResourceRecords": [{"Value": "10 mx.example.com."}]}
    doc, report = r53(tmp_path, [txt, mx, a("www", "192.0.2.1", SetIdentifier="a", Weight=1)])
    assert doc["records"]["www"]["ttl"] == 60
    assert report.notes[0] == "note: www: TTLs 300 become 60 (one TTL per name)"
    assert report.exit_code == 0


def test_route53_cidr_collections_are_told_apart(tmp_path) -> None:
    """list-cidr-blocks' output names no collection: a plain FILE serves a zone routing by
    one collection; with two, each FILE needs its ID= (else the sets are listed)."""

    def cidr(name: str, coll: str) -> dict:
        return a(
            name,
            "192.0.2.1",
            SetIdentifier="in",
            CidrRoutingConfig={"CollectionId": coll, "LocationName": "hq"},
        )

    blocks = {"CidrBlocks": [{"CidrBlock": "81.2.69.0/24", "LocationName": "hq"}]}
    other = {"CidrBlocks": [{"CidrBlock": "1.0.16.0/20", "LocationName": "hq"}]}
    records = write(
        tmp_path, "r.json", {"ResourceRecordSets": [SOA, cidr("x", "c1"), cidr("y", "c2")]}
    )
    one, two = write(tmp_path, "c1.json", blocks), write(tmp_path, "c2.json", other)
    _, report = convert("route53", str(records), cidr=[str(one)])
    assert len(report.unmapped) == 2
    assert "several collections here: give --cidr c1=FILE" in report.unmapped[0]
    text, report = convert("route53", str(records), cidr=[f"c1={one}", f"c2={two}"])
    doc = loads(tmp_path, text)
    assert report.unmapped == []
    assert doc["records"]["x"]["geo"] == {"cidr:81.2.69.0/24": "x-in"}
    assert doc["records"]["y"]["geo"] == {"cidr:1.0.16.0/20": "y-in"}
