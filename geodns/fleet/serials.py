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

Claims do not pile up: the fold above has a small state (each content's serial and the
largest), so once COMPACT_AFTER claims of a zone follow the last checkpoint, the instance
that wrote the last of them writes a checkpoint, {zone, upto, serials, floor = top}: the
state after every claim at or below stream revision `upto` (all of them seen: the watch
delivers in order), keeping the KEEP_CONTENTS highest-numbered contents. Every instance
starts from the checkpoint with the largest `upto` and folds the claims after it, which
gives exactly the numbers the claims themselves give (a content left out of a checkpoint
only gets a new, larger serial if it is claimed again: nothing is ever numbered twice).
Once the checkpoint is watched back, the claims at or below `upto` (and older checkpoints)
are purged from the stream, leaving no marker; a fresh instance reads the checkpoint and
the claims after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass

from geodns.fleet.bus import Bus, BusEntry
from geodns.fleet.drains import StateDir
from geodns.fleet.votes import key_part
from geodns.model import Zone

log = logging.getLogger("geodns.fleet")
# How long a claim may take to come back through the watch: on a loaded machine the watch
# can lag, or stall and be started over by the bus (which re-reads the bucket within
# SYNC_WAIT); giving up sooner serves an off-the-bus serial while on the bus.
ECHO_WAIT = 15.0
OFFLINE_SPREAD = 1024


def next_serial(top: int) -> int:
    """The serial after `top` in RFC 1982 arithmetic (never 0, which some tools treat as unset);
    the zone API's writers (fleet/contentstate.py, ops/zonefiles.py) number versions with it."""
    return (top % (2**32 - 1)) + 1


COMPACT_AFTER = 16  # claims after the last checkpoint that make the next one
KEEP_CONTENTS = 64  # contents a checkpoint keeps (the highest-numbered)


@dataclass(frozen=True, slots=True)
class Claim:
    revision: int
    content: str  # the content hash; "" for a floor-only claim (a serial served elsewhere)
    floor: int  # a checkpoint's: the largest serial of the claims it folds
    upto: int = 0  # a checkpoint (not a claim): the fold of every claim at or below upto
    serials: tuple[tuple[str, int], ...] = ()  # a checkpoint's contents and their serials


def base_of(claims: list[Claim]) -> Claim | None:
    """The checkpoint every instance starts from: the largest `upto` (equal ones are the
    same fold; the first written is taken)."""
    marks = [c for c in claims if c.upto]
    return max(marks, key=lambda c: (c.upto, -c.revision)) if marks else None


def serials_of(claims: list[Claim]) -> tuple[dict[str, int], int]:
    """Each content's serial and the largest, from claims in any order (stream order decides),
    starting from the newest checkpoint. A claim whose content already holds a serial at or
    above its floor changes nothing: two writers racing on one content must not number it
    twice."""
    base = base_of(claims)
    by_content = dict(base.serials) if base else {}
    top, upto = (base.floor, base.upto) if base else (0, 0)
    for claim in sorted(claims, key=lambda c: c.revision):
        if claim.upto or claim.revision <= upto:
            continue  # a checkpoint, or folded into the one we started from
        if not claim.content:
            top = max(top, claim.floor)
            continue
        if by_content.get(claim.content, 0) >= claim.floor:
            continue
        top = max(claim.floor, top + 1)
        by_content[claim.content] = top
    return by_content, top


def checkpoint(zone: str, claims: list[Claim]) -> dict | None:
    """The checkpoint of every claim seen (None when no claim follows the newest one): its
    `upto` is the last claim's revision, and each instance that saw those claims writes
    the same body."""
    base = base_of(claims)
    after = [c for c in claims if not c.upto and c.revision > (base.upto if base else 0)]
    if not after:
        return None
    upto = max(c.revision for c in after)
    by_content, top = serials_of([c for c in claims if c.revision <= upto or c.upto])
    kept = sorted(by_content.items(), key=lambda kv: (-kv[1], kv[0]))[:KEEP_CONTENTS]
    return {"zone": zone, "upto": upto, "serials": dict(sorted(kept)), "floor": top}


class Serials:
    """The claims seen on the bus (per zone), the largest serial served per zone (kept), and
    the content each zone is served with here (a claim for it may move its serial up)."""

    def __init__(self, local: StateDir) -> None:
        self.local = local
        self.claims: dict[str, dict[str, Claim]] = {}  # zone -> claim key -> claim
        self.top: dict[str, tuple[int, str]] = local.load_serials()  # zone -> (serial, hash)
        self.served: dict[str, str] = {}  # zone -> content hash served here
        self.on_change: list = []  # called when the serial of content served here moved
        self._arrived = asyncio.Event()  # set whenever a claim comes in (writers wait on it)

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
        upto, serials = int(raw.get("upto", 0)), raw.get("serials", {})
        if not 0 <= upto < entry.revision or not isinstance(serials, dict):
            raise ValueError(f"checkpoint {entry.key}: upto or serials not usable")
        pairs = tuple((str(k), int(v)) for k, v in sorted(serials.items()))
        held[entry.key] = Claim(entry.revision, "" if upto else content, floor, upto, pairs)
        if upto and base_of(list(held.values())) is held[entry.key]:
            for key in [k for k, c in held.items() if c.revision <= upto]:
                del held[key]  # folded into the checkpoint (and purged from the stream soon)
        self._arrived.set()
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
        serial = serials_of(list(self.claims[name].values()))[0].get(content)
        if serial is None:  # only if KEEP_CONTENTS newer contents came first
            raise LookupError(f"content {content[:12]} of {name} folded out of a checkpoint")
        log.info("fleet: zone %s content %s gets serial %d", name, content[:12], serial)
        await self.compact(bus, name)
        return self._keep(name, serial, content)

    async def compact(self, bus: Bus, zone: str, after: int = COMPACT_AFTER) -> None:
        """With `after` claims past the newest checkpoint: write one, and once it is watched
        back purge what it folds (a failure only leaves the claims in place)."""
        claims = list(self.claims.get(zone, {}).values())
        base = base_of(claims)
        if sum(1 for c in claims if not c.upto and c.revision > (base.upto if base else 0)) < after:
            return
        body = checkpoint(zone, claims)
        if body is None:
            return
        try:
            await self._claim(bus, zone, body)
            await bus.purge(f"serial.{key_part(zone)}.>", body["upto"] + 1)
            log.info("fleet: serial claims of %s folded up to revision %d", zone, body["upto"])
        except Exception as exc:
            log.warning("fleet: serial claims of %s not compacted: %s", zone, exc)

    async def _claim(self, bus: Bus, zone: str, body: dict) -> None:
        """Write a claim and wait for it to come back: every earlier claim is in by then."""
        key = f"serial.{key_part(zone)}.{key_part(bus.instance)}-{bus.hlc.now()}"
        revision = await bus.put(key, json.dumps(body, separators=(",", ":")).encode())
        deadline = time.monotonic() + ECHO_WAIT

        def seen() -> bool:  # our claim, or a checkpoint that folded it in
            held = self.claims.get(zone, {})
            base = base_of(list(held.values()))
            return key in held or (base is not None and base.upto >= revision)

        while not seen():
            self._arrived.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"claim {key} (revision {revision}) not watched back")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    async def publish_floors(self, bus: Bus) -> None:
        """Back on the bus: each kept serial above every claim seen is written as a floor,
        so that nobody's next claim reuses a serial we served while away."""
        for zone, (serial, _) in sorted(self.top.items()):
            if serial > serials_of(list(self.claims.get(zone, {}).values()))[1]:
                await self._claim(bus, zone, {"zone": zone, "floor": serial})
