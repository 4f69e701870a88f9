"""The one line a successful reload logs: which zones changed, their serials, the generation."""

from __future__ import annotations

from typing import Any

MAX_NAMED = 5  # zones named per kind of change; the rest are counted


def reload_line(previous: dict[Any, Any], current: dict[Any, Any], generation: str) -> str:
    """`previous`/`current`: origin -> Zone (origin_text, serial) before and after the swap.

    e.g. `reload ok: 3 zones; changed a.test. 5->6; added b.test. (7); removed c.test.;
    generation 1f2e...`, or `reload ok: 3 zones; nothing changed; generation ...`.
    """
    changed = [
        f"{z.origin_text} {previous[o].serial}->{z.serial}"
        for o, z in current.items()
        if o in previous and previous[o].serial != z.serial
    ]
    added = [f"{z.origin_text} ({z.serial})" for o, z in current.items() if o not in previous]
    removed = [z.origin_text for o, z in previous.items() if o not in current]
    parts = [f"{len(current)} zone{'' if len(current) == 1 else 's'}"]
    for word, items in (("changed", changed), ("added", added), ("removed", removed)):
        if items:
            more = f" and {len(items) - MAX_NAMED} more" if len(items) > MAX_NAMED else ""
            parts.append(f"{word} {', '.join(items[:MAX_NAMED])}{more}")
    if len(parts) == 1:
        parts.append("no serial changed")
    return f"reload ok: {'; '.join(parts)}; generation {generation[:12] or '-'}"
