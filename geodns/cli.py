"""The command line: serve, check, explain, import, version, diff, lint."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import sys
from dataclasses import replace
from typing import Any

from geodns import __version__
from geodns import config as cfg
from geodns.dnssec import load as dnssec_load
from geodns.dnssec.tool import add_dnssec
from geodns.errors import ConfigError, GeoDNSError, LoadError
from geodns.ops import logs

log = logging.getLogger("geodns")


def _config(path: str | None) -> cfg.Config:
    return cfg.load(path) if path else cfg.embedded_default()


def _config_or_say(path: str | None) -> cfg.Config | None:
    """The config, or None once its problems are printed (the caller exits 1)."""
    try:
        return _config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None


def _run_loop(coro) -> None:
    try:
        import uvloop  # the fast event loop, when installed
    except ImportError:  # pragma: no cover - platforms without uvloop
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def _loopback_v6() -> str | None:
    """None when this host can bind [::1], else why not (a container or host without IPv6)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _embedded(conf: cfg.Config) -> cfg.Config:
    """The embedded default listens on 127.0.0.1 and [::1]; without IPv6 loopback it says so
    and goes on with 127.0.0.1 (a config file's addresses are never dropped: they fail)."""
    why = _loopback_v6()
    if why is None:
        return conf
    listen = tuple(a for a in conf.dns.listen if not a.startswith("[::1]"))
    log.warning("no IPv6 loopback here (%s): listening on %s only", why, ", ".join(listen))
    return replace(conf, dns=replace(conf.dns, listen=listen))


