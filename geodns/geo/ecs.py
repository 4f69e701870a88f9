"""Every ECS rule (RFC 7871): option → client, validation, the source cap, scope, the echo."""

from __future__ import annotations

import ipaddress
import struct
from typing import Protocol

from geodns import wire as w
from geodns.model import FAMILY_V4, FAMILY_V6, FROM_SOURCE, Client, GeoFacts

# The facts of an ECS client whose policy tree is compiled (geo/compiled.py): its class and
# scope come from the compiled ranges by address, so the search tree is not walked for it.
UNLOOKED = GeoFacts(prefix_len=0, network="not looked up: compiled GeoIP decides")

# Echo pieces, precomputed: the reply's OPT RDLENGTH, option code and option length for an
# option body of n octets (at most 4 + 16), and the scope octet.
_LENGTHS = [struct.pack("!HHH", n + 4, w.OPT_ECS, n) for n in range(21)]
_SCOPES = [bytes([i]) for i in range(129)]


def parse(body: bytes) -> tuple[int, int, bytes]:
    """(family, source prefix, address octets) of an ECS option body; FormErr when it breaks
    RFC 7871 section 6 (the reply is then FORMERR)."""
    if len(body) < 4:
        raise w.FormErr("ECS option shorter than 4 octets")
    family, source, _scope = struct.unpack_from("!HBB", body)
    if family == 1:
        bits = 32
    elif family == 2:
        bits = 128
    else:
        raise w.FormErr(f"ECS family {family} unknown")
    if source > bits:
        raise w.FormErr(f"ECS source prefix /{source} too long for family {family}")
    addr = body[4:]
    if len(addr) != (source + 7) // 8:
        raise w.FormErr("ECS address length does not match its source prefix")
    if source % 8 and addr[-1] & (0xFF >> (source % 8)):
        raise w.FormErr("ECS address has bits set past its source prefix")
    return family, source, bytes(addr)


def check(body: bytes) -> None:
    """parse() for its FormErr only: the validator the query parser calls on an ECS body,
    so a malformed option fails exactly where the walk finds it."""
    parse(body)


def valid(body: bytes) -> bool:
    """True when the option body passes RFC 7871's checks (the fast path's question)."""
    try:
        parse(body)
    except w.FormErr:
        return False
    return True


def scope(decided: int, source: int) -> int:
    """The scope we answer with: the decision's, never more than the (capped) source prefix,
    so 0 for source prefix 0 ("decide by the packet source": the answer is not theirs)."""
    return decided if decided < source else source


def echo(body: bytes, decided: int, source: int) -> bytes:
    """Our OPT's RDLENGTH and its one option: the query's ECS echoed with our scope (RFC 7871
    7.2.1); the address octets go back as received."""
    scope_prefix = decided if decided < source else source  # scope(), inlined: hot path
    return _LENGTHS[len(body)] + body[:3] + _SCOPES[scope_prefix] + body[4:]


def option(body: bytes, scope_prefix: int) -> bytes:
    """The echoed ECS option alone (code, length, data), for an OPT assembled elsewhere."""
    return _LENGTHS[len(body)][2:] + body[:3] + _SCOPES[scope_prefix] + body[4:]


class FactsSource(Protocol):
    """What a client factory needs of the GeoIP side (geo.locator.Locator)."""

    def facts(self, family: int, address: bytes) -> GeoFacts: ...

    def watch_hits(self, counter: object) -> None: ...


def _truncate(address: bytes, prefix: int) -> bytes:
    whole, rest = divmod(prefix, 8)
    if rest == 0:
        return address[:whole]
    return address[:whole] + bytes([address[whole] & (0xFF << (8 - rest)) & 0xFF])


def _pad(address: bytes, family: int) -> bytes:
    return address.ljust(4 if family == FAMILY_V4 else 16, b"\x00")


class ClientFactory:
    """Builds the Client a decision is made for, from ECS or the packet source.

    Source clients are cached by address text; ECS options are cached by the handler (one
    entry per option, with the facts and the last answer's pieces), bounded by
    `cache_size`. `hits` counts cache hits for the geoip_cache_hits metric.
    """

    def __init__(
        self,
        locator: FactsSource,
        enabled: bool = True,
        max_source_v4: int = 24,
        max_source_v6: int = 56,
        cache_size: int = 131072,
    ) -> None:
        self.locator = locator
        self.enabled = enabled
        self.max_v4, self.max_v6 = max_source_v4, max_source_v6
        self.cache_size = cache_size
        self.hits = 0
        self._by_host: dict[str, Client] = {}
        locator.watch_hits(self)

    def source(self, body: bytes) -> int:
        """The source prefix we act on for a valid option: capped at max_source_v4/v6, so
        a /32 from a resolver is treated (and scoped) as the /24 we promise to look at."""
        cap = self.max_v4 if body[1] == FAMILY_V4 else self.max_v6
        source = body[2]
        return source if source < cap else cap

    def client(self, body: bytes | None, host: str) -> Client:
        """The client of a query: its ECS option when it has one with a source prefix, else
        the packet source (source prefix 0 asks for exactly that)."""
        facts = None if body is None else self.option_facts(body)
        if facts is None or facts is FROM_SOURCE:
            return self.from_source(host)
        return self.option_client(body, facts)  # type: ignore[arg-type]

    def from_source(self, host: str) -> Client:
        """The packet source; IPv4-mapped IPv6 is IPv4, a `%zone` suffix is dropped."""
        client = self._by_host.get(host)
        if client is None:
            ip = ipaddress.ip_address(host.partition("%")[0])
            if ip.version == 6 and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            family = FAMILY_V4 if ip.version == 4 else FAMILY_V6
            packed = ip.packed
            client = Client(
                packed, family, len(packed) * 8, False, self.locator.facts(family, packed)
            )
            if len(self._by_host) >= 8192:
                self._by_host.clear()
            self._by_host[host] = client
        else:
            self.hits += 1
        return client

    def option_facts(self, body: bytes, lookup: bool = True) -> GeoFacts | None:
        """GeoFacts for raw ECS option data (FROM_SOURCE for source prefix 0: the caller
        decides by the packet source); None if the option is malformed (FORMERR). Without
        `lookup` (a compiled tree decides by address), UNLOOKED instead of a tree walk."""
        try:
            family, source, addr = parse(body)
        except w.FormErr:
            return None
        if source == 0:
            return FROM_SOURCE
        if not lookup:
            return UNLOOKED
        return self.locator.facts(family, self._packed(family, source, addr))

    def option_client(self, body: bytes, facts: GeoFacts) -> Client:
        """The Client of a valid ECS option (source prefix > 0) whose facts are known."""
        family, source = body[1], self.source(body)
        return Client(self._packed(family, source, body[4:]), family, source, True, facts)

    def _packed(self, family: int, source: int, addr: bytes) -> bytes:
        prefix = min(source, self.max_v4 if family == FAMILY_V4 else self.max_v6)
        return _pad(_truncate(_pad(addr, family), prefix), family)
