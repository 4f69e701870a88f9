"""DNS COOKIE, server side (RFC 7873), server cookies as RFC 9018 makes them interoperable.

A server cookie is version 1, three reserved bytes, a 4-byte timestamp and 8 bytes of
SipHash-2-4 over client cookie | version | reserved | timestamp | client address, keyed
by a 16-byte secret: any server of a fleet that holds the secret validates any other's
cookies. Computing one is a memo miss's cost only: the server cookie of each (client
cookie, client address) is kept in dns/cache.py and made afresh after half an hour, so a
resolver that sends the same client cookie every query pays one dict look-up.
"""

from __future__ import annotations

import ipaddress
import os
import struct
import time
from collections.abc import Callable
from pathlib import Path

from siphashc import siphash

from geodns.dns.cache import Memos

FRESH_FOR = 1800  # a server cookie older than this is replaced (RFC 9018 4.3)
VALID_FOR = 3600  # a presented one older than this is invalid
AHEAD = 300  # a presented timestamp up to this far ahead is accepted (clock skew)
SECRET_SIZE = 16
_HEAD = struct.pack("!HH", 10, 24)  # COOKIE option, 8-byte client + 16-byte server cookie
_VERSION_1 = b"\x01\x00\x00\x00"  # version 1 and the 3 reserved bytes


def well_formed(body: bytes) -> bool:
    """RFC 7873 5.2.2: a client cookie alone (8), or with a server cookie of 8 to 32 bytes;
    anything else is answered FORMERR."""
    n = len(body)
    return n == 8 or 16 <= n <= 40


def random_secret() -> bytes:
    return os.urandom(SECRET_SIZE)


def packed_address(host: str) -> bytes:
    """The client address as RFC 9018 hashes it: 4 bytes for IPv4 (an IPv4-mapped IPv6
    peer included, as the native engine sees it: one client, one cookie on every path),
    16 for IPv6."""
    ip = ipaddress.ip_address(host.partition("%")[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.packed


def server_cookie(secret: bytes, client: bytes, address: bytes, timestamp: int) -> bytes:
    """The RFC 9018 server cookie for a client cookie and address at `timestamp`."""
    head = _VERSION_1 + (timestamp & 0xFFFFFFFF).to_bytes(4, "big")
    return head + siphash(secret, client + head + address).to_bytes(8, "little")


def age(timestamp: int, now: int) -> int:
    """Seconds since `timestamp` in serial arithmetic (RFC 1982): the field wraps in 2106."""
    delta = (now - timestamp) & 0xFFFFFFFF
    return delta - (1 << 32) if delta >= 1 << 31 else delta


class ServerCookies:
    """Answers a query's COOKIE option: the client cookie echoed with our server cookie.

    `option` is called once per answered query that carries a well-formed COOKIE, on the
    fast and slow paths alike, so both give the same bytes. `valid_seen` and `last` say
    what the last call found: the rate limiter reads them (a valid server cookie is never
    limited; a limited client with a cookie gets BADCOOKIE and a fresh cookie).
    """

    __slots__ = ("clock", "counts", "expires", "last", "memos", "result", "secret", "valid_seen")

    def __init__(
        self,
        secret: bytes,
        memos: Memos,
        counts: dict[str, int],
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(secret) != SECRET_SIZE:
            raise ValueError(f"a cookie secret is {SECRET_SIZE} bytes, not {len(secret)}")
        self.secret = secret
        self.memos = memos
        self.counts = counts
        self.clock = clock
        self.valid_seen = False
        self.last = b""
        self.result = ""  # what the last option() found, and until when it holds
        self.expires = 0

    def option(self, body: bytes, host: str) -> bytes:
        """The COOKIE option (code, length, data) for the reply to a query from `host`
        carrying the well-formed COOKIE `body`; counts it new, valid or invalid."""
        client = body[:8]
        now = int(self.clock())
        if host[:7] == "::ffff:" and "." in host:  # IPv4-mapped: the IPv4 client's memo
            host = host[7:]
        key = (client, host)
        cookies = self.memos.cookies
        found = cookies.get(key)
        if found is not None and 0 <= now - found[1] < FRESH_FOR:
            ours = found[0]
        else:
            ours = server_cookie(self.secret, client, packed_address(host), now)
            if found is None:
                self.memos.added()  # may empty every memo: store after
            cookies[key] = (ours, now)
        made = cookies[key][1]
        expires = made + FRESH_FOR
        if len(body) == 8:
            result = "new"
        elif body[8:] == ours or self.valid(body, host, now):
            result = "valid"
            self.valid_seen = True
            presented = now - age(int.from_bytes(body[12:16], "big"), now)
            expires = min(expires, presented + VALID_FOR)
        else:
            result = "invalid"  # treated as a client cookie alone (RFC 7873 5.2.4)
        self.counts[result] += 1
        self.result, self.expires = result, expires
        self.last = option = _HEAD + client + ours
        return option

    def valid(self, body: bytes, host: str, now: int) -> bool:
        """Whether the server cookie in `body` is one this secret made for this client,
        not older than an hour nor more than five minutes ahead (RFC 9018 4.3)."""
        server = body[8:]
        if len(server) != 16 or server[0] != 1:
            return False
        if not -AHEAD <= age(int.from_bytes(server[4:8], "big"), now) <= VALID_FOR:
            return False
        digest = siphash(self.secret, body[:8] + server[:8] + packed_address(host))
        return digest.to_bytes(8, "little") == server[8:]


def read_secret(path: str) -> bytes:
    """The 16-byte secret in a cookies.secret_file (32 hex digits); ValueError saying why not.

    Read by config at load, so a bad file is a config error with its line, not a crash."""
    try:
        text = Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{path} must hold 32 hex digits (16 bytes), not other text") from None
    if len(secret) != SECRET_SIZE:
        raise ValueError(f"{path} must hold 32 hex digits (16 bytes), not {len(text)}")
    return secret
