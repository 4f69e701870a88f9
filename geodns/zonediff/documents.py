"""Zone documents (dicts) and zone files/directories -> Zones, by the very parse `check` runs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from geodns.errors import Problem, Where, ZoneError
from geodns.model import Zone
from geodns.table import compile_table
from geodns.zones import load, zonefile


def zone_from_document(doc: Mapping | None, source: str = "<document>") -> Zone | None:
    """The Zone a document describes (None for None), parsed and compiled as a zone file
    would be; ZoneError lists every problem (their file is `source`, lines of the YAML
    the document is written as)."""
    if doc is None:
        return None
    if not isinstance(doc, Mapping):
        raise ZoneError([Problem(Where(source), "a zone document must be a mapping")])
    text = yaml.safe_dump(dict(doc), sort_keys=False, allow_unicode=True)
    return zone_from_text(text, source)


def zone_from_text(text: str, source: str) -> Zone:
    digest = load.content_hash(text)
    zone = zonefile.load_text(text, source, auto_serial=load.auto_serial(digest), digest=digest)
    compile_table([zone])  # what `check` does too: a zone the table refuses is refused here
    return zone


def zone_paths(path: str) -> list[str]:
    """A zone file, or the zone files of a directory (as zones_dir lists them)."""
    where = Path(path)
    try:
        return load.zone_files(path) if where.is_dir() else [str(where)]
    except OSError as exc:
        raise ZoneError([Problem(Where(path), f"cannot list zones: {exc.strerror}")]) from exc


def read_side(path: str) -> tuple[dict[str, dict], list[Zone]]:
    """(origin -> document, Zones) of a zone file or directory; ZoneError on any problem."""
    paths = zone_paths(path)
    zones = load.load_paths(paths)
    compile_table(zones)
    docs: dict[str, dict] = {}
    for zone in zones:
        with open(zone.source, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        docs[zone.origin_text] = doc
    return docs, zones
