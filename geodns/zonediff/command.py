"""`geodns diff` and `geodns lint`: the bodies behind the command line (cli.py registers them).

Exit codes. diff: 0 (routing unchanged, or changed without --fail-on-change), 1 (routing
changes and --fail-on-change), 2 (a config or zone that does not load). lint: 0 (nothing
or only notes), 1 (warnings), 2 (a config or zone that does not load).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

import yaml

from geodns import config as cfg
from geodns.errors import GeoDNSError
from geodns.model import Zone
from geodns.zonediff import lint as lints
from geodns.zonediff.documents import read_side, zone_paths
from geodns.zonediff.record import record_diff
from geodns.zonediff.routing import databases, routing_diff

CHANGED, BROKEN = 1, 2
MARK = {"add": "+", "remove": "-", "change": "~"}


def _databases(path: str | None) -> Any:
    """The GeoIP databases of --config (the embedded default's without one)."""
    from geodns.build import open_locator

    conf = cfg.load(path) if path else cfg.embedded_default()
    return databases(open_locator(conf))


def _say_problems(exc: Exception, out: TextIO) -> None:
    problems = getattr(exc, "problems", None)
    for problem in problems or [exc]:
        print(problem, file=out)


def cmd_diff(args: argparse.Namespace) -> int:
    """The record diff and the routing diff of two zone files or directories."""
    try:
        old_docs, old_zones = read_side(args.old)
        new_docs, new_zones = read_side(args.new)
        dbs = _databases(args.config)
    except (GeoDNSError, OSError, yaml.YAMLError) as exc:
        _say_problems(exc, sys.stderr)
        print("geodns diff: cannot compare (exit 2)", file=sys.stderr)
        return BROKEN
    records = []
    for origin in sorted(set(old_docs) | set(new_docs)):
        for entry in record_diff(old_docs.get(origin), new_docs.get(origin)):
            records.append({"zone": origin, **entry})
    routing = routing_diff(old_zones, new_zones, dbs, None, args.limit)
    if args.json:
        json.dump({"records": records, "routing": routing}, sys.stdout, indent=2)
        print()
    else:
        _print_diff(records, routing, args.limit)
    return CHANGED if routing and args.fail_on_change else 0


def _print_diff(records: list[dict], routing: list[dict], limit: int) -> None:
    """One line per change, grep-able: `~ zone path (type)`, `route name family from -> to`."""
    for entry in records:
        print(f"{MARK[entry['action']]} {entry['zone']} {entry['path']} ({entry['type']})")
    for entry in routing:
        if entry.get("per_query"):
            print(f"route {entry['name']} changed: decided per query, no ranges (sticky)")
            continue
        before, after = entry["from"] or "(no policy)", entry["to"] or "(no policy)"
        print(
            f"route {entry['name']} {entry['family']} {before} -> {after}: {entry['count']} ranges"
        )
        for network in entry["ranges"]:
            print(f"    {network}")
        if entry["count"] > len(entry["ranges"]):
            print(f"    ... {entry['count'] - len(entry['ranges'])} more (--limit)")
    if not records and not routing:
        print("no changes")


def _lint_zones(args: argparse.Namespace) -> tuple[list[Zone], Any]:
    from geodns.zones import load

    conf = cfg.load(args.config) if args.config else cfg.embedded_default()
    paths = [p for given in args.zones for p in zone_paths(given)]
    zones = load.load_paths(paths) if args.zones else load.load_dir(conf.zones_dir)
    from geodns.build import open_locator

    return zones, databases(open_locator(conf))


def cmd_lint(args: argparse.Namespace) -> int:
    """Findings per policy name; exit 1 on any warning."""
    try:
        zones, dbs = _lint_zones(args)
    except (GeoDNSError, OSError, yaml.YAMLError) as exc:
        _say_problems(exc, sys.stderr)
        print("geodns lint: cannot lint (exit 2)", file=sys.stderr)
        return BROKEN
    found = lints.lint(zones, dbs)
    if args.json:
        json.dump(found, sys.stdout, indent=2)
        print()
    else:
        for item in found:
            print(f"{item['severity']}: {item['name']} {item['kind']}: {item['message']}")
        warnings = sum(1 for f in found if f["severity"] == lints.WARNING)
        print(f"{len(found)} finding(s), {warnings} warning(s) in {len(zones)} zone(s)")
    return CHANGED if any(f["severity"] == lints.WARNING for f in found) else 0


def add_parsers(sub: Any) -> None:
    """`diff` and `lint` on the CLI's subcommand parser."""
    diff = sub.add_parser("diff", help="record and routing diff of two zone files or dirs")
    diff.add_argument("old", metavar="OLD", help="zone file or directory before the change")
    diff.add_argument("new", metavar="NEW", help="zone file or directory after the change")
    diff.add_argument("--config", help="config whose GeoIP databases decide (default: demo)")
    diff.add_argument("--json", action="store_true", help="machine-readable output")
    diff.add_argument("--fail-on-change", action="store_true", help="exit 1 if routing moves")
    diff.add_argument("--limit", type=int, default=20, help="ranges listed per move (20)")
    diff.set_defaults(func=cmd_diff)
    lint = sub.add_parser("lint", help="policy findings: fall-throughs, unchecked failover")
    lint.add_argument(
        "zones", nargs="*", metavar="ZONE", help="zone files or dirs (default: config's)"
    )
    lint.add_argument("--config", help="config (zones_dir and GeoIP; default: the demo)")
    lint.add_argument("--json", action="store_true", help="machine-readable output")
    lint.set_defaults(func=cmd_lint)
