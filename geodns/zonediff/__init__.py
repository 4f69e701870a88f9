"""What a zone change does before it is made: the record diff, the routing diff, the lint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geodns import config as cfg
from geodns.geo import compiled
from geodns.model import HealthView
from geodns.zonediff.documents import zone_from_document
from geodns.zonediff.record import record_diff
from geodns.zonediff.routing import databases, routing_diff

__all__ = ["Differ", "diff_documents", "record_diff", "routing_diff", "zone_from_document"]

DEFAULT_LIMIT = 100


class Differ:
    """A dry run's diff against one set of GeoIP databases, walked once (~1 s for
    GeoLite2-City) and reused by every diff; make a new one when the GeoIP data changes.

    The API's `?dry_run=true` calls it with the zone's document before and after the
    change (None: the zone does not exist on that side) and the app's health view. It
    holds the walked databases (~50 MB for GeoLite2-City): a server that dry-runs rarely
    may make one per request instead. A diff is CPU work (~0.6 s for a GeoLite2-City
    continent move): run it off the event loop.
    """

    def __init__(self, geo: Any = None) -> None:
        """`geo`: a geo/locator.Locator, compiled.Databases, or None (no GeoIP)."""
        self.dbs = geo if isinstance(geo, compiled.Databases) else databases(geo)
        release = getattr(geo, "release", None)
        if release is not None:  # the walk mapped the database's pages in: ~50 MB
            release()

    def __call__(
        self,
        old: Mapping | None,
        new: Mapping | None,
        health: HealthView | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> dict[str, list[dict]]:
        """{"records": record_diff(...), "routing": routing_diff(...)}; ZoneError (with every
        problem) when either document does not load."""
        before, after = zone_from_document(old, "old"), zone_from_document(new, "new")
        return {
            "records": record_diff(old, new),
            "routing": routing_diff(before, after, self.dbs, health, limit),
        }


def diff_documents(
    old: Mapping | None,
    new: Mapping | None,
    conf: cfg.Config,
    health: HealthView | None = None,
    limit: int = DEFAULT_LIMIT,
) -> dict[str, list[dict]]:
    """Two zone documents diffed with the config's GeoIP databases (opened for this call:
    a server keeps a Differ instead)."""
    from geodns.build import open_locator

    return Differ(open_locator(conf))(old, new, health, limit)
