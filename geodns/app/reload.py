"""Reloads, whole and atomic: zones, config and GeoIP built beside what serves, then swapped;
the fleet agreeing serials; zone writes (API, RFC 2136) applied as reloads. A mixin of App."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import replace

from geodns import config as cfg
from geodns.build import (
    build_table,
    client_factory,
    compile_geoip,
    open_locator,
    table_members,
)
from geodns.errors import GeoDNSError, GeoIPError, ZoneError
from geodns.fleet.votes import generation
from geodns.geo import compiled
from geodns.native import udp as native_udp
from geodns.ops import logs
from geodns.ops.reloadlog import reload_line
from geodns.table import Table, dismantle

log = logging.getLogger("geodns")
AGREE_ROUNDS = 5  # serial agreements in one reload while files keep changing under it


class Reloading:
    """App's reload half: every method reads and swaps the App's own components."""

    async def _written_reload(self) -> bool:
        """A reload for files a zone write just replaced (the reload lock held): the
        watcher's snapshot is taken again, so it does not reload a second time for them
        (before the reload: a file changed by hand meanwhile is still seen as changed)."""
        self._watch_state = self._snapshot()
        return await self._reload()

    async def _content_reload(self) -> bool:
        async with self._reload_lock:
            return await self._written_reload()

    def _reload_soon(self) -> None:
        """SIGHUP: zones and config, then GeoIP files the operator says are complete."""
        self._retire(asyncio.ensure_future(self.reload()))
        self._retire(asyncio.ensure_future(self.reload_geoip(settled=True)))

    async def reload(self) -> bool:
        """Re-read the config (if any), load and compile beside the running table, swap.

        The load and compile run in a thread, so answering goes on meanwhile; a failure of
        any file leaves everything serving as it was and says why. With several workers
        it returns once every worker answers from the new table.
        """
        async with self._reload_lock:
            return await self._reload()

    async def _reload(self) -> bool:
        if not self._reload_config():
            self.reloads.failed()
            return False
        previous = {zt.origin: zt.zone for zt in self.table.zones.values()}
        loop = asyncio.get_running_loop()
        try:
            table = await loop.run_in_executor(
                None, build_table, self.config, self.zone_loader, self.locator, self.trees
            )
        except ZoneError as exc:
            self.reloads.failed()
            for problem in exc.problems:
                log.error("reload failed: %s", problem)
            log.error("reload failed: still serving the previous zones")
            return False
        except GeoDNSError as exc:
            self.reloads.failed()
            log.error("reload failed: %s", exc)
            return False
        table = await self._agreed(table)
        await loop.run_in_executor(None, native_udp.prepare, table, self.config)
        old, self.table = self.table, table
        self.handler.table = table
        self.checker.update(table_members(table))
        self._members_changed()
        self.steer.table_changed(table)
        await self._publish()
        # Freed in small steps in a thread: dropping a big table at once stalls answering.
        self._retire(loop.run_in_executor(None, dismantle, old))
        self.reloads.succeeded()
        for origin, zt in table.zones.items():
            old = previous.get(origin)
            if old is None or old.serial != zt.zone.serial:
                log.info("zone %s serial %d loaded", zt.zone.origin_text, zt.zone.serial)
        self._note_removed(previous)
        current = {origin: zt.zone for origin, zt in table.zones.items()}
        log.info("%s", reload_line(previous, current, self.fleet.generation))
        return True

    def _note_removed(self, previous: dict) -> None:
        """A zone the reload dropped is said and counted: its names are REFUSED from now on."""
        gone = [zone for origin, zone in previous.items() if origin not in self.table.zones]
        for zone in gone:
            why = "gone" if not os.path.exists(zone.source) else "no longer defines it"
            log.warning("zone %s removed (file %s %s)", zone.origin_text, zone.source, why)
        self.reloads.removed += len(gone)
        if gone and not self.table.zones:
            log.warning("no zone left in %s: not ready (/readyz 503)", self.config.zones_dir)
        elif previous == {} and self.table.zones:
            log.info("zones loaded: ready")

    async def _agreed(self, table: Table) -> Table:
        """With a fleet: the serials it agreed on for `serial: auto` content; the table is
        compiled again (no unchanged file re-read) only when one differs from the table's.
        A file may change under that compile: its new content is agreed in turn, never
        served with a serial remembered from an earlier round."""
        loop = asyncio.get_running_loop()
        for _ in range(AGREE_ROUNDS):
            zones = [zt.zone for zt in table.zones.values()]
            agreed = await self.fleet.agree_serials(zones)
            self.zone_loader.agreed.update(agreed)
            if all(
                agreed.get((z.origin_text, z.content_hash), z.serial) == z.serial for z in zones
            ):
                return table
            table = await loop.run_in_executor(
                None, build_table, self.config, self.zone_loader, self.locator, self.trees
            )
        return table

    def _members_changed(self) -> None:
        """The fleet re-applies drains and votes to the reconciled board; our generation."""
        self.fleet.members_changed()
        conf, zones = self.config, [zt.zone for zt in self.table.zones.values()]
        settings = (conf.ecs, conf.dns.max_udp_payload, conf.rrl, self.locator.build_epoch)
        self.fleet.set_generation(generation(settings, zones))

    def _shared_rtt(self, zone: str, items: object) -> None:
        found = [zt.zone for zt in self.table.zones.values() if zt.zone.origin_text == zone]
        if found:
            self.steer.rtt.post(zone, items, found[0].pools)

    def _rejoined(self) -> None:
        """Back on the bus (or a claim moved a serial): agree the serials of what we serve;
        only when one moved is the table built again, so a rejoin reloads nothing unchanged."""
        self._retire(asyncio.ensure_future(self._reagree()))

    async def _reagree(self) -> None:
        """Under the reload lock: agreeing on the table a running reload is about to replace
        would claim a new serial for content no longer served (seen: a claim arriving in
        the middle of a reload renumbered the old content, and then the new one, 905 -> 909)."""
        async with self._reload_lock:
            zones = [zt.zone for zt in self.table.zones.values()]
            agreed = await self.fleet.agree_serials(zones)
            moved = any(
                agreed.get((z.origin_text, z.content_hash), z.serial) != z.serial for z in zones
            )
            if moved:
                await self._reload()

    async def _publish(self) -> None:
        """Worker processes get the current table and settings (a new generation)."""
        await self.dns.publish()

    def _reload_config(self) -> bool:
        """Apply what can change live; settings that need a restart are logged, not half-applied."""
        if self.config.source is None:
            return True
        try:
            new = cfg.load(self.config.source)
        except GeoDNSError as exc:
            log.error("reload failed: %s", exc)
            return False
        old = self.config
        for key in ("dns", "http", "fleet", "instance", "state_dir"):
            if getattr(new, key) != getattr(old, key):
                log.warning("config: %s settings changed; they take effect after a restart", key)
        if (new.geoip.city, new.geoip.asn) != (old.geoip.city, old.geoip.asn):
            try:
                self.locator = open_locator(new)
            except GeoIPError as exc:
                log.error("reload failed: %s", exc)
                return False
        self.locator.accept(new.geoip.accept_shrink)  # a refused file may be taken now
        # Settings that need a restart stay as they were; the rest (rrl, cookies...) are new.
        live = replace(new, dns=old.dns, http=old.http, fleet=old.fleet)
        live = replace(live, instance=old.instance, state_dir=old.state_dir)
        if self.content is not None:  # fleet content: still loaded from state_dir/zones
            live = replace(live, zones_dir=old.zones_dir, zones=old.zones)
        self.config = live
        logs.setup(new.log.level, new.log.format)
        self.handler.ecs_enabled = new.ecs.enabled
        self.handler.query_sample = new.log.query_sample if new.log.queries else 0.0
        if (new.geoip, new.ecs) != (old.geoip, old.ecs):
            self.clients_changed()  # only then: warm client caches survive a zone reload
        return True

    async def reload_geoip(self, settled: bool = False) -> bool:
        """Swap in GeoIP files that changed and check out (Locator.reload_if_changed logs
        each reload and refusal); a new worker generation then answers from them."""
        async with self._reload_lock:
            if not self.locator.reload_if_changed(settled):
                return False
            loop = asyncio.get_running_loop()  # the GeoIP compile: seconds, off the loop
            ranges = await loop.run_in_executor(
                None, compile_geoip, self.table, self.locator, self.trees
            )
            compiled.install(self.table, ranges)
            self.clients_changed()
            await self._publish()
            return True

    def clients_changed(self) -> None:
        """New GeoIP data: cached clients hold old facts, so start afresh."""
        self.clients = client_factory(self.config, self.locator)
        self._differ = None
        self.handler.clients = self.clients
        self.handler.clear_caches()
