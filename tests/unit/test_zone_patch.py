"""PATCH semantics (zones/patch.py) and the checked document's problem paths (document.py)."""

from __future__ import annotations

from geodns.zones import document, patch

ZONE = "api.test."
DOC = {
    "zone": ZONE,
    "ns": ["ns1.api.test."],
    "pools": {"eu": {"addresses": ["192.0.2.10"]}, "us": {"addresses": ["198.51.100.10"]}},
    "records": {
        "ns1": {"A": "192.0.2.53"},
        "mixed.api.test.": {"A": ["192.0.2.1"], "TXT": ["hello"], "ttl": 300},
        "www": {"failover": ["eu", "us"]},
    },
}


def rr(name: str, rtype: str, contents: list[str], change: str = "REPLACE", **kw) -> dict:
    body = {"name": name, "type": rtype, "changetype": change, **kw}
    return {**body, "records": [{"content": c} for c in contents]}


def test_rrsets_replace_and_delete_by_owner_however_written() -> None:
    body = {
        "rrsets": [
            rr("new.api.test.", "A", ["192.0.2.7", "192.0.2.8"], ttl=60),
            rr("mixed.api.test.", "txt", [], "DELETE"),
            rr("ns1.api.test.", "AAAA", ["2001:db8::53"]),
            rr("api.test.", "MX", ["10 mail.api.test."]),
        ]
    }
    new, problems = patch.apply(DOC, body, ZONE)
    assert problems == []
    records = new["records"]
    assert records["new"] == {"A": ["192.0.2.7", "192.0.2.8"], "ttl": 60}
    assert records["mixed.api.test."] == {"A": ["192.0.2.1"], "ttl": 300}  # the key kept
    assert records["ns1"] == {"A": "192.0.2.53", "AAAA": ["2001:db8::53"]}
    assert records["@"] == {"MX": ["10 mail.api.test."]}
    assert DOC["records"]["mixed.api.test."]["TXT"] == ["hello"]  # the original untouched
    gone, _ = patch.apply(new, {"rrsets": [rr("new.api.test.", "A", [], "DELETE")]}, ZONE)
    assert "new" not in gone["records"]  # nothing left at the name: removed


def test_by_name_sections_replace_and_null_removes() -> None:
    body = {
        "pools": {"us": None, "ap": {"addresses": ["203.0.113.1"]}},
        "records": {"www.api.test.": {"failover": ["ap"]}, "ns1": None},
    }
    new, problems = patch.apply(DOC, body, ZONE)
    assert problems == []
    assert set(new["pools"]) == {"eu", "ap"}
    assert new["records"]["www"] == {"failover": ["ap"]} and "ns1" not in new["records"]


def test_bad_patches_name_their_paths() -> None:
    body = {
        "colour": 1,
        "rrsets": [
            {"name": "x.other.", "type": "A", "changetype": "REPLACE", "records": []},
            {"name": "y.api.test.", "type": "A", "changetype": "UPSERT", "records": [], "z": 1},
            {"name": "y.api.test.", "type": "A", "changetype": "REPLACE", "records": ["1.2.3.4"]},
        ],
        "pools": ["not", "a", "mapping"],
    }
    _, problems = patch.apply(DOC, body, ZONE)
    paths = [p["path"] for p in problems]
    assert paths == [
        "colour",
        "pools",
        "rrsets[0].name",
        "rrsets[1].z",
        "rrsets[1].changetype",
        "rrsets[2].records[0]",
    ]


def test_check_reports_every_problem_at_its_path() -> None:
    bad = {
        **DOC,
        "pools": {"eu": {"addresses": ["192.0.2.10", "nope"]}},
        "records": {"www": {"failover": ["eu", "gone"]}, "c": {"CNAME": "www", "A": "192.0.2.1"}},
    }
    zone, problems = document.check(document.to_text(bad), ZONE)
    assert zone is None
    paths = {p["path"] for p in problems}
    assert {"pools.eu.addresses[1]", "records.www.failover[1]", "records.c"} <= paths
    zone, problems = document.check(document.to_text(DOC), "other.test.")
    assert zone is None and problems[0]["path"] == "zone"
    zone, problems = document.check(document.to_text(DOC), ZONE)
    assert problems == [] and zone is not None and zone.origin_text == ZONE


def test_summary_is_one_line() -> None:
    new, _ = patch.apply(DOC, {"pools": {"us": None}, "records": {"new": {"A": "192.0.2.9"}}}, ZONE)
    assert patch.summary(DOC, new) == "records +new; pools -us"
    assert patch.summary(None, DOC) == "zone created" and patch.summary(DOC, None) == "zone deleted"


def test_hostile_bodies_are_refused_not_crashed() -> None:
    for raw, ctype in (
        (b"[" * 100000 + b"]" * 100000, "application/json"),
        (b"a: " + b"[" * 5000 + b"]" * 5000, "application/yaml"),
        (b"\xff\xfe", "application/json"),
        (b"{" + b'"a":{' * 70 + b"}" * 71, "application/json"),
    ):
        try:
            document.parse_body(raw, ctype)
        except document.DocumentError as exc:
            assert exc.problems[0]["path"] == ""
        else:
            raise AssertionError(f"accepted {raw[:20]!r}")


def test_a_yaml_alias_bomb_is_refused_quickly() -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 10):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    try:
        document.parse_body("\n".join(lines).encode(), "application/yaml")
    except document.DocumentError as exc:
        assert "values" in exc.problems[0]["message"]
    else:
        raise AssertionError("a billion laughs accepted")


def test_zone_file_names_stay_in_their_folder() -> None:
    from geodns.zones.store import file_name

    assert file_name("gslb.example.com.") == "gslb.example.com.yaml"
    assert file_name(".") == "root.yaml"
    for hostile in ("/etc/cron.d/evil.", "a/../../b.", "x\\y.", "\x00.", ".hidden."):
        name = file_name(hostile)
        assert "/" not in name and "\\" not in name and "\x00" not in name, name
        assert not name.startswith(".") and ".." not in name.removesuffix(".yaml"), name
