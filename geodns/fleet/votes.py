"""Votes without I/O: instance records, the quorum of fresh instances, dissent, generations."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from geodns.model import MemberKey, Zone

UP, DOWN = "up", "down"
OFF, JOINED, DEGRADED = "off", "joined", "degraded"


@dataclass(frozen=True, slots=True)
class Record:
    """What one instance publishes under `inst.<name>`: who it is and what its probes see."""

    instance: str
    version: str
    generation: str
    at: float  # epoch seconds it was written (its last heartbeat)
    bus: str  # "joined" | "degraded", as that instance saw itself
    verdicts: Mapping[MemberKey, str] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        rows = [[*key, state] for key, state in sorted(self.verdicts.items())]
        body = {
            "instance": self.instance,
            "version": self.version,
            "generation": self.generation,
            "at": self.at,
            "bus": self.bus,
            "verdicts": rows,
        }
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Record:
        """A record as published; ValueError (or KeyError/TypeError) on anything malformed."""
        return cls.from_dict(json.loads(data))

    @classmethod
    def from_dict(cls, raw: dict) -> Record:
        """Its verdicts when the record carries them whole (else none: see verdictmap.py)."""
        rows = raw.get("verdicts", [])
        verdicts = {(str(z), str(p), str(a)): str(s) for z, p, a, s in rows}
        return cls(
            str(raw["instance"]),
            str(raw["version"]),
            str(raw["generation"]),
            float(raw["at"]),
            str(raw["bus"]),
            verdicts,
        )


@dataclass(frozen=True, slots=True)
class Tally:
    """How the votes on one member stood: `down` of `voters` fresh instances, `need` to fail,
    and the rule (fleet.quorum) that set `need`, for explain."""

    down: int
    voters: int
    need: int
    rule: str = field(default="", compare=False)

    @property
    def verdict(self) -> str:
        return DOWN if self.down >= self.need else UP

    def words(self) -> str:
        rule = f", {self.rule}" if self.rule else ""
        return (
            f"{self.down} of {self.voters} fresh instances see it down ({self.need} needed{rule})"
        )


def needed(quorum: str | int, voters: int) -> int:
    """Down votes that take a member down: a strict majority; N (capped at the voters, so a
    fleet shrunk below N still fails a member every voter sees down); or, for "P%", enough
    that fewer than P% of the voters still see it up (a member stays up while at least P%
    do: availability first, as Route 53's health checkers with their 18%)."""
    if quorum == "majority":
        return voters // 2 + 1
    if isinstance(quorum, str) and quorum.endswith("%"):
        up_needed = math.ceil(voters * int(quorum[:-1]) / 100)
        return voters - up_needed + 1
    return min(int(quorum), voters)


def rule_words(quorum: str | int) -> str:
    """fleet.quorum in words, as explain says which rule decided."""
    if quorum == "majority":
        return "quorum majority"
    if isinstance(quorum, str) and quorum.endswith("%"):
        return f"quorum {quorum}: up while at least {quorum} of fresh instances see it up"
    return f"quorum {quorum}: down when {quorum} fresh instances see it down"


def fresh(records: Iterable[Record], now: float, stale_after: float) -> list[Record]:
    """The records heard within `stale_after`: only those vote."""
    return [r for r in records if now - r.at <= stale_after]


def tally(
    members: Iterable[MemberKey], voters: list[Mapping[MemberKey, str]], quorum: str | int
) -> dict[MemberKey, Tally]:
    """Each member's tally over the voters that have a verdict on it (instances serving other
    zones, or that never probed it yet, do not vote on it); members nobody judged are left out."""
    out: dict[MemberKey, Tally] = {}
    rule = rule_words(quorum)
    for member in members:
        states = [v[member] for v in voters if member in v]
        if states:
            down = sum(1 for s in states if s == DOWN)
            out[member] = Tally(down, len(states), needed(quorum, len(states)), rule)
    return out


def dissent(verdicts: Mapping[MemberKey, str], decided: Mapping[MemberKey, Tally]) -> list[str]:
    """The members on which these verdicts differ from the quorum, as zone/pool/address."""
    return sorted(
        "/".join(member)
        for member, state in verdicts.items()
        if member in decided and decided[member].verdict != state
    )


def generation(settings: object, zones: Iterable[Zone]) -> str:
    """A short hash of what shapes answers: the given settings and, per zone, its name,
    content hash and serial. Listen addresses, paths and the instance name stay out, so a
    fleet of identically configured servers shows one generation."""
    digest = hashlib.sha256(repr(settings).encode())
    for zone in sorted(zones, key=lambda z: z.origin_text):
        digest.update(f"\n{zone.origin_text} {zone.content_hash} {zone.serial}".encode())
    return digest.hexdigest()[:16]


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def key_part(text: str) -> str:
    """Text as a NATS key token (letters, digits, `_` and `-` kept, the rest `=xx` escaped)."""
    return _UNSAFE.sub(lambda m: "".join(f"={b:02x}" for b in m.group().encode()), text)


def member_key(member: MemberKey) -> str:
    """The bucket key of a member's drain: its three parts in one escaped token."""
    return "drain." + key_part("\t".join(member))
