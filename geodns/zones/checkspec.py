"""Health check definitions in zone files (`checks:` templates or inline) -> CheckSpec."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from geodns.errors import Where
from geodns.model import CheckSpec
from geodns.zones.yamlio import parse_duration

CHECK_KEYS = (
    "type",
    "port",
    "path",
    "host",
    "expect",
    "contains",
    "tls_verify",
    "interval",
    "timeout",
    "rise",
    "fall",
    "target",
)
DEFAULT_PORTS = {"http": 80, "https": 443}
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(CheckSpec)}  # what an unset key is


class _Reporter(Protocol):
    def add(self, where: Where, message: str) -> None: ...


def _at(raw: Any, key: Any, fallback: Where) -> Where:
    return raw.at(key) if hasattr(raw, "at") else fallback


def parse(raw: Any, where: Where, out: _Reporter) -> CheckSpec | None:
    """Validate one check mapping; every problem is reported, None if any."""
    if not isinstance(raw, dict):
        out.add(where, "check: must be a mapping or the name of a template in checks:")
        return None
    bad = False
    for key in raw:
        if key not in CHECK_KEYS:
            out.add(_at(raw, key, where), f"check: unknown key {key!r}")
            bad = True
    kind = raw.get("type")
    if kind not in ("http", "https", "tcp"):
        out.add(_at(raw, "type", where), f"check: type must be http, https or tcp, got {kind!r}")
        return None
    values: dict[str, Any] = {"type": kind}
    try:
        values.update(_values(raw, kind))
    except (ValueError, TypeError) as exc:
        key = exc.args[1] if len(exc.args) > 1 else "type"
        out.add(_at(raw, key, where), f"check: {exc.args[0]}")
        return None
    if values.get("timeout", _DEFAULTS["timeout"]) > values.get("interval", _DEFAULTS["interval"]):
        out.add(_at(raw, "timeout", where), "check: timeout must not exceed interval")
        bad = True
    return None if bad else CheckSpec(**values)


def _values(raw: Any, kind: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    port = raw.get("port", DEFAULT_PORTS.get(kind))
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port must be 1-65535, got {port!r}", "port")
    values["port"] = port
    for key in ("interval", "timeout"):
        if key in raw:
            try:
                values[key] = parse_duration(raw[key])
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}", key) from exc
            if values[key] <= 0:
                raise ValueError(f"{key} must be positive", key)
    for key in ("rise", "fall"):
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
                raise ValueError(f"{key} must be an integer from 1 to 100", key)
            values[key] = value
    if "expect" in raw:
        expect = raw["expect"] if isinstance(raw["expect"], list) else [raw["expect"]]
        if not expect or not all(isinstance(c, int) and 100 <= c <= 599 for c in expect):
            raise ValueError("expect must be HTTP status codes (100-599)", "expect")
        values["expect"] = tuple(expect)
    for key in ("path", "host", "contains", "target"):
        if key in raw:
            if not isinstance(raw[key], (str, int)) or isinstance(raw[key], bool):
                raise ValueError(f"{key} must be a string", key)
            values[key] = str(raw[key])
    if "path" in values and not values["path"].startswith("/"):
        raise ValueError("path must start with /", "path")
    if "tls_verify" in raw:
        if not isinstance(raw["tls_verify"], bool):
            raise ValueError("tls_verify must be true or false", "tls_verify")
        values["tls_verify"] = raw["tls_verify"]
    return values


def parse_templates(raw: Any, where: Where, out: _Reporter) -> dict[str, CheckSpec | None]:
    """The zone's `checks:` section: name -> spec (None for a broken one, already reported)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        out.add(where, "checks: must be a mapping of template name to check")
        return {}
    return {str(name): parse(body, _at(raw, name, where), out) for name, body in raw.items()}


def resolve(raw: Any, where: Where, templates: dict[str, CheckSpec | None], out: _Reporter):
    """A pool's `check:` is a template name or an inline mapping."""
    if isinstance(raw, str):
        if raw not in templates:
            known = ", ".join(sorted(templates)) or "none defined"
            out.add(where, f"check: unknown template {raw!r} (known: {known})")
            return None
        return templates[raw]
    return parse(raw, where, out)
