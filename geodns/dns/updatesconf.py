"""The `updates:` section (RFC 2136 UPDATE): TSIG keys read once, and who may change what."""

from __future__ import annotations

import base64
import binascii
import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geodns.dns.tsig import ALGORITHMS, Key, name_wire
from geodns.errors import Problems, Where
from geodns.zones import yamlio

NEVER = ("SOA", "NS")  # the zone's own records: the zone document's soa: and ns: keys


@dataclass(frozen=True, slots=True)
class Allow:
    """One grant: the key may change these names (globs, relative to the zone or absolute)
    and types of static data."""

    key: str
    names: tuple[str, ...]
    types: tuple[str, ...]

    def permits(self, key: str, name: str, zone: str, rtype: str) -> bool:
        """`name` absolute, lower case; `zone` its origin with the dot."""
        return (rtype in self.types or "*" in self.types) and self.covers(key, name, zone)

    def covers(self, key: str, name: str, zone: str) -> bool:
        """The key may change some type at this name."""
        if key != self.key:
            return False
        relative = name[: -len(zone) - 1] if name.endswith("." + zone) else "@"
        for pattern in self.names:
            pat = pattern.lower()
            target = name if pat.endswith(".") else relative
            if fnmatch.fnmatchcase(target, pat):
                return True
        return False


@dataclass(frozen=True, slots=True)
class UpdatesConfig:
    """TSIG keys by name (secrets read at load), and the allow list; empty: UPDATE off."""

    tsig_keys: tuple[Key, ...] = ()
    allow: tuple[Allow, ...] = ()
    max_pending: int = 8  # updates of one worker waiting for the zone writer; more: SERVFAIL

    @property
    def keys(self) -> dict[bytes, Key]:
        """The keys by their wire name, as a TSIG record names one (a handful: built per use)."""
        return {key.wire: key for key in self.tsig_keys}

    @property
    def enabled(self) -> bool:
        return bool(self.tsig_keys)

    def permits(self, key: str, name: str, zone: str, rtype: str) -> bool:
        return rtype not in NEVER and any(a.permits(key, name, zone, rtype) for a in self.allow)


def read_secret(path: str) -> bytes:
    """A secret_file's base64 (what `tsig-keygen` and nsupdate -y print); ValueError why not."""
    try:
        text = Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    try:
        secret = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{path} must hold the secret in base64") from None
    if len(secret) < 16:
        raise ValueError(f"{path}: a secret of {len(secret)} bytes is too short (16 at least)")
    return secret


def parse(raw: Any, where: Where, base: Path, problems: Problems) -> UpdatesConfig:
    """The section from YAML, every problem with its line; paths from the config's folder."""
    if raw is None:
        return UpdatesConfig()
    if not isinstance(raw, dict):
        problems.add(where, "updates: must be a mapping")
        return UpdatesConfig()
    for key in raw:
        if key not in ("tsig_keys", "allow", "max_pending"):
            known = "allow, max_pending, tsig_keys"
            problems.add(_at(raw, key, where), f"updates: unknown key {key!r} (known: {known})")
    keys = _keys(raw.get("tsig_keys") or {}, _at(raw, "tsig_keys", where), base, problems)
    names = {k.name for k in keys}
    allow = _allow(raw.get("allow") or [], _at(raw, "allow", where), names, problems)
    pending = raw.get("max_pending", 8)
    if type(pending) is not int or pending < 1:
        problems.add(_at(raw, "max_pending", where), "updates.max_pending: a positive integer")
        pending = 8
    return UpdatesConfig(tuple(keys), tuple(allow), pending)


def _at(raw: Any, key: Any, where: Where) -> Where:
    return raw.at(key) if isinstance(raw, yamlio.LineDict) and key in raw else where


def _keys(raw: Any, where: Where, base: Path, problems: Problems) -> list[Key]:
    if not isinstance(raw, dict):
        problems.add(where, "updates.tsig_keys: a mapping of key name to {algorithm, secret_file}")
        return []
    out = []
    for name, spec in raw.items():
        at, path = _at(raw, name, where), f"updates.tsig_keys.{name}"
        if not isinstance(spec, dict) or set(spec) - {"algorithm", "secret_file"}:
            problems.add(at, f"{path}: must be {{algorithm, secret_file}}")
            continue
        algorithm = str(spec.get("algorithm", "hmac-sha256")).lower()
        if algorithm not in ALGORITHMS:
            problems.add(at, f"{path}.algorithm: one of {', '.join(ALGORITHMS)}")
            continue
        if not isinstance(spec.get("secret_file"), str):
            problems.add(at, f"{path}.secret_file: a path to a file holding base64")
            continue
        try:
            name_wire(str(name))
            file = str((base / os.path.expanduser(spec["secret_file"])).resolve())
            out.append(Key(str(name).lower().rstrip(".") + ".", algorithm, read_secret(file)))
        except (ValueError, UnicodeEncodeError) as exc:
            problems.add(at, f"{path}: {exc}")
    return out


def _allow(raw: Any, where: Where, keys: set[str], problems: Problems) -> list[Allow]:
    if not isinstance(raw, list):
        problems.add(where, "updates.allow: a list of {key, names, types}")
        return []
    out = []
    for i, item in enumerate(raw):
        at, path = (raw.at(i) if isinstance(raw, yamlio.LineList) else where), f"updates.allow[{i}]"
        if not isinstance(item, dict) or set(item) - {"key", "names", "types"}:
            problems.add(at, f"{path}: must be {{key, names, types}}")
            continue
        key = str(item.get("key", "")).lower().rstrip(".") + "."
        names, types = item.get("names"), item.get("types")
        if key not in keys:
            problems.add(at, f"{path}.key: no tsig_keys entry {item.get('key')!r}")
        elif not _strings(names) or not _strings(types):
            problems.add(at, f"{path}: names and types must be non-empty lists of strings")
        elif any(t.upper() in NEVER for t in types):
            problems.add(at, f"{path}.types: SOA and NS are the zone's own (never updated)")
        else:
            out.append(Allow(key, tuple(names), tuple(t.upper() for t in types)))
    return out


def _strings(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)
