"""`serial: auto` agreed across the fleet: only growing, one serial never naming two contents.

An instance loading content whose serial would not be above every serial it served before
(new content, a rollback, a bucket made again) writes a claim, `serial.<zone>.<claim id>` =
{zone, hash, floor}, floor being one above the largest serial it knows (kept in state_dir).
The bucket's stream orders the claims (its sequence, fixed by the stream's leader even when
compare-and-set is not exact on a replicated stream: nats-server#4320), and every instance
derives the same serials from the same claims: in stream order, serial = max(floor,
previous + 1), except that a claim for content that already has a serial at or above the
claim's floor is passed over: a writer that had not yet seen the first claim (a race, or a
write delayed through a stream leader's election) asked for nothing the content lacks, so
the content keeps its number. A content's serial moves only when a claim needs it higher (a
rollback on an instance that served a later serial). A claim's effect depends only on the
claims before it, so every instance derives the same numbers, and one serial never names two
contents.
Off the bus, new content gets one above the largest kept in state_dir; back on the bus (and
on a bucket made again), an instance whose kept serial is above every claim writes it as a
floor-only claim first, so later claims start above what anyone served.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass

from geodns.fleet.bus import Bus, BusEntry
from geodns.fleet.drains import StateDir
from geodns.fleet.votes import key_part
from geodns.model import Zone

log = logging.getLogger("geodns.fleet")
ECHO_WAIT = 3.0  # how long a claim may take to come back through the watch
OFFLINE_SPREAD = 1024


def next_serial(top: int) -> int:
    """The serial after `top` in RFC 1982 arithmetic (never 0, which some tools treat as unset);
    the zone API's writers (fleet/contentstate.py, ops/zonefiles.py) number versions with it."""
    return (top % (2**32 - 1)) + 1


@dataclass(frozen=True, slots=True)
class Claim:
    revision: int
    content: str  # the content hash; "" for a floor-only claim (a serial served elsewhere)
    floor: int


def serials_of(claims: list[Claim]) -> tuple[dict[str, int], int]:
    """Each content's serial and the largest, from claims in any order (stream order decides).
    A claim whose content already holds a serial at or above its floor changes nothing: two
    writers racing on one content must not number it twice."""
    by_content: dict[str, int] = {}
    top = 0
    for claim in sorted(claims, key=lambda c: c.revision):
        if not claim.content:
            top = max(top, claim.floor)
            continue
        if by_content.get(claim.content, 0) >= claim.floor:
            continue
        top = max(claim.floor, top + 1)
        by_content[claim.content] = top
    return by_content, top


class Serials:
    """The claims seen on the bus (per zone), the largest serial served per zone (kept), and
    the content each zone is served with here (a claim for it may move its serial up)."""

    def __init__(self, local: StateDir) -> None:
        self.local = local
        self.claims: dict[str, dict[str, Claim]] = {}  # zone -> claim key -> claim
        self.top: dict[str, tuple[int, str]] = local.load_serials()  # zone -> (serial, hash)
        self.served: dict[str, str] = {}  # zone -> content hash served here
        self.on_change: list = []  # called when the serial of content served here moved

    def entry(self, entry: BusEntry) -> None:
        """A claim from the bus (deletes are ignored: a claim once seen stays)."""
        parts = entry.key.split(".")
        if entry.deleted or not entry.value or len(parts) != 3:
            return
        raw = json.loads(entry.value)
        zone, content, floor = str(raw["zone"]), str(raw.get("hash", "")), int(raw["floor"])
        if key_part(zone) != parts[1] or not 0 < floor < 2**32:
            raise ValueError(f"claim {entry.key} does not match its zone or floor")
        held = self.claims.setdefault(zone, {})
        if entry.key in held:
            return  # claims are written once: the same one again (a replay) moves nothing
        held[entry.key] = Claim(entry.revision, content, floor)
        if self.served.get(zone) == content:
            for callback in self.on_change:
                callback()

    def forget(self) -> None:
        """A new session re-reads every claim (and a bucket made again has other revisions)."""
        self.claims.clear()

    def _keep(self, zone: str, serial: int, content: str) -> int:
        if serial > self.top.get(zone, (0, ""))[0]:
            self.top[zone] = (serial, content)
            self.local.save_serials(self.top)
        self.served[zone] = content
        return serial

    def offline(self, zone: Zone) -> int:
        """Off the bus: the serial kept for this content, else above the largest kept by a
        step drawn from the content (the content-derived serial when nothing was kept), so
        two instances cut off together rarely give two contents one serial (1 in 1024) and
        give one content the same serial when they kept the same."""
        name, content = zone.origin_text, zone.content_hash
        held = self.top.get(name)
        if held is None:
            return self._keep(name, zone.serial, content)
        if held[1] == content:
            return self._keep(name, held[0], content)
        return self._keep(name, held[0] + 1 + int(content[:8], 16) % OFFLINE_SPREAD, content)

    async def agree(self, bus: Bus, zone: Zone) -> int:
        """The fleet's serial for this zone's content, claiming one when its current one
        would not be above every serial served here before."""
        name, content = zone.origin_text, zone.content_hash
        by_content, _ = serials_of(list(self.claims.get(name, {}).values()))
        held = self.top.get(name)
        serial = by_content.get(content)
        if serial is not None and (held is None or serial >= held[0]):
            return self._keep(name, serial, content)
        floor = zone.serial if held is None else held[0] + 1
        await self._claim(bus, name, {"zone": name, "hash": content, "floor": floor})
        serial = serials_of(list(self.claims[name].values()))[0][content]
        log.info("fleet: zone %s content %s gets serial %d", name, content[:12], serial)
        return self._keep(name, serial, content)

    async def _claim(self, bus: Bus, zone: str, body: dict) -> None:
        """Write a claim and wait for it to come back: every earlier claim is in by then."""
        key = f"serial.{key_part(zone)}.{key_part(bus.instance)}-{bus.hlc.now()}"
        revision = await bus.put(key, json.dumps(body, separators=(",", ":")).encode())
        deadline = time.monotonic() + ECHO_WAIT
        while key not in self.claims.get(zone, {}):
            if time.monotonic() > deadline:
                raise TimeoutError(f"claim {key} (revision {revision}) not watched back")
            await asyncio.sleep(0.02)

    async def publish_floors(self, bus: Bus) -> None:
        """Back on the bus: each kept serial above every claim seen is written as a floor,
        so that nobody's next claim reuses a serial we served while away."""
        for zone, (serial, _) in sorted(self.top.items()):
            if serial > serials_of(list(self.claims.get(zone, {}).values()))[1]:
                await self._claim(bus, zone, {"zone": zone, "floor": serial})
