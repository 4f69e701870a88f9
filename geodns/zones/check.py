"""Rules that span records of a zone: CNAME exclusivity, delegations and their glue."""

from __future__ import annotations

from collections.abc import Callable

from geodns import names
from geodns import wire as w
from geodns.errors import Where

ADDRESS_TYPES = (w.T_A, w.T_AAAA)


def _cuts(origin: bytes, rrsets: dict[bytes, dict[int, object]]) -> set[bytes]:
    return {name for name, sets in rrsets.items() if name != origin and w.T_NS in sets}


def _ancestors_in(name: bytes, cuts: set[bytes]) -> list[bytes]:
    """The names in `cuts` that `name` is a proper descendant of (walking up its labels)."""
    out = []
    while name != b"\x00":
        name = name[name[0] + 1 :]
        if name in cuts:
            out.append(name)
    return out


def check_zone(
    origin: bytes,
    zone: dict,
    where_of: dict[bytes, Where],
    add: Callable[[Where, str], None],
) -> None:
    """Report data that cannot coexist; runs after every name parsed on its own.

    Problems come out in name order; names that are fine cost a few dict look-ups.
    """
    rrsets: dict[bytes, dict[int, object]] = zone["rrsets"]
    policies: dict[bytes, object] = zone["policies"]
    found: list[tuple[bytes, str]] = []
    for name, sets in rrsets.items():
        if w.T_CNAME in sets:
            if name == origin:
                found.append((name, "CNAME is not allowed at the zone apex"))
            elif len(sets) > 1 or name in policies:
                found.append((name, "CNAME cannot stand beside other data"))
        if (w.T_A in sets or w.T_AAAA in sets) and name in policies:
            found.append((name, "a policy answers A/AAAA itself; remove the static A/AAAA"))
        if w.T_NS in sets and name.startswith(b"\x01*"):
            found.append((name, "NS records at a wildcard name are not allowed"))
    fallback = Where("?", 0)
    found.sort(key=lambda item: item[0])  # stable: a name's problems keep their order
    for name, message in found:
        add(where_of.get(name, fallback), f"{names.wire_to_text(name)}: {message}")
    _check_delegations(origin, rrsets, policies, where_of, add)


def _check_delegations(origin, rrsets, policies, where_of, add) -> None:
    fallback = Where("?", 0)
    cuts = _cuts(origin, rrsets)
    for name, sets in rrsets.items():
        if w.T_DS in sets and name not in cuts:
            add(
                where_of.get(name, fallback), f"{names.wire_to_text(name)}: DS only at a delegation"
            )
    for cut in cuts:
        at = where_of.get(cut, fallback)
        other = set(rrsets[cut]) - {w.T_NS, w.T_DS}
        if other or cut in policies:
            add(at, f"{names.wire_to_text(cut)}: a delegation point may hold only NS and DS")
        for target in rrsets[cut][w.T_NS].targets:  # type: ignore[attr-defined]
            in_cut = target == cut or names.is_below(target, cut)
            has_addr = any(t in rrsets.get(target, {}) for t in ADDRESS_TYPES)
            if in_cut and not has_addr:
                cut_text, ns_text = names.wire_to_text(cut), names.wire_to_text(target)
                add(at, f"{cut_text}: NS {ns_text} needs glue (A/AAAA)")
    if not cuts:
        return
    for name in set(rrsets) | set(policies):
        for cut in _ancestors_in(name, cuts):
            types = set(rrsets.get(name, {}))
            if name in policies or types - set(ADDRESS_TYPES):
                at = where_of.get(name, fallback)
                add(
                    at,
                    f"{names.wire_to_text(name)}: only glue (A/AAAA) may sit below the "
                    f"delegation {names.wire_to_text(cut)}",
                )
