"""What parsing one zone file carries: its problems, its origin and how names resolve there."""

from __future__ import annotations

import re
from typing import Any

from geodns import names, policies
from geodns.errors import Problems, Where
from geodns.zones import yamlio

MAX_TTL = 2**31 - 1  # RFC 2181 section 8


def at(raw: Any, key: Any, fallback: Where) -> Where:
    """Where `raw[key]` stood; `fallback` when raw is not a line-numbered YAML node."""
    return raw.at(key) if isinstance(raw, (yamlio.LineDict, yamlio.LineList)) else fallback


def as_int(value: Any, lo: int, hi: int) -> int | None:
    """The value if it is a true int (not a bool) within [lo, hi], else None."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        return None
    return value


# Names of plain labels (a leftmost '*' allowed) take a short cut past names.name_to_wire.
_SIMPLE_NAME = re.compile(r"(?:\*|[A-Za-z0-9_-]{1,63})(?:\.[A-Za-z0-9_-]{1,63})*\.?")


def simple_wire(text: str, origin: bytes) -> bytes | None:
    """The wire form of a _SIMPLE_NAME (relative ones below origin); None if over 255 octets."""
    if text.endswith("."):
        labels, tail = text[:-1].split("."), b"\x00"
    else:
        labels, tail = text.split("."), origin
    wire_name = b"".join([bytes((len(label),)) + label.encode() for label in labels]) + tail
    return wire_name if len(wire_name) <= 255 else None


class FileState:
    """State for parsing one file: its problems, origin, and what it has seen so far."""

    def __init__(self, path: str, problems: Problems) -> None:
        self.path = path
        self.problems = problems
        self.origin = b"\x00"
        self.origin_text = "."
        self.ttl = 3600
        self.policy_cache: dict[Any, Any] = {}  # policy block shape -> parsed node
        self.node_keys = policies.node_keys()  # once per file: a zone may have a million names

    def add(self, where: Where, message: str) -> None:
        self.problems.add(where, message)

    def name(self, text: Any, where: Where, *, owner: bool = False) -> bytes | None:
        """Resolve a relative or absolute name against the origin; None (and a problem) if bad."""
        if type(text) is str and _SIMPLE_NAME.fullmatch(text):
            wire_name = simple_wire(text, self.origin)
            if wire_name is not None and (not owner or wire_name.endswith(self.origin)):
                return wire_name.lower() if owner else wire_name
        if not isinstance(text, (str, int)) or isinstance(text, bool):
            self.add(where, f"name {text!r} must be a string")
            return None
        text = str(text).strip()
        if text == "@":
            return self.origin
        if text.endswith("."):
            absolute = text
        else:
            absolute = text + "." + (self.origin_text if self.origin_text != "." else "")
        try:
            wire_name = names.name_to_wire(absolute)
        except ValueError as exc:
            self.add(where, str(exc))
            return None
        lower = wire_name.lower()
        if owner and not lower.endswith(self.origin):
            self.add(where, f"{text!r} is outside the zone {self.origin_text}")
            return None
        if owner and b"*" in names.wire_labels(lower)[1:]:
            self.add(where, f"{text!r}: a wildcard label '*' is only allowed leftmost")
            return None
        return lower if owner else wire_name

    def ttl_value(self, value: Any, where: Where, what: str) -> int | None:
        ttl = as_int(value, 0, MAX_TTL)
        if ttl is None:
            self.add(where, f"{what}: TTL {value!r} must be an integer from 0 to {MAX_TTL}")
        return ttl
