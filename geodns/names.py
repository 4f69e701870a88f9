"""Domain names: presentation text <-> wire form, labels, ancestry."""

from __future__ import annotations


def name_to_wire(name: str) -> bytes:
    """Absolute presentation name -> uncompressed wire form, keeping case.

    Supports `\\.` and `\\DDD` escapes. Raises ValueError on empty labels, labels over 63
    octets or names over 255 octets, so zone validation can say what is wrong.
    """
    if name in (".", ""):
        return b"\x00"
    if not name.endswith(".") or name.endswith("\\."):
        raise ValueError(f"name {name!r} is not absolute")
    labels: list[bytes] = []
    cur = bytearray()
    i, body = 0, name[:-1]
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            if body[i + 1 : i + 4].isdigit() and len(body[i + 1 : i + 4]) == 3:
                cur.append(int(body[i + 1 : i + 4]))
                i += 4
                continue
            cur.extend(body[i + 1].encode())
            i += 2
            continue
        if ch == ".":
            labels.append(bytes(cur))
            cur = bytearray()
        else:
            cur.extend(ch.encode())
        i += 1
    labels.append(bytes(cur))
    out = bytearray()
    for label in labels:
        if not label:
            raise ValueError(f"name {name!r} has an empty label")
        if len(label) > 63:
            raise ValueError(f"label {label[:20]!r}... in {name!r} is longer than 63 octets")
        out.append(len(label))
        out += label
    out.append(0)
    if len(out) > 255:
        raise ValueError(f"name {name!r} is longer than 255 octets")
    return bytes(out)


def _label_text(label: bytes) -> str:
    out = []
    for b in label:
        if b in (0x2E, 0x5C):
            out.append("\\" + chr(b))
        elif 0x21 <= b <= 0x7E:
            out.append(chr(b))
        else:
            out.append(f"\\{b:03d}")
    return "".join(out)


def wire_to_text(wire: bytes) -> str:
    """Uncompressed wire name -> presentation text (for logs, explain and errors)."""
    if wire == b"\x00":
        return "."
    return ".".join(_label_text(label) for label in wire_labels(wire)) + "."


def wire_labels(wire: bytes) -> list[bytes]:
    """Split an uncompressed wire name into its labels (without length octets)."""
    labels, i = [], 0
    while wire[i]:
        n = wire[i]
        labels.append(wire[i + 1 : i + 1 + n])
        i += n + 1
    return labels


def wire_parent(wire: bytes) -> bytes:
    """The wire name one label up (the root is its own parent)."""
    return wire if wire == b"\x00" else wire[wire[0] + 1 :]


def lower_wire(wire: bytes) -> bytes:
    """Case-fold a wire name: ASCII only (RFC 4343); length octets are < 64 so unaffected."""
    return wire.lower()


def is_below(name: bytes, ancestor: bytes) -> bool:
    """True if `name` is a proper descendant of `ancestor` (label-wise, not just by suffix)."""
    if len(name) <= len(ancestor) or not name.endswith(ancestor):
        return False
    pos = 0
    while pos < len(name) - len(ancestor):
        pos += name[pos] + 1
    return pos == len(name) - len(ancestor)
