"""The policy registry: a new policy is one module + one REGISTRY entry, and `reads` says what
a tree's decision depends on, so the table and the caches need not know any policy by name."""

from __future__ import annotations

import random
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.message
import dns.rdatatype
import pytest

from geodns import cli, policies
from geodns.errors import ZoneError
from geodns.model import AllUp
from geodns.policies import base
from geodns.zones import zonefile
from tests.servers import ServerThread, write_config

HEAD = (
    "zone: first.test.\nttl: 60\nns: [ns1.first.test.]\n"
    "pools:\n  a: {addresses: [192.0.2.10]}\n  b: {addresses: [192.0.2.20]}\n"
    "records:\n  ns1: {A: 192.0.2.1}\n"
)
FIRST_ZONE = HEAD + "  www: {first: [b, a]}\n"


@dataclass(frozen=True, slots=True)
class First:
    """The fake policy's node: always the first child, whatever its health."""

    members: tuple[Any, ...]
    options: base.Options

    @property
    def reads(self) -> frozenset[str]:
        return base.rotation(self.options)

    def children(self) -> tuple[Any, ...]:
        return self.members

    def resolve(self, client, health, rng, trace) -> base.Decision:
        if trace is not None:
            trace.append("first: took the first child")
        return policies.resolve(self.members[0], client, health, rng, trace)


def _parse_first(raw, options, where, ctx, parse_node, depth) -> First | None:
    body = raw["first"]
    if not isinstance(body, list) or not body:
        ctx.problems.add(where, "first: must be a non-empty list")
        return None
    children = [parse_node(item, where, ctx, depth + 1) for item in body]
    return None if None in children else First(tuple(children), options)


def _fake_module() -> types.ModuleType:
    fake = types.ModuleType("first")
    fake.KEY = "first"  # type: ignore[attr-defined]
    fake.OPTIONS = ()  # type: ignore[attr-defined]
    fake.parse = _parse_first  # type: ignore[attr-defined]
    return fake


@pytest.fixture
def first_policy(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """Register the fake policy through the registry alone, nothing else."""
    fake = _fake_module()
    monkeypatch.setitem(policies.REGISTRY, fake.KEY, fake)
    return fake


def _load(text: str):
    """Load a zone as `geodns check` does (the loader learns policy keys from the registry)."""
    return zonefile.load_text(text, "first.test.yaml")


def test_a_registered_policy_is_known_to_the_key_lists(first_policy) -> None:
    assert {"first", "max_answers", "when_all_down", "sticky", "rtt"} <= policies.node_keys()


def test_registry_entries_are_undone_with_the_key_lists(monkeypatch) -> None:
    fake = _fake_module()
    fake.OPTIONS = ("shuffle",)  # type: ignore[attr-defined]
    monkeypatch.setitem(policies.REGISTRY, "first", fake)
    assert {"first", "shuffle"} <= policies.node_keys()
    monkeypatch.undo()
    assert not {"first", "shuffle"} & policies.node_keys()


def test_nested_policies_dispatch_through_the_registry(first_policy) -> None:
    zone = _load(HEAD + "  www: {failover: [{first: [b, a]}, a]}\n")
    node = next(iter(zone.policies.values()))
    assert isinstance(node.members[0], First)
    assert [p.name for p in policies.walk_pools(node)] == ["b", "a", "a"]


def test_an_unknown_policy_names_every_registered_one(first_policy) -> None:
    with pytest.raises(ZoneError) as info:
        zonefile.load_text(HEAD + "  www: {failover: [{nosuch: [a]}]}\n", "z.yaml")
    assert "give exactly one of geo, latency, weighted, failover, first" in str(info.value)


def test_check_rejects_a_policy_that_is_not_registered(tmp_path: Path, capsys) -> None:
    path = tmp_path / "first.test.yaml"
    path.write_text(FIRST_ZONE)
    assert cli.main(["check", str(path)]) == 1
    assert "unknown record type or key 'first'" in capsys.readouterr().err


def test_check_accepts_it_once_registered(tmp_path: Path, first_policy, capsys) -> None:
    path = tmp_path / "first.test.yaml"
    path.write_text(FIRST_ZONE)
    _load(FIRST_ZONE)
    assert cli.main(["check", str(path)]) == 0
    assert "ok: first.test." in capsys.readouterr().out


def test_a_server_answers_from_the_pool_the_fake_policy_picks(tmp_path: Path, first_policy):
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "first.test.yaml").write_text(FIRST_ZONE)
    _load(FIRST_ZONE)
    # in a thread of this process; with GEODNS_TEST_WORKERS=2 the workers are forked from
    # it, so they inherit the patched registry
    server = ServerThread(write_config(tmp_path, zones, dns={"listen": ["127.0.0.1:0"]}))
    server.start()
    try:
        for _ in range(3):  # uncached, then from whatever cache the server keeps
            reply = server.udp(dns.message.make_query("www.first.test.", "A"))
            found = {rd.address for rrset in reply.answer for rd in rrset}
            assert found == {"192.0.2.20"}
            assert reply.answer[0].rdtype == dns.rdatatype.A
    finally:
        server.stop()


def _node(body: str) -> Any:
    zone = zonefile.load_text(HEAD + f"  www: {body}\n", "z.yaml")
    return next(iter(zone.policies.values()))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{geo: {country:GB: a, default: b}}", {"facts"}),
        ("{geo: {cidr:10.0.0.0/8: a, default: b}}", {"facts", "address"}),
        ("{weighted: {a: 1, b: 2}}", {"random"}),
        ("{weighted: {a: 1, b: 2}, sticky: true}", {"address"}),
        ("{failover: [a, b]}", set()),
        ("{failover: [a, b], max_answers: 1}", {"rotation"}),
        ("{geo: {default: a}, max_answers: 2}", {"facts", "rotation"}),
        (
            "{failover: [{geo: {cidr:10.0.0.0/8: a, default: b}}, {weighted: {a: 1}}]}",
            {"facts", "address", "random"},  # both children's, and nothing of its own
        ),
    ],
)
def test_reads_is_the_union_over_the_tree(body: str, expected: set[str]) -> None:
    assert policies.reads(_node(body)) == expected


def test_latency_reads_facts_and_address_and_a_pool_reads_nothing() -> None:
    """The address too: RTTs measured per client network may split a GeoIP network."""
    text = HEAD.replace("[192.0.2.10]}", "[192.0.2.10], location: {lat: 51.5, lon: -0.1}}")
    text = text.replace("[192.0.2.20]}", "[192.0.2.20], location: {lat: 40.7, lon: -74.0}}")
    zone = zonefile.load_text(text + "  www: {latency: [a, b]}\n", "z.yaml")
    node = next(iter(zone.policies.values()))
    assert policies.reads(node) == {"facts", "address"}
    assert policies.reads(node.members[0]) == frozenset()


def test_the_fake_nodes_reads_reach_the_tree(first_policy) -> None:
    node = _load(HEAD + "  www: {first: [{weighted: {a: 1}}, a], max_answers: 1}\n")
    tree = next(iter(node.policies.values()))
    assert policies.reads(tree) == {"random", "rotation"}
    decision = policies.resolve(tree, None, AllUp(), random.Random(1), trace := [])
    assert decision.pool is not None and decision.pool.name == "a"
    assert trace[0] == "first: took the first child"
