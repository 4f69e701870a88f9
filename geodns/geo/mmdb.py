"""A MaxMind DB read for routing: the search tree walked over a map of a private, sealed copy
(geo/snapshot.py), records decoded only for the few fields a decision uses (the maxminddb
extension decodes whole records, every name in eight languages, at ~10 µs a lookup, and
keeps its pages resident)."""

from __future__ import annotations

import mmap
import struct
import sys
from array import array

from geodns.geo import snapshot

_U32 = struct.Struct(">I").unpack_from
_F64 = struct.Struct(">d").unpack_from
_F32 = struct.Struct(">f").unpack_from
_POINTER, _STRING, _DOUBLE, _MAP, _INT32, _ARRAY, _BOOL, _FLOAT = 1, 2, 3, 7, 8, 11, 14, 15
_UINTS = (5, 6, 9, 10)
_CITY_KEYS = {
    b"continent": "continent",
    b"country": "country",
    b"registered_country": "registered_country",
    b"subdivisions": "subdivisions",
    b"location": "location",
}
_ISO, _CODE = {b"iso_code": "code"}, {b"code": "code"}
_LOCATION = {b"latitude": "lat", b"longitude": "lon"}
_ASN = {b"autonomous_system_number": "asn"}
EMPTY = -1  # lookup result: the address is in the tree but has no data


