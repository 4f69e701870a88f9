"""The factories the CLI, the app and every worker share: one way to load, open and set up."""

from __future__ import annotations

import logging
import time
from typing import Any

from geodns import __version__
from geodns import config as cfg
from geodns.dns import cookies
from geodns.dns.handler import Handler
from geodns.dns.identity import Identity
from geodns.dns.rrl import RateLimiter
from geodns.dns.stats import Stats
from geodns.dnssec import load as dnssec_load
from geodns.geo import compiled
from geodns.geo.ecs import ClientFactory
from geodns.geo.locator import Locator
from geodns.model import CheckSpec, HealthView, MemberKey
from geodns.table import Table, compile_table
from geodns.zones import teardown
from geodns.zones.load import ZoneLoader

log = logging.getLogger("geodns")


def open_locator(conf: cfg.Config) -> Locator:
    """The GeoIP locator for a config; no database means every client gets `default`."""
    if conf.geoip.city is None and conf.geoip.asn is None:
        log.warning("no GeoIP database configured: every client gets the default answer")
    geoip = conf.geoip
    locator = Locator.open(geoip.city, geoip.asn, geoip.cache_size, geoip.accept_shrink)
    warn_if_stale(locator, time.time())
    return locator


GEOIP_STALE_DAYS = 30  # MaxMind publishes twice a week; a month old means updates stopped


def warn_if_stale(locator: Locator, now: float) -> bool:
    """Say loudly when the City database is old (the image's 2018 demo copy, a dead updater)."""
    if not locator.build_epoch or now - locator.build_epoch < GEOIP_STALE_DAYS * 86400:
        return False
    built = time.strftime("%Y-%m-%d", time.gmtime(locator.build_epoch))
    log.warning(
        "GeoIP database %s was built %s, %d days ago: locations are out of date and some "
        "clients get the wrong answer; mount a current one (geoipupdate, docs/operations.md)",
        locator.paths[0],
        built,
        (now - locator.build_epoch) // 86400,
    )
    return True


def client_factory(conf: cfg.Config, locator: Locator) -> ClientFactory:
    """Clients for decisions, with the config's ECS limits (new GeoIP data: a new one)."""
    return ClientFactory(
        locator,
        enabled=conf.ecs.enabled,
        max_source_v4=conf.ecs.max_source_v4,
        max_source_v6=conf.ecs.max_source_v6,
    )


def build_table(
    conf: cfg.Config,
    zones: ZoneLoader | None = None,
    locator: Locator | None = None,
    trees: compiled.TreeCache | None = None,
) -> Table:
    """The one load-and-compile path, shared by serve, reload and `geodns check`.

    `zones` remembers the last good load, so a reload parses only the files that changed
    (without one, every file is parsed). Without cyclic GC while it runs (a million names
    would mean full collections over millions of new objects, holding the GIL), and frozen
    after: see teardown.gc_paused. With a `locator`, the policy trees are compiled against
    its GeoIP databases too (geo/compiled.py), so workers forked later share the ranges;
    `trees` keeps them from one build to the next (a reload compiles only what changed).
    """
    loader = ZoneLoader() if zones is None else zones
    with teardown.gc_paused():
        zones = loader.load_dir(conf.zones_dir)
        table = compile_table(zones, dnssec_load.signers(zones, conf.dnssec.key_dir))
        if locator is not None:
            compiled.install(table, compiled.compile_table(table, locator, trees))
        return table


def compile_geoip(table: Table, locator: Locator, trees: compiled.TreeCache | None = None) -> dict:
    """The table's trees compiled against new GeoIP data (run in a thread); the caller
    installs the result (compiled.install) where it answers, then clears its memos."""
    with teardown.gc_paused():
        return compiled.compile_table(table, locator, trees)


def make_handler(
    conf: cfg.Config,
    table: Table,
    clients: ClientFactory,
    health: HealthView | None = None,
    stats: Stats | None = None,
    rrl: Any = None,
) -> Handler:
    """A handler set up from the config: the same in the CLI, this process and every worker;
    `rrl`: the server's shared rate limiter (shared_limiter), else one of its own."""
    handler = Handler(
        table,
        clients,
        health,
        max_udp_payload=conf.dns.max_udp_payload,
        ecs_enabled=conf.ecs.enabled,
        stats=stats,
        cookie_secret=cookie_secret(conf),
        rrl=rrl if rrl is not None else limiter(conf.rrl),
    )
    handler.query_sample = conf.log.query_sample if conf.log.queries else 0.0
    dns = conf.dns
    handler.identity = Identity(
        conf.instance_name(), __version__, dns.nsid, dns.chaos, dns.hide_version
    )
    return handler


def limiter(rrl: cfg.RrlConfig) -> RateLimiter | None:
    """A rate limiter for the config (its table in shared memory); None when RRL is off."""
    if not (rrl.responses_per_second or rrl.all_per_second):
        return None
    return RateLimiter(
        rrl.rates(),
        window=rrl.window,
        slip=rrl.slip,
        ipv4_prefix=rrl.ipv4_prefix,
        ipv6_prefix=rrl.ipv6_prefix,
        exempt=rrl.exempt,
        log_only=rrl.log_only,
        all_rate=rrl.all_per_second,
    )


def shared_limiter(conf: cfg.Config) -> Any:
    """The server's one set of RRL accounts, made by the supervisor before it forks: every
    worker (and its native threads) spends from it, so a spoofer who varies the source port
    to reach every worker gets the rate once, not once per worker. On the native table
    when the native path answers, else rrl.py's (its arrays shared too). None: RRL off."""
    from geodns.native import shared
    from geodns.native import table as native

    lim = limiter(conf.rrl)
    if lim is None or not shared.available():
        return lim
    if native.resolve(conf)[0] != native.NATIVE:
        return lim
    return shared.native_limiter(lim)


_RANDOM_SECRET: list[bytes] = []


def cookie_secret(conf: cfg.Config) -> bytes | None:
    """The DNS COOKIE secret: the fleet's from cookies.secret_file, else one made at random
    the first time it is asked for and kept for the process's life. The supervisor asks
    before it forks workers, so every worker validates every other's cookies (the kernel
    may hand one client's queries to any of them). None when cookies are off."""
    if not conf.cookies.enabled:
        return None
    if conf.cookies.secret_file is not None:
        return cfg.read_cookie_secret(conf.cookies.secret_file)
    if not _RANDOM_SECRET:
        _RANDOM_SECRET.append(cookies.random_secret())
    return _RANDOM_SECRET[0]


def table_members(table: Table) -> dict[MemberKey, CheckSpec | None]:
    """Every pool member of every zone, with the check that watches it (None: unchecked)."""
    return {
        m: pool.check
        for zt in table.zones.values()
        for pool in zt.zone.pools.values()
        for m in pool.members()
    }
