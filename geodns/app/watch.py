"""The reload watcher: polls zone, config and key files, and DNSSEC key events. A mixin of App."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time

from geodns.dnssec import zone as dnssec_zone
from geodns.table import Table
from geodns.zones import load

log = logging.getLogger("geodns")
RESIGN_CHECK = 60.0  # seconds between looks at the signing week (dnssec/sign.py window)


class Watching:
    """App's watcher half: a changed file or a due key event asks App.reload()."""

    def _snapshot(self) -> dict[str, tuple[float, int]]:
        paths: list[str] = []
        with contextlib.suppress(OSError):
            paths = load.zone_files(self.config.zones_dir)
        snap = {}
        signers = _signers(self.table)
        for path in [
            *paths,
            *dnssec_zone.key_files(signers),
            self.config.zones_dir,
            *([self.config.source] if self.config.source else []),
        ]:
            with contextlib.suppress(OSError):
                st = os.stat(path)
                snap[path] = (st.st_mtime, st.st_size)
        return snap

    def _key_event_due(self) -> bool:
        """A key's Publish/Activate/Inactive/Delete time has passed since the table was
        built: the DNSKEY set and the signing keys change, so rebuild (rollovers)."""
        signers = _signers(self.table)
        if not signers:
            return False
        due = dnssec_zone.next_key_event(signers, signers[0].built)
        return due is not None and due <= time.time()

    def _signatures_due(self) -> bool:
        """The week's signing window moved since the table was built: the answers the
        native tables hold were signed ahead for the old one, so rebuild (re-sign) them."""
        return any(dnssec_zone.window_moved(s) for s in _signers(self.table))

    async def _resign(self) -> None:
        """Watched or not: when a new signing week starts, rebuild, so the answers signed
        ahead for the native threads carry its window (past the old week's end the threads
        hand DO queries to the handler, which signs in the new one)."""
        while True:
            await asyncio.sleep(RESIGN_CHECK)
            if self._signatures_due():
                log.info("a new DNSSEC signing week: reloading (answers signed again)")
                await self.reload()

    async def _watch(self) -> None:
        """Poll zone files (no extra dependency, works on every filesystem and in containers).

        The locator looks at the GeoIP files itself at every poll: a changed one is read once
        it held still between two looks."""
        while True:
            await asyncio.sleep(self.config.reload.poll_interval)
            snap = self._snapshot()
            if snap != self._watch_state:
                self._watch_state = snap
                log.info("zone files changed: reloading")
                await self.reload()
            elif self._key_event_due():
                log.info("a DNSSEC key timing event is due: reloading")
                await self.reload()
            await self.reload_geoip()


def _signers(table: Table) -> list:
    return [zt.signer for zt in table.zones.values() if zt.signer is not None]
