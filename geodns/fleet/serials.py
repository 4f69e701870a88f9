"""`serial: auto` agreed across the fleet: per zone, content hash -> serial, only growing."""

from __future__ import annotations

import json
import logging

import nats.js.errors

from geodns.fleet.bus import Bus
from geodns.fleet.seal import seal, unseal
from geodns.fleet.votes import key_part
from geodns.model import Zone

log = logging.getLogger("geodns.fleet")

KEEP = 64  # content hashes remembered per zone (older content coming back gets a new serial)
TRIES = 8


def next_serial(top: int) -> int:
    """The serial after `top` in RFC 1982 arithmetic (never 0, which some tools treat as unset)."""
    return (top % (2**32 - 1)) + 1


async def agree(bus: Bus, zone: Zone) -> int:
    """The fleet's serial for this zone's content: the one already assigned to this content
    hash, else the next above every earlier one (the first: the content-derived serial),
    written with compare-and-set so two instances proposing at once end with one answer."""
    key = "serial." + key_part(zone.origin_text)
    kv = bus.kv
    assert kv is not None
    for _ in range(TRIES):
        try:
            entry = await kv.get(key)
            revision = entry.revision
            held = json.loads(unseal(bus.secret, key, entry.value).value or b"{}")
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            revision, held = None, {}
        serials: dict[str, int] = dict(held.get("serials", {}))
        if zone.content_hash in serials:
            return int(serials[zone.content_hash])
        top = held.get("top")
        serial = zone.serial if top is None else next_serial(int(top))
        serials[zone.content_hash] = serial
        kept = dict(list(serials.items())[-KEEP:])
        plain = json.dumps({"serials": kept, "top": serial}).encode()
        body = seal(bus.secret, key, plain, bus.instance, bus.hlc.now())
        try:
            if revision is None:
                await kv.create(key, body)
            else:
                await kv.update(key, body, last=revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            continue  # someone else wrote first: read again
        log.info(
            "fleet: zone %s content %s gets serial %d",
            zone.origin_text,
            zone.content_hash[:12],
            serial,
        )
        return serial
    raise RuntimeError(f"no agreement on the serial of {zone.origin_text} after {TRIES} tries")
