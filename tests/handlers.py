"""One way for tests to get a handler: the one `serve` takes, compiled GeoIP included.

A test that builds a Handler by hand (compile_table, a Locator, a ClientFactory...) tests
a handler no server runs: no GeoIP trees compiled when serve compiles them, other ECS caps,
another identity. `production_handler` goes through geodns/build.py as `serve` does:
Config (validated from a mapping), open_locator, build_table (the GeoIP compiled against
the locator), client_factory, make_handler.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

from geodns import build
from geodns.config.load import from_mapping
from geodns.dns.handler import Handler
from geodns.model import HealthView
from tests.servers import DATA

CITY = DATA / "city-test.mmdb"
ASN = DATA / "asn-test.mmdb"


def production_handler(
    zones: Path | list[Path],
    *,
    health: HealthView | None = None,
    rng: random.Random | None = None,
    cookie_secret: bytes | None = None,
    rrl: Any = None,
    **sections: Any,
) -> Handler:
    """A handler for `zones` (a folder, or several: their files served together) as serve
    builds it, on the test GeoIP databases unless `geoip` says otherwise; `sections` are
    config sections (dns={...}, ecs={...}, cookies={...}, instance=...). `cookie_secret`:
    cookies.secret_file holding it; `rrl`: a limiter of the test's own (a fake clock), as
    the supervisor hands its shared one; `rng` replaces the draws' source
    (tests/native/draws.py: the same draws for both engines)."""
    folders = zones if isinstance(zones, list) else [zones]
    with tempfile.TemporaryDirectory(prefix="geodns-test-") as tmp:
        zones_dir = folders[0] if len(folders) == 1 else _together(folders, Path(tmp))
        raw = {"geoip": {"city": str(CITY), "asn": str(ASN)}, **sections}
        if cookie_secret is not None:
            secret = Path(tmp) / "cookie.secret"
            secret.write_text(cookie_secret.hex())
            raw["cookies"] = {"enabled": True, "secret_file": str(secret)}
        conf = from_mapping({**raw, "zones_dir": str(zones_dir)}, "<test>")
        locator = build.open_locator(conf)
        table = build.build_table(conf, locator=locator)
        clients = build.client_factory(conf, locator)
        handler = build.make_handler(conf, table, clients, health, rrl=rrl)
    if rng is not None:
        handler.answerer.rng = rng
    return handler


def _together(folders: list[Path], into: Path) -> Path:
    """Zone files of several folders side by side in one (symlinked): serve reads one."""
    for folder in folders:
        for path in sorted(Path(folder).glob("*.yaml")):
            (into / path.name).symlink_to(path.resolve())
    return into
