"""BIND key files (`K<zone>+<alg>+<tag>.key` / `.private`): read, write, key tag.

BIND's format is what operators' tools already write (`dnssec-keygen`, `dnssec-settime`),
so rollovers are driven by the timing metadata those tools set; we read the same files.
"""

from __future__ import annotations

import base64
import calendar
import os
import re
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from geodns.dnssec import signer as signers
from geodns.errors import GeoDNSError
from geodns.names import lower_wire, name_to_wire

ALG_ECDSAP256SHA256, ALG_ED25519 = 13, 15
ALGORITHMS = {ALG_ECDSAP256SHA256: "ECDSAP256SHA256", ALG_ED25519: "ED25519"}
FLAG_ZONE, FLAG_SEP = 0x0100, 0x0001
TIMING = ("Created", "Publish", "Activate", "Inactive", "Delete", "SyncPublish", "SyncDelete")
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


class KeyError_(GeoDNSError):
    """A key file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class Key:
    """One DNSKEY with its private half and BIND timing (epoch seconds; None: unset)."""

    zone: str
    flags: int
    algorithm: int
    public: bytes
    private: PrivateKey = field(repr=False, compare=False)
    timing: dict[str, int] = field(default_factory=dict, compare=False)
    path: str = ""

    @property
    def rdata(self) -> bytes:
        return self.flags.to_bytes(2, "big") + bytes([3, self.algorithm]) + self.public

    @property
    def tag(self) -> int:
        return key_tag(self.rdata)

    @cached_property
    def signer(self) -> signers.Sign:
        """Signs bytes with this key (libcrypto in C, else `cryptography`): made once."""
        return signers.signer_for(self.algorithm, self.private, self.public)

    @property
    def is_ksk(self) -> bool:
        return bool(self.flags & FLAG_SEP)

    def when(self, event: str) -> int | None:
        return self.timing.get(event)


def key_tag(rdata: bytes) -> int:
    """RFC 4034 Appendix B: the ones'-complement-ish sum every resolver computes."""
    acc = 0
    for i, byte in enumerate(rdata):
        acc += byte if i & 1 else byte << 8
    acc += (acc >> 16) & 0xFFFF
    return acc & 0xFFFF


def parse_time(text: str) -> int:
    """BIND's YYYYMMDDHHMMSS (UTC) as epoch seconds."""
    if not re.fullmatch(r"\d{14}", text):
        raise ValueError(f"not a YYYYMMDDHHMMSS time: {text!r}")
    return calendar.timegm(time.strptime(text, "%Y%m%d%H%M%S"))


def format_time(epoch: int) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(epoch))


def public_bytes(private: PrivateKey) -> bytes:
    """The DNSKEY public key field: X||Y for P-256 (RFC 6605), the raw key for Ed25519."""
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return private.public_key().public_bytes_raw()
    numbers = private.public_key().public_numbers()
    return numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")


def _private_from(algorithm: int, raw: bytes) -> PrivateKey:
    if algorithm == ALG_ED25519:
        return ed25519.Ed25519PrivateKey.from_private_bytes(raw)
    return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())


def _read_private(path: Path) -> tuple[int, bytes, dict[str, int]]:
    fields: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    if "Algorithm" not in fields or "PrivateKey" not in fields:
        raise ValueError("no Algorithm or PrivateKey line")
    algorithm = int(fields["Algorithm"].split()[0])
    raw = base64.b64decode(fields["PrivateKey"], validate=True)
    timing = {k: parse_time(fields[k]) for k in TIMING if k in fields}
    return algorithm, raw, timing


def _read_public(path: Path) -> tuple[str, int, int, bytes]:
    for line in path.read_text().splitlines():
        line = line.split(";", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        at = [p.upper() for p in parts].index("DNSKEY")
        flags, proto, algorithm = (int(p) for p in parts[at + 1 : at + 4])
        if proto != 3:
            raise ValueError(f"DNSKEY protocol {proto}, not 3")
        return parts[0], flags, algorithm, base64.b64decode("".join(parts[at + 4 :]))
    raise ValueError("no DNSKEY record")


def read_key(key_path: str | Path, zone: str) -> Key:
    """The key whose `.key` file is `key_path` (its `.private` beside it), checked to be
    for `zone`, of an algorithm we sign with, and with a private half matching the public."""
    key_path = Path(key_path)
    private_path = key_path.with_suffix(".private")
    try:
        owner, flags, algorithm, public = _read_public(key_path)
        alg2, raw, timing = _read_private(private_path)
        private = _private_from(alg2, raw)
    except (OSError, ValueError, IndexError) as exc:
        raise KeyError_(f"{key_path}: cannot read the key: {exc}") from exc
    if lower_wire(name_to_wire(owner)) != lower_wire(name_to_wire(zone)):
        raise KeyError_(f"{key_path}: the key is for {owner}, not {zone}")
    if algorithm not in ALGORITHMS or alg2 != algorithm:
        raise KeyError_(f"{key_path}: algorithm {algorithm} (geodns signs with 13 and 15)")
    if public_bytes(private) != public:
        raise KeyError_(f"{key_path}: {private_path.name} does not match the public key")
    if not flags & FLAG_ZONE:
        raise KeyError_(f"{key_path}: not a zone key (flags {flags})")
    return Key(zone, flags, algorithm, public, private, timing, str(key_path))


def generate(zone: str, algorithm: int = ALG_ECDSAP256SHA256, ksk: bool = True) -> Key:
    """A new key, active now (a CSK carries the SEP flag, as BIND's `-f KSK` does)."""
    if algorithm == ALG_ED25519:
        private: PrivateKey = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == ALG_ECDSAP256SHA256:
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        raise KeyError_(f"algorithm {algorithm}: geodns signs with 13 and 15")
    now = int(time.time())
    timing = {"Created": now, "Publish": now, "Activate": now}
    flags = FLAG_ZONE | (FLAG_SEP if ksk else 0)
    return Key(zone, flags, algorithm, public_bytes(private), private, timing)


def file_stem(key: Key) -> str:
    zone = key.zone if key.zone.endswith(".") else key.zone + "."
    return f"K{zone.lower()}+{key.algorithm:03d}+{key.tag:05d}"


def write_key(key: Key, directory: str | Path) -> Path:
    """Write `.key` and `.private` as BIND does; the private file is mode 0600."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stem = str(directory / file_stem(key))  # not Path.with_suffix: ".+013+12345" is a suffix
    zone = key.zone if key.zone.endswith(".") else key.zone + "."
    kind = "key-signing" if key.is_ksk else "zone-signing"
    lines = [f"; This is a {kind} key, keyid {key.tag}, for {zone}"]
    lines += [f"; {k}: {format_time(v)}" for k, v in key.timing.items()]
    b64 = base64.b64encode(key.public).decode()
    lines.append(f"{zone} IN DNSKEY {key.flags} 3 {key.algorithm} {b64}")
    Path(stem + ".key").write_text("\n".join(lines) + "\n")
    private = [
        "Private-key-format: v1.3",
        f"Algorithm: {key.algorithm} ({ALGORITHMS[key.algorithm]})",
        f"PrivateKey: {base64.b64encode(signers.raw_private(key.private)).decode()}",
    ]
    private += [f"{k}: {format_time(v)}" for k, v in key.timing.items()]
    path = Path(stem + ".private")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(private) + "\n")
    return Path(stem + ".key")