class Database:
    """Search tree + data section of one .mmdb file; `lookup` gives (record, prefix)."""

    def __init__(
        self, source: str | mmap.mmap, node_count: int, record_size: int, ip_version: int
    ) -> None:
        """`source`: a map of a private copy (snapshot.Snapshot.map), or a path to copy so;
        never the operator's file mapped directly, which a `cp` over it can cut (SIGBUS)."""
        if record_size not in (24, 28, 32):
            raise ValueError(f"unsupported record size {record_size}")
        if isinstance(source, str):
            with snapshot.Snapshot(source) as snap:
                source = snap.map()
        self.buf = source
        self.node_count = node_count
        self.record_size = record_size
        self.ip_version = ip_version
        self.tree_size = node_count * record_size // 4
        self.data_start = self.tree_size + 16
        self.lookups = 0
        v4, depth = 0, 0
        if ip_version == 6:
            while depth < 96 and v4 < node_count:
                v4, depth = self._node(v4, 0), depth + 1
        # (node << 8 | depth) after the first 16 bits of every IPv4 address
        self._v4_16 = self._level(v4 << 8, 16)
        self.release()  # the walk above touched pages all over the tree
        self._v6_32: dict[int, int] = {}
        self._keys: dict[int, bytes] = {}
        self._ptr_keys: dict[bytes, bytes] = {}  # a key's pointer as stored -> the key
        self._codes: dict[int, str | None] = {}

    def close(self) -> None:
        self.buf.close()

    def release(self) -> None:
        """Drop our page mappings (the memfd keeps the data): bounds what RSS shows of it."""
        self.buf.madvise(mmap.MADV_DONTNEED)

    def _node(self, node: int, bit: int) -> int:
        buf, size = self.buf, self.record_size
        if size == 28:
            off = node * 7
            if bit:
                return _U32(buf, off + 3)[0] & 0x0FFFFFFF
            v = _U32(buf, off)[0]
            return (v >> 8) | ((v & 0xF0) << 20)
        if size == 24:
            return _U32(buf, node * 6 + 3 * bit)[0] >> 8
        return _U32(buf, node * 8 + 4 * bit)[0]

    def _level(self, start: int, bits: int) -> array:
        """(node << 8 | depth) reached by each of the 2**bits prefixes, breadth first."""
        nc, read = self.node_count, self._node
        level = [start]
        for depth in range(1, bits + 1):
            below = []
            for entry in level:
                node = entry >> 8
                if node >= nc:  # a leaf above this depth: every longer prefix ends there
                    below += (entry, entry)
                else:
                    below += (read(node, 0) << 8 | depth, read(node, 1) << 8 | depth)
            level = below
        return array("q", level)

    def _walk(self, node: int, value: int, bits: int, depth: int, stop: int) -> tuple[int, int]:
        nc, read = self.node_count, self._node
        while depth < stop and node < nc:
            node = read(node, (value >> (bits - 1 - depth)) & 1)
            depth += 1
        return node, depth

    def lookup(self, address: bytes) -> tuple[int, int]:
        """(data offset or EMPTY, prefix length in the address's own family)."""
        self.lookups += 1
        if len(address) == 4:
            value = _U32(address)[0]
            top = self._v4_16[value >> 16]
            node, depth = self._walk(top >> 8, value, 32, top & 0xFF, 32)
        else:
            if self.ip_version == 4:
                return EMPTY, 0
            value = int.from_bytes(address, "big")
            top = self._v6_32.get(value >> 96)
            if top is None:
                if len(self._v6_32) >= 16384:
                    self._v6_32.clear()
                node, depth = self._walk(0, value, 128, 0, 32)
                top = self._v6_32[value >> 96] = node << 8 | depth
            node, depth = self._walk(top >> 8, value, 128, top & 0xFF, 128)
        nc = self.node_count
        if node <= nc:  # == nc: no data; < nc cannot happen in a valid tree
            return EMPTY, depth
        return node - nc + self.tree_size, depth

    # --- the data section, read only as far as needed ------------------------------------

    def _ctrl(self, off: int) -> tuple[int, int, int]:
        """(type, size, offset of the payload) of the value at `off` (not a pointer)."""
        buf = self.buf
        b = buf[off]
        kind, size = b >> 5, b & 0x1F
        off += 1
        if kind == 0:
            kind, off = 7 + buf[off], off + 1
        if size >= 29:
            n = size - 28
            extra = int.from_bytes(buf[off : off + n], "big")
            size = (29, 285, 65821)[n - 1] + extra
            off += n
        return kind, size, off

    def _deref(self, off: int) -> int:
        """Where the value at `off` really is: follows one pointer."""
        buf = self.buf
        b = buf[off]
        if b >> 5 != _POINTER:
            return off
        n, high = ((b >> 3) & 3) + 1, b & 7
        raw = int.from_bytes(buf[off + 1 : off + 1 + n], "big")
        base = (0, 2048, 526336, 0)[n - 1]
        target = raw if n == 4 else ((high << (8 * n)) | raw) + base
        return self.data_start + target

    def _skip(self, off: int) -> int:
        """The offset just past the value at `off` (a pointer is skipped, not followed)."""
        b = self.buf[off]
        if b >> 5 == _POINTER:
            return off + 2 + ((b >> 3) & 3)
        kind, size, off = self._ctrl(off)
        if kind == _MAP:
            for _ in range(size * 2):
                off = self._skip(off)
        elif kind == _ARRAY:
            for _ in range(size):
                off = self._skip(off)
        elif kind != _BOOL:
            off += size
        return off

    def _key(self, off: int) -> bytes:
        target = self._deref(off)
        key = self._keys.get(target)
        if key is None:
            _, size, start = self._ctrl(target)
            key = self._keys[target] = self.buf[start : start + size]
        return key

    def _fields(self, off: int, wanted: dict[bytes, str]) -> dict[str, int]:
        """Offsets of the wanted keys' values in the map at `off` (empty if not a map).

        Keys and most values are pointers in MaxMind's files: those are handled inline,
        keys looked up by their pointer bytes.
        """
        kind, size, off = self._ctrl(self._deref(off))
        found: dict[str, int] = {}
        if kind != _MAP:
            return found
        buf, ptr_keys = self.buf, self._ptr_keys
        for _ in range(size):
            b = buf[off]
            if b >> 5 == _POINTER:
                end = off + 2 + ((b >> 3) & 3)
                raw = buf[off:end]
                key = ptr_keys.get(raw)
                if key is None:
                    key = ptr_keys[raw] = self._key(off)
                off = end
            else:
                key = self._key(off)
                off = self._skip(off)
            name = wanted.get(key)
            if name is not None:
                found[name] = off
                if len(found) == len(wanted):
                    break
            b = buf[off]
            off = off + 2 + ((b >> 3) & 3) if b >> 5 == _POINTER else self._skip(off)
        return found

    def _value(self, off: int | None) -> object:
        """A scalar (string, number, bool); None for anything else or a missing field."""
        if off is None:
            return None
        kind, size, start = self._ctrl(self._deref(off))
        raw = self.buf[start : start + size] if kind != _BOOL else b""
        if kind == _STRING:
            return sys.intern(raw.decode("utf-8", "replace"))
        if kind in _UINTS:
            return int.from_bytes(raw, "big")
        if kind == _INT32:
            return int.from_bytes(raw, "big", signed=size == 4)
        if kind == _DOUBLE and size == 8:
            return _F64(raw)[0]
        if kind == _FLOAT and size == 4:
            return _F32(raw)[0]
        if kind == _BOOL:
            return bool(size)
        return None

    def _first(self, off: int | None) -> int | None:
        """The first element of the array at `off`."""
        if off is None:
            return None
        kind, size, start = self._ctrl(self._deref(off))
        return start if kind == _ARRAY and size else None

    def city(self, off: int) -> tuple[str | None, str | None, str | None, object, object]:
        """(continent, country, subdivision "CC-SUB", lat, lon) of a City/Country record;
        country falls back to registered_country, as the maxminddb-based code did."""
        top = self._fields(off, _CITY_KEYS)
        code = self._code
        continent = code(top.get("continent"), _CODE)
        country = code(top.get("country"), _ISO) or code(top.get("registered_country"), _ISO)
        subdivision = None
        sub = code(self._first(top.get("subdivisions")), _ISO)
        if sub and country:
            subdivision = sys.intern(f"{country}-{sub}")
        lat = lon = None
        if "location" in top:
            loc = self._fields(top["location"], _LOCATION)
            lat, lon = self._value(loc.get("lat")), self._value(loc.get("lon"))
        return continent, country, subdivision, lat, lon

    def asn(self, off: int) -> int | None:
        number = self._value(self._fields(off, _ASN).get("asn"))
        return number if isinstance(number, int) else None

    def _code(self, off: int | None, wanted: dict[bytes, str]) -> str | None:
        """The code in a continent/country/subdivision map; shared maps are read once."""
        if off is None:
            return None
        off = self._deref(off)
        if off in self._codes:
            return self._codes[off]
        value = self._value(self._fields(off, wanted).get("code"))
        code = value if isinstance(value, str) and value else None
        if len(self._codes) >= 65536:
            self._codes.clear()
        self._codes[off] = code
        return code
