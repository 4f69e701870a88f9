"""`geodns dnssec keygen|ds|status`: make keys, print the parent's DS, show the key timeline."""

from __future__ import annotations

import argparse
import base64
import sys
import time
from typing import Any

from geodns.dnssec import keyfile, keyset, sign


def _absolute(zone: str) -> str:
    return zone if zone.endswith(".") else zone + "."


def cmd_keygen(args: argparse.Namespace) -> int:
    """A new CSK (or a ZSK with --zsk) written as BIND would, so BIND's tools can edit it."""
    key = keyfile.generate(_absolute(args.zone), args.algorithm, ksk=not args.zsk)
    path = keyfile.write_key(key, args.dir)
    print(path.name.removesuffix(".key"))
    return 0


def _keys(args: argparse.Namespace) -> list[keyfile.Key] | None:
    try:
        keys = keyset.load_dir(args.dir, _absolute(args.zone))
    except keyfile.KeyError_ as exc:
        print(exc, file=sys.stderr)
        return None
    if not keys:
        print(f"{args.dir}: no key for {_absolute(args.zone)}", file=sys.stderr)
        return None
    return keys


def cmd_ds(args: argparse.Namespace) -> int:
    """The DS records (SHA-256) of the zone's active KSKs, ready for the parent."""
    keys = _keys(args)
    if keys is None:
        return 1
    state = keyset.state_at(keys, int(time.time()))
    for key in state.ksks or tuple(k for k in keys if k.is_ksk):
        ds = sign.ds_rdata(key)
        print(f"{_absolute(args.zone)} IN DS {key.tag} {key.algorithm} 2 {ds[4:].hex().upper()}")
    return 0


def _role(key: keyfile.Key, now: int) -> str:
    shown, signs = keyset.published(key, now), keyset.active(key, now)
    kind = "KSK" if key.is_ksk else "ZSK"
    return f"{kind} {'published' if shown else 'hidden'}, {'signing' if signs else 'not signing'}"


def cmd_status(args: argparse.Namespace) -> int:
    """Each key's state now and the next timing event (when answers are re-signed)."""
    keys = _keys(args)
    if keys is None:
        return 1
    now = int(time.time())
    for key in keys:
        times = " ".join(f"{k}={keyfile.format_time(v)}" for k, v in key.timing.items())
        print(f"{key.tag:5d} alg {key.algorithm} {_role(key, now)}  {times}")
        print(f"      DNSKEY {key.flags} 3 {key.algorithm} {base64.b64encode(key.public).decode()}")
    event = keyset.next_event(keys, now)
    print(
        f"next event: {keyfile.format_time(event[0])} {event[1]} of key {event[2].tag}"
        if event
        else "next event: none scheduled"
    )
    inception, expiration = sign.window(now)
    print(f"signatures now: {keyfile.format_time(inception)} .. {keyfile.format_time(expiration)}")
    return 0


def add_dnssec(sub: Any) -> None:
    parser = sub.add_parser("dnssec", help="DNSSEC keys: keygen, ds, status")
    verbs = parser.add_subparsers(dest="verb", required=True)
    keygen = verbs.add_parser("keygen", help="write a new key (a CSK by default)")
    keygen.add_argument("--algorithm", type=int, choices=(13, 15), default=13)
    keygen.add_argument("--zsk", action="store_true", help="a zone-signing key (split KSK/ZSK)")
    keygen.set_defaults(func=cmd_keygen)
    for verb, func, text in (
        ("ds", cmd_ds, "print the DS for the parent"),
        ("status", cmd_status, "keys, states and the next event"),
    ):
        verbs.add_parser(verb, help=text).set_defaults(func=func)
    for name in ("keygen", "ds", "status"):
        sub_parser = verbs.choices[name]
        sub_parser.add_argument("zone")
        sub_parser.add_argument("--dir", default=".", help="the key directory (default: .)")
