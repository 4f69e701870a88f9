"""Serials and measured RTTs on the bus: the Fleet's parts other modules of the app call."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from typing import Any

from geodns.fleet import votes
from geodns.fleet.bus import BusEntry
from geodns.fleet.seal import wall_of
from geodns.model import Zone

log = logging.getLogger("geodns.fleet")


class Shared:
    """Serial agreement and RTT sharing of Fleet (coordinator.py holds the state)."""

    bus: Any
    serials: Any
    on_serial: list[Any]
    on_rtt: list[Any]
    _serial_soon: Any
    _rtt_seen: dict[str, int]
    clock: Any
    conf: Any
    instance: str

    async def agree_serials(self, zones: Iterable[Zone]) -> dict[tuple[str, str], int]:
        """(zone, content hash) -> its serial for `serial: auto` zones: the fleet's on the
        bus, else (or when the bus fails us) one above the largest kept in state_dir."""
        agreed: dict[tuple[str, str], int] = {}
        for zone in zones:
            if not zone.serial_auto:
                continue
            serial = None
            if self.bus is not None and self.bus.kv is not None:
                try:
                    serial = await self.serials.agree(self.bus, zone)
                except Exception as exc:
                    log.warning(
                        "fleet: serial of %s not agreed (%s): kept locally", zone.origin_text, exc
                    )
            if serial is None:
                serial = self.serials.offline(zone)
            agreed[(zone.origin_text, zone.content_hash)] = serial
        return agreed

    def _serial_moved(self) -> None:
        """Another instance claimed a newer serial for the content we serve: reload soon
        (once for a burst of claims)."""
        if self._serial_soon is not None:
            return

        def fire() -> None:
            self._serial_soon = None
            for callback in self.on_serial:
                callback()

        self._serial_soon = asyncio.get_running_loop().call_later(0.1, fire)

    async def share_rtt(self, zone: str, items: Any) -> str:
        """Measured RTTs POSTed here, for every other instance (each applies them as if
        POSTed to it); where they went: "fleet", "local" (no fleet) or "pending" (off the
        bus: not kept, the next POST carries fresh ones)."""
        if self.bus is None:
            return "local"
        body = json.dumps({"zone": zone, "items": items}, separators=(",", ":")).encode()
        try:
            await self.bus.put(f"rtt.{votes.key_part(zone)}.{votes.key_part(self.instance)}", body)
            return "fleet"
        except Exception as exc:
            log.warning("fleet: measured RTTs for %s not shared: %s", zone, exc)
            return "pending"

    def _rtt_entry(self, entry: BusEntry) -> None:
        """Another instance's batch, applied once (not again when the bucket is re-read),
        and only while its measurements would not have expired anyway."""
        if entry.writer == self.instance or self._rtt_seen.get(entry.key, -1) >= entry.at:
            return
        self._rtt_seen[entry.key] = entry.at
        if self.clock() - wall_of(entry.at) > self.conf.rtt.expire_after:
            return
        raw = json.loads(entry.value or b"")
        for callback in self.on_rtt:
            callback(str(raw["zone"]), raw["items"])
