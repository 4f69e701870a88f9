"""Route 53 routing kinds -> geodns policy nodes, one builder each (route53.py groups the
record sets of a name into pools and calls the builder of their kind).

Each builder takes the context, the first record set of each SetIdentifier and the pool
made for it (None when the set had no usable address), and gives a node or None.
"""

from __future__ import annotations

from typing import Any

from geodns.policies.iso import CONTINENTS, COUNTRIES, is_subdivision


def where(rrset: dict) -> str:
    """How a report names a record set: `name type [SetIdentifier]`."""
    ident = f" [{rrset['SetIdentifier']}]" if "SetIdentifier" in rrset else ""
    return f"{rrset.get('Name')} {rrset.get('Type')}{ident}"


def _geo_key(ctx: Any, rrset: dict) -> str | None:
    loc = rrset["GeoLocation"]
    cont, country, sub = (
        loc.get("ContinentCode"),
        loc.get("CountryCode"),
        loc.get("SubdivisionCode"),
    )
    if country == "*":
        return "default"
    if cont in CONTINENTS and not country:
        return f"continent:{cont}"
    if country in COUNTRIES and sub and is_subdivision(f"{country}-{sub}"):
        return f"subdivision:{country}-{sub}"
    if country in COUNTRIES and not sub:
        return f"country:{country}"
    ctx.report.skip(where(rrset), f"geolocation {loc}: not a place geodns's GeoIP data names")
    return None


def _geo(ctx: Any, sets: dict[str, dict], pools: dict) -> dict | None:
    rules = {}
    for ident, rrset in sets.items():
        key = _geo_key(ctx, rrset)
        if key and pools[ident]:
            rules[key] = pools[ident]
    return {"geo": rules} if rules else None


def _latency(ctx: Any, sets: dict[str, dict], pools: dict) -> dict | None:
    chosen = [pools[i] for i in sets if pools[i] and "location" in ctx.doc.pools[pools[i]]]
    return {"latency": chosen} if chosen else None


def _weighted(ctx: Any, sets: dict[str, dict], pools: dict) -> dict | None:
    weights = {pools[i]: int(s["Weight"]) for i, s in sets.items() if pools[i]}
    if weights and not any(weights.values()):  # Route 53: all zero -> equal shares
        weights = dict.fromkeys(weights, 1)
    return {"weighted": weights} if weights else None


def _failover(ctx: Any, sets: dict[str, dict], pools: dict) -> dict | None:
    order = sorted(sets, key=lambda i: 0 if sets[i]["Failover"] == "PRIMARY" else 1)
    chosen = [pools[i] for i in order if pools[i]]
    return {"failover": chosen} if chosen else None


def _cidr(ctx: Any, sets: dict[str, dict], pools: dict) -> dict | None:
    rules = {}
    for ident, rrset in sets.items():
        config = rrset["CidrRoutingConfig"]
        loc = config.get("LocationName")
        if not pools[ident]:
            continue
        if loc == "*":
            rules["default"] = pools[ident]
            continue
        blocks = _collection(ctx, config.get("CollectionId"))
        if blocks is not None and loc in blocks:
            rules.update({f"cidr:{net}": pools[ident] for net in blocks[loc]})
        else:
            coll = config.get("CollectionId")
            why = "not in --cidr's file" if blocks is not None else "pass --cidr (list-cidr-blocks)"
            if blocks is None and ctx.cidr:
                why = f"several collections here: give --cidr {coll}=FILE"
            ctx.report.skip(where(rrset), f"CIDR location {loc!r}: {why}")
    return {"geo": rules} if rules else None


def _collection(ctx: Any, ident: str | None) -> dict[str, list[str]] | None:
    """A collection's locations: given as ID=FILE, or a plain FILE when the zone routes by
    that one collection only (list-cidr-blocks' output does not say whose blocks they are)."""
    if ident in ctx.cidr:
        return ctx.cidr[ident]
    return ctx.cidr.get(None) if len(ctx.collections) == 1 else None


BUILDERS: dict[str, Any] = {
    "GeoLocation": _geo,
    "Region": _latency,
    "GeoProximityLocation": _latency,
    "Weight": _weighted,
    "Failover": _failover,
    "CidrRoutingConfig": _cidr,
}
