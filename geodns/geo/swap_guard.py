"""A GeoIP file that is valid but looks wrong is not swapped in (geoip.accept_shrink).

A canary lookup proves a file is a database, not that it is the right one: the 4 KB test
database copied over GeoLite2-City passes every check and sends every client to
`default`. A swap that changes the database's type (City for Country) or leaves under
half its networks is far more often a mistake (a wrong path in an updater, a truncated
export, a test fixture) than news, so it waits for the operator to say so.
"""

from __future__ import annotations

import time
from typing import Protocol

from geodns.errors import GeoIPError

SHRINK = 0.5  # a new database with fewer than this share of the networks is suspect


class Suspect(GeoIPError):
    """A valid database refused because it does not look like the one serving."""


class _Db(Protocol):
    kind: str
    networks: int


def family(kind: str) -> str:
    """The data a database type carries: GeoLite2-City and GeoIP2-City are both City."""
    for name in ("City", "Country", "ASN"):
        if name in kind:
            return name
    return kind


def suspect(old: _Db, new: _Db) -> str | None:
    """Why `new` should not replace `old` unless the operator accepts it; None: swap."""
    if family(new.kind) != family(old.kind):
        return (
            f"a {new.kind} database where {old.kind} serves (another type; "
            "set geoip.accept_shrink: true to take it)"
        )
    if new.networks < old.networks * SHRINK:
        return (
            f"{new.kind} with {new.networks} networks where {old.networks} serve "
            f"(under {SHRINK:.0%}; set geoip.accept_shrink: true to take it)"
        )
    return None


class Refusals:
    """Refused swaps: a count per reason and the last one per slot, for status."""

    def __init__(self) -> None:
        self.suspect = 0  # valid files refused as looking wrong
        self.broken = 0  # files that were not a valid database
        self.last: dict[str, dict] = {}

    def note(self, slot: str, exc: GeoIPError) -> None:
        if isinstance(exc, Suspect):
            self.suspect += 1
        else:
            self.broken += 1
        self.last[slot] = {
            "reason": str(exc),
            "at": time.time(),
            "suspect": isinstance(exc, Suspect),
        }

    def report(self) -> dict:
        return {
            "refused": {"suspect": self.suspect, "broken": self.broken},
            "last_refused": self.last,
        }
