"""geo: the most specific matching branch wins: cidr > asn > subdivision > country > continent."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from geodns.model import FAMILY_V4
from geodns.policies import base, iso
from geodns.policies.iso import CONTINENTS, COUNTRIES

KEY = "geo"
OPTIONS: tuple[str, ...] = ()

_SUBDIVISION = re.compile(r"^([A-Z]{2})-([A-Z0-9]{1,3})$")


@dataclass(frozen=True, slots=True)
class Rule:
    label: str  # "country:GB", for traces
    child: Any


@dataclass(frozen=True, slots=True)
class Cidr:
    family: int
    network: int
    prefix: int
    rule: Rule


@dataclass(frozen=True, slots=True)
class Geo:
    cidrs: tuple[Cidr, ...]  # longest prefix first
    asn: dict[int, Rule]
    subdivision: dict[str, Rule]
    country: dict[str, Rule]
    continent: dict[str, Rule]
    default: Rule | None
    options: base.Options

    @property
    def reads(self) -> frozenset[str]:
        """GeoFacts always; the address itself too when a cidr rule must be matched."""
        own = {"facts", "address"} if self.cidrs else {"facts"}
        return frozenset(own) | base.rotation(self.options)

    def children(self) -> tuple[Any, ...]:
        rules = [c.rule for c in self.cidrs]
        rules += [*self.asn.values(), *self.subdivision.values(), *self.country.values()]
        rules += [*self.continent.values(), *([self.default] if self.default else [])]
        return tuple(r.child for r in rules)

    @property
    def fields(self) -> frozenset[str]:
        tables = (
            ("asn", self.asn),
            ("subdivision", self.subdivision),
            ("country", self.country),
            ("continent", self.continent),
        )
        return frozenset(name for name, table in tables if table)

    def classify(self, client, sub) -> tuple:
        """The matching rules, most specific first, each with its child's key: resolve()
        takes the first healthy one, so these decide under any health."""
        candidates, _ = self._candidates(client)
        return tuple((rule.label, sub(rule.child)) for rule in candidates)

    def _candidates(self, client) -> tuple[list[Rule], int]:
        facts = client.facts
        scope = facts.prefix_len
        found: list[Rule] = []
        if self.cidrs:
            scope = max(scope, self._cidr_matches(client, found))
        for table, key in (
            (self.asn, facts.asn),
            (self.subdivision, facts.subdivision),
            (self.country, facts.country),
            (self.continent, facts.continent),
        ):
            if key is not None and table:
                rule = table.get(key)
                if rule is not None:
                    found.append(rule)
        if self.default is not None:
            found.append(self.default)
        return found, scope

    def _cidr_matches(self, client, found: list[Rule]) -> int:
        """Append matching cidr rules; return the prefix over which the matches are constant."""
        bits = 32 if client.family == FAMILY_V4 else 128
        addr = int.from_bytes(client.address, "big")
        scope = 0
        for c in self.cidrs:
            if c.family != client.family:
                continue
            if (addr ^ c.network) >> (bits - c.prefix) == 0 if c.prefix else True:
                found.append(c.rule)
                scope = max(scope, c.prefix)
            else:
                common = bits - (addr ^ c.network).bit_length()
                scope = max(scope, common + 1)
        return min(scope, bits)

    def resolve(self, client, health, rng, trace) -> base.Decision:
        candidates, scope = self._candidates(client)
        if not candidates:
            if trace is not None:
                trace.append("geo: no rule matches and no default: NODATA")
            return base.Decision(None, scope, healthy=False)
        first = spare = None
        for rule in candidates:
            mark = len(trace) if trace is not None else 0
            d = base.resolve_child(rule.child, client, health, rng, trace)
            if d.healthy:
                if trace is not None:  # the parent's step reads before its child's
                    trace.insert(mark, f"geo: matched {rule.label} -> {_name(rule.child)}")
                return base.with_options(d, self.options, scope)
            if trace is not None:
                why = _why_skipped(rule.child, d, health)
                trace.append(f"geo: skipped {rule.label} ({_name(rule.child)}: {why})")
            first = first or (rule, d)
            spare = spare or (d if d.shed else None)
        if spare is not None:  # only shed pools are up: shedding never leaves us with none
            if trace is not None:
                trace.append(f"geo: every match down or shed: {spare.pool.name} over capacity")
            return base.with_options(spare, self.options, scope)
        if self.options.nodata_when_all_down:
            if trace is not None:
                trace.append("geo: every match down, when_all_down nodata")
            return base.Decision(None, scope, healthy=False)
        rule, d = first
        if trace is not None:
            trace.append(f"geo: every match down, failing open to {rule.label}")
        d = base.with_options(d, self.options, scope)
        return base.Decision(d.pool, d.scope, d.ttl, d.max_answers, True, False)


def _name(child: Any) -> str:
    return getattr(child, "name", type(child).__name__.lower())


def _why_skipped(child: Any, d: base.Decision, health: Any) -> str:
    if d.shed and d.pool is not None:
        return "shed" + base.capacity_note(d.pool, health)
    return "all members down"


def _selector(key: str, at, ctx) -> tuple[str, Any] | None:
    """Validate one selector key; returns (kind, normalised value) or None with a problem."""
    if key == "default":
        return ("default", None)
    kind, _, value = key.partition(":")
    kind, value = kind.strip().lower(), value.strip()
    try:
        if kind == "cidr":
            return (kind, ipaddress.ip_network(value, strict=True))
        if kind == "asn" and value.upper().removeprefix("AS").isdigit():
            asn = int(value.upper().removeprefix("AS"))
            if asn < 2**32:
                return (kind, asn)
        if kind == "subdivision":
            m = _SUBDIVISION.match(value.upper())
            if m and m.group(1) in COUNTRIES:
                if iso.is_subdivision(value.upper()):
                    return (kind, value.upper())
                known = ", ".join(iso.subdivision_examples(m.group(1))) or "none"
                ctx.problems.add(at, f"geo: {key!r}: no such ISO 3166-2 subdivision (e.g. {known})")
                return None
        if kind == "country" and value.upper() in COUNTRIES:
            return (kind, value.upper())
        if kind == "continent" and value.upper() in CONTINENTS:
            return (kind, value.upper())
    except ValueError as exc:
        ctx.problems.add(at, f"geo: {key!r}: {exc}")
        return None
    if kind not in ("cidr", "asn", "subdivision", "country", "continent"):
        kinds = "cidr:, asn:, subdivision:, country:, continent:, default"
        ctx.problems.add(at, f"geo: unknown selector {key!r} (known: {kinds})")
    else:
        ctx.problems.add(at, f"geo: {key!r} is not a valid {kind} code")
    return None


def parse(raw: Any, options: base.Options, where, ctx, parse_node, depth: int) -> Geo | None:
    """The `geo:` mapping of selector -> child; None (with problems added) if any is bad."""
    body, where = raw[KEY], base.at(raw, KEY, where)
    if not isinstance(body, dict) or not body:
        ctx.problems.add(where, "geo: empty policy (give at least one selector)")
        return None
    tables: dict[str, dict] = {"asn": {}, "subdivision": {}, "country": {}, "continent": {}}
    cidrs: list[Cidr] = []
    default, ok = None, True
    for key, value in body.items():
        at = base.at(body, key, where)
        sel = _selector(str(key), at, ctx)
        child = parse_node(value, at, ctx, depth + 1)
        if sel is None or child is None:
            ok = False
            continue
        kind, norm = sel
        rule = Rule(str(key) if kind != "cidr" else f"cidr:{norm}", child)
        if kind == "default":
            default = rule
        elif kind == "cidr":
            family = 1 if norm.version == 4 else 2
            cidrs.append(Cidr(family, int(norm.network_address), norm.prefixlen, rule))
        else:
            tables[kind][norm] = Rule(f"{kind}:{norm}", child)
    if not ok:
        return None
    cidrs.sort(key=lambda c: -c.prefix)
    return Geo(
        tuple(cidrs),
        tables["asn"],
        tables["subdivision"],
        tables["country"],
        tables["continent"],
        default,
        options,
    )