def cmd_serve(args: argparse.Namespace) -> int:
    conf = _config_or_say(args.config)
    if conf is None:
        return 1
    logs.setup(conf.log.level, conf.log.format)
    if args.config is None:
        log.info("no --config: serving the embedded default (zones from %s)", conf.zones_dir)
        conf = _embedded(conf)

    async def main() -> None:
        from geodns.app import App

        async with App(conf, handle_signals=True) as app:
            await app.run()

    try:
        _run_loop(main())
    except LoadError as exc:
        for problem in exc.problems:
            log.error("%s", problem)
        return 1
    except (GeoDNSError, OSError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Run the very load-and-compile that serve runs; list every problem, exit 1 on any."""
    from geodns.table import compile_table
    from geodns.zones import load

    problems: list[str] = []
    try:
        conf = _config(args.config)
    except ConfigError as exc:
        problems.extend(str(p) for p in exc.problems)
        conf = None
    zones = []
    if conf is not None or args.zones:
        try:
            if args.zones:
                zones = load.load_paths(list(args.zones))
            else:
                zones = load.load_dir(conf.zones_dir)
            compile_table(zones, dnssec_load.signers(zones, conf.dnssec.key_dir if conf else None))
        except LoadError as exc:
            problems.extend(str(p) for p in exc.problems)
    if conf is not None and not args.zones:
        if not zones and not problems:
            problems.append(f"{conf.zones_dir}: no zone files (*.yaml): nothing would be served")
        problems.extend(_check_runtime_files(conf))
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return 1
    for zone in zones:
        print(f"ok: {zone.origin_text} serial {zone.serial} ({zone.source})")
    return 0


def _check_runtime_files(conf: cfg.Config) -> list[str]:
    """The other files `serve` reads at start (GeoIP, the API token): the same checks."""
    from geodns.build import open_locator
    from geodns.ops.api import read_token

    problems: list[str] = []
    try:
        open_locator(conf)
    except GeoDNSError as exc:
        problems.append(str(exc))
    http = conf.http
    for path in (http.token_file, http.write_token_file, http.read_token_file):
        try:
            read_token(path)
        except ConfigError as exc:
            problems.extend(str(p) for p in exc.problems)
    return problems


def cmd_version(args: argparse.Namespace) -> int:
    """The version, which DNSSEC signer signs (dnssec/signer.py), and which path answers
    UDP: for --config's dns.fast_path (and what in it needs Python), else for `auto`
    (whether the extension is built)."""
    from geodns.dnssec import signer
    from geodns.native import table as native

    print(f"geodns {__version__}")
    print(f"dnssec signer: {signer.in_use()}")
    path = getattr(args, "config", None)
    if path is None:
        if native.available():
            print("fast path: native (geodns._native)")
        else:
            print("fast path: python (the geodns._native extension is not built)")
        return 0
    conf = _config_or_say(path)
    if conf is None:
        return 1
    try:
        chosen, why = native.resolve(conf)
    except GeoDNSError as exc:
        print(f"fast path: none, serve would refuse to start: {exc}")
        return 1
    native_runs = chosen == native.NATIVE
    print("fast path: native (geodns._native)" if native_runs else f"fast path: python ({why})")
    return 0


def cmd_healthcheck(args: argparse.Namespace) -> int:
    """Exit 0 when the server at http.probe_listen (else http.listen) answers /healthz (/readyz)."""
    from geodns.ops.healthcheck import probe, url_for

    conf = _config_or_say(args.config)
    if conf is None:
        return 1
    listen = conf.http.probe_listen or conf.http.listen  # the probes' own listener first
    if listen is None:
        print("http.listen is null: no HTTP endpoint to ask; counted as healthy")
        return 0
    healthy, said = probe(url_for(listen, "/readyz" if args.ready else "/healthz"), 2.5)
    print(said, file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


def cmd_explain(args: argparse.Namespace) -> int:
    """One query through the very handler `serve` builds, every reason shown."""
    from geodns import build
    from geodns.ops.explain import explain, render

    try:
        conf = _config(args.config)
        locator = build.open_locator(conf)
        table = build.build_table(conf, locator=locator)
    except GeoDNSError as exc:
        print(exc, file=sys.stderr)
        return 1
    handler = build.make_handler(conf, table, build.client_factory(conf, locator))
    try:
        report = explain(handler, args.name, args.type, args.client, args.ecs)
    except ValueError as exc:
        print(f"explain: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0


def add_explain(sub: Any) -> None:
    parser = sub.add_parser("explain", help="show the facts, the policy path and the answer")
    parser.add_argument("name")
    parser.add_argument("type", nargs="?", default="A")
    parser.add_argument("--client", required=True, help="the client (or resolver) address")
    parser.add_argument("--ecs", help="an ECS prefix the query carries, e.g. 81.2.69.0/24")
    parser.add_argument("--config")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=cmd_explain)


def add_import(sub: Any) -> None:
    """`geodns import FORMAT FILE`: the logic is geodns/importers/, registered here."""
    parser = sub.add_parser("import", help="another DNS service's export -> a zone document")
    parser.add_argument("format", choices=("azure-tm", "bind", "clouddns", "route53"))
    parser.add_argument("file", help="the export; - reads standard input (not for bind)")
    parser.add_argument("--zone", help="the zone name (when the file does not say it)")
    parser.add_argument("--health", help="route53: list-health-checks JSON")
    parser.add_argument(
        "--cidr",
        action="append",
        metavar="[ID=]FILE",
        help="route53: list-cidr-blocks JSON of a CIDR collection (ID= when several)",
    )
    parser.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    """Exit 0 when everything was mapped, 2 when some items were left out, 1 on an error."""
    from geodns.importers import main

    return main(args.format, args.file, args.zone, health=args.health, cidr=args.cidr)


def add_webhook(sub: Any) -> None:
    """`geodns webhook`: external-dns's webhook provider, geodns/integrations/webhook.py."""
    parser = sub.add_parser("webhook", help="serve external-dns's webhook provider protocol")
    parser.add_argument("--listen", default="127.0.0.1:8888", help="address:port (loopback)")
    parser.add_argument("--api", required=True, help="the HTTP API, e.g. http://127.0.0.1:8053")
    parser.add_argument("--token-file", help="a file holding the API's write token")
    parser.add_argument("--zone", action="append", help="serve only this zone (repeatable)")
    parser.set_defaults(func=cmd_webhook)


def cmd_webhook(args: argparse.Namespace) -> int:
    from geodns.integrations.webhook import main

    return main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="geodns", description=__doc__)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the server in the foreground")
    serve.add_argument("--config", help="config file (default: the embedded demo setup)")
    serve.set_defaults(func=cmd_serve)
    check = sub.add_parser("check", help="validate config and zones; exit 1 on any problem")
    check.add_argument("--config")
    check.add_argument("zones", nargs="*", metavar="ZONE", help="zone files to check instead")
    check.set_defaults(func=cmd_check)
    health = sub.add_parser("healthcheck", help="exit 0 if the running server answers /healthz")
    health.add_argument("--config")
    health.add_argument("--ready", action="store_true", help="ask /readyz instead")
    health.set_defaults(func=cmd_healthcheck)
    version = sub.add_parser("version", help="print the version")
    version.add_argument("--config", help="say which UDP path this config runs")
    version.set_defaults(func=cmd_version)
    add_explain(sub)
    add_dnssec(sub)
    from geodns.zonediff.command import add_parsers as add_zonediff

    add_zonediff(sub)  # diff, lint
    add_import(sub)
    add_webhook(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:  # `geodns --version` says what `geodns version` says
        return cmd_version(args)
    if args.command is None:
        parser.error("a command is required (serve, check, explain, healthcheck, version)")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
