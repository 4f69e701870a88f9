"""The fleet's HTTP side: GET /api/v1/fleet, guarded drains, and health words for explain."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from geodns import __version__, names
from geodns.fleet import votes
from geodns.fleet.drains import Drain, refusal
from geodns.model import MemberKey, Pool
from geodns.ops.sources import Sources
from geodns.zones.yamlio import parse_duration

log = logging.getLogger("geodns.api")


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def fleet_report(app: Sources) -> dict[str, Any]:
    """Every instance we know of (us first): version, generation, when last heard, how it
    stands on the bus, and the members on which its verdict differs from the quorum."""
    fleet = app.fleet
    tallies = fleet.tallies
    now = time.time()
    rows = [
        {
            "instance": fleet.instance,
            "version": __version__,
            "generation": fleet.generation,
            "last_heard": iso(now),
            "bus": fleet.state(),
            "dissent": votes.dissent(app.board.own_verdicts(), tallies),
        }
    ]
    fresh = {r.instance for r in fleet.fresh_peers()}
    for record in sorted(fleet.peers.values(), key=lambda r: r.instance):
        rows.append(
            {
                "instance": record.instance,
                "version": record.version,
                "generation": record.generation,
                "last_heard": iso(record.at),
                "bus": record.bus if record.instance in fresh else votes.DEGRADED,
                "dissent": votes.dissent(record.verdicts, tallies),
            }
        )
    return {"instances": rows, "state": fleet.state()}


def find_pool(app: Sources, member: MemberKey) -> Pool | None:
    for zt in app.table.zones.values():
        if zt.zone.origin_text == member[0]:
            return zt.zone.pools.get(member[1])
    return None


async def drain(app: Sources, member: MemberKey, drained: bool, request: web.Request) -> Any:
    """Drain or undrain one member everywhere. `by=` names who (default: the caller's
    address), `reason=` says why; a drain below the pool's min_healthy is refused with 409
    unless `force=true`."""
    q = request.query
    pool = find_pool(app, member)
    if pool is None or member not in pool.members():
        return web.json_response({"error": f"no member {'/'.join(member)}"}, status=404)
    force = q.get("force", "").lower() in ("1", "true", "yes")
    if drained and not force:
        why = refusal(pool, member, app.board.is_up)
        if why is not None:
            return web.json_response({"error": why}, status=409)
    try:
        expires = _expires(q.get("expires")) if drained else None
    except ValueError as exc:
        return web.json_response({"error": f"expires: {exc}"}, status=400)
    by = q.get("by") or f"api@{request.remote or 'unknown'}"
    record = Drain(member, by, iso(time.time()), q.get("reason", ""), drained, expires, force)
    stored = await app.fleet.set_drain(record)
    await app.health_synced()  # every worker process has it before we say so
    log.info("%s %s via API (%s)", "drain" if drained else "undrain", "/".join(member), stored)
    body: dict[str, Any] = {"member": list(member), "drained": drained, "stored": stored}
    if drained:
        body.update(by=record.by, at=record.at, reason=record.reason, forced=force)
        body.update(expires=expires)
    return web.json_response(body)


def _expires(text: str | None) -> str | None:
    """`?expires=30m` (any config duration) -> the ISO-8601 time the drain lapses."""
    if not text:
        return None
    seconds = parse_duration(text)
    if seconds <= 0:
        raise ValueError("must be a positive duration such as 30m")
    return iso(time.time() + seconds)


def drains_report(app: Sources) -> dict[str, Any]:
    """GET /api/v1/drains: every drain in force (who, when, why, until when), and whether a
    merge held it back to keep its pool's min_healthy."""
    fleet = app.fleet
    rows = []
    for member, record in sorted(fleet.book.active(time.time()).items()):
        rows.append(
            {
                "member": "/".join(member),
                "zone": member[0],
                "pool": member[1],
                "address": member[2],
                "by": record.by,
                "at": record.at,
                "reason": record.reason,
                "expires": record.expires,
                "forced": record.forced,
                "via": record.writer,
                "held": member in fleet.book.held,
            }
        )
    return {"drains": rows}


def health_words(app: Sources, name: str, pool_name: str | None) -> list[dict[str, Any]]:
    """For explain: each member of the chosen pool, up or not, and where that came from
    (the fleet's quorum with its votes, our own probes, or a drain)."""
    if not pool_name:
        return []
    try:
        wire = names.name_to_wire(name if name.endswith(".") else name + ".").lower()
    except ValueError:
        return []
    zones = [zt.zone for zt in app.table.zones.values() if names.is_below(wire, zt.zone.origin)]
    pool = max(zones, key=lambda z: len(z.origin)).pools.get(pool_name) if zones else None
    out = []
    for member in pool.members() if pool else ():
        tally = app.fleet.tallies.get(member)
        drain = app.fleet.drains.get(member)
        if drain is not None:
            why = f"drained by {drain.by} at {drain.at}: {drain.reason or 'no reason given'}"
        elif tally is not None:
            why = f"fleet quorum: {tally.words()}"
        else:
            why = "own probes" if app.fleet.enabled else "own probes (no fleet)"
        out.append({"address": member[2], "up": app.board.is_up(member), "why": why})
    return out
