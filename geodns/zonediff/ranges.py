"""Address ranges as CIDRs: the intervals a routing diff reports, split into prefixes."""

from __future__ import annotations

import ipaddress
from array import array
from collections.abc import Iterator

BITS = {4: 32, 16: 128}


def starts_of(width: int, packed: bytes) -> list[int]:
    """Range starts from the compiled layout: native-order uint32 (IPv4), 16-byte big-endian
    (IPv6), as geo/compiled.py's buffers hold them."""
    if width == 4:
        return list(array("I", packed))
    return [int.from_bytes(packed[i : i + 16], "big") for i in range(0, len(packed), 16)]


def cidrs(first: int, last: int, bits: int) -> Iterator[tuple[int, int]]:
    """The fewest (network, prefix) covering [first, last] exactly, in address order."""
    while first <= last:
        size = (first & -first).bit_length() - 1 if first else bits
        while size > 0 and first + (1 << size) - 1 > last:
            size -= 1
        yield first, bits - size
        first += 1 << size


def text(network: int, prefix: int, bits: int) -> str:
    address = ipaddress.IPv4Address(network) if bits == 32 else ipaddress.IPv6Address(network)
    return f"{address}/{prefix}"
