"""Which zones are signed, and their signers: loaded with the table, failing it loudly.

A zone file's `dnssec: {keys: DIR}` makes signing mandatory for that zone (no usable key
is an error); the config's `dnssec.key_dir` signs every zone that has key files there.
A key problem is a ZoneError naming the key file, so a reload keeps serving the previous
signed version and says why, and `serve` does not start unsigned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from geodns.dnssec import keyset, signer
from geodns.dnssec.keyfile import KeyError_
from geodns.dnssec.zone import ZoneSigner
from geodns.errors import Problem, Where, ZoneError
from geodns.model import Zone

log = logging.getLogger("geodns.dnssec")


def signers(
    zones: Iterable[Zone], key_dir: str | None, clock: Callable[[], float] = time.time
) -> dict[bytes, ZoneSigner]:
    """The signer of every zone that is to be signed, by origin."""
    out: dict[bytes, ZoneSigner] = {}
    problems: list[Problem] = []
    for zone in zones:
        directory = zone.dnssec_keys or key_dir
        if directory is None:
            continue
        try:
            keys = keyset.load_dir(directory, zone.origin_text)
            if keys or zone.dnssec_keys:
                out[zone.origin] = ZoneSigner(zone.origin_text, keys, directory, clock)
        except KeyError_ as exc:
            problems.append(Problem(Where(zone.source), f"dnssec: {exc}"))
    if problems:
        raise ZoneError(problems)
    if out:
        log.info("DNSSEC: %d zone(s) signed, signer: %s", len(out), signer.in_use())
    return out
