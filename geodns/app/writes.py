"""Zone writes: where the zone content API and RFC 2136 write; dry_run's diff. An App mixin."""

from __future__ import annotations

from geodns.fleet.contentapi import FleetBackend
from geodns.ops.zonefiles import FilesBackend
from geodns.ops.zonewrite import ZoneService
from geodns.zonediff import Differ


class Writing:
    """App's writing half: the ZoneService over files or the fleet's bus."""

    def _zone_service(self) -> ZoneService:
        """Zone writes go to files (zones_dir, reloaded here) or to the fleet's bus."""
        conf = self.config
        if self.content is not None:
            return ZoneService(FleetBackend(self.content), self._preview, conf.dnssec.key_dir)
        backend = FilesBackend(
            conf.zones_dir,
            conf.zones.history,
            self._reload_lock,
            self._written_reload,
            lambda: self.table,
            self.zone_loader.agreed,
        )
        return ZoneService(backend, self._preview, conf.dnssec.key_dir)

    def _preview(self, old: dict | None, new: dict | None) -> dict:
        """dry_run's record and routing diff (geodns.zonediff, in a thread) against the GeoIP
        data served now and the current health; the walked databases (~1 s to build) are
        kept for the next dry run until the GeoIP data changes."""
        if self._differ is None:
            self._differ = Differ(self.locator)
        return self._differ(old, new, self.board)
