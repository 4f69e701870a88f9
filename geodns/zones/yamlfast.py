"""A quick reader for the plain, one-construct-per-line YAML that big `records:` sections use.

PyYAML builds a node object per scalar before constructing anything, which costs tens of
seconds on a million names. This reads the block mapping under a top-level `records:`
line directly, line by line, for a strict subset of YAML: block mappings and sequences,
flow collections closed on their own line, plain and simple quoted scalars, comments.
Plain scalars are resolved with PyYAML's own resolver table and constructors, so
`300`, `true` or `~` mean what they always mean. Anything outside the subset raises
Unsupported and the caller parses the whole file with PyYAML: the fast path must give
exactly what PyYAML gives, or nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

from geodns.errors import Where


class Unsupported(Exception):
    """The text uses YAML beyond the subset read here (or is not valid YAML)."""


_RESOLVERS = yaml.resolver.Resolver.yaml_implicit_resolvers
_STR = "tag:yaml.org,2002:str"
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_BUILD = yaml.constructor.SafeConstructor.yaml_constructors
_PLAIN_TAGS = {
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}

# Only printable ASCII and newlines: no tabs, CR, NEL or other line breaks YAML knows of.
_RECORDS_LINE = re.compile(r"records:[ ]*(?:#.*)?$", re.M)
_TOP_LEVEL_LINE = re.compile(r"\n[^ #\n]")
_FIRST_CONTENT = re.compile(r"^(?:[ ]*(?:#.*)?\n)*([^\n]*)")
_PLAIN_TOP_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*:(?: |$)")

# A plain scalar in block context: no indicator first, no quote, '#' or ': ' inside.
_PLAIN_BLOCK = r"(?:[^ ,\[\]{}#&*!|>'\"%@`?:\-]|-(?=[^ ]))(?:[^ #'\":]|:(?=[^ ])| +(?=[^ #'\":]))*"
# In flow context, also none of ,[]{}? and no ':' before a space or flow indicator.
_PLAIN_FLOW = (
    r"(?:[^ ,\[\]{}#&*!|>'\"%@`?:\-]|-(?=[^ ,\[\]{}]))"
    r"(?:[^ ,\[\]{}#'\"?:]|:(?=[^ ,\[\]{}])| +(?=[^ ,\[\]{}#'\"?:]))*"
)
_DQ = r'"([^"\\]*)"'
_SQ = r"'((?:[^']|'')*)'"
# `key:` or `key: rest` at the start of a line's content.
_KEY_LINE = re.compile(rf"(?:{_DQ}|{_SQ}|({_PLAIN_BLOCK})) *:(?: +(.*))?$")
_BLOCK_VALUE = re.compile(rf"(?:{_DQ}|{_SQ}|({_PLAIN_BLOCK}))(?: +#.*)? *$")
_FLOW_TOKEN = re.compile(rf" *(?:([\[\]{{}},])|{_DQ}|{_SQ}|(:)(?=[ ,\[\]{{}}]|$)|({_PLAIN_FLOW}))")
_TRAILER = re.compile(r" *(?:#.*)?$")
# The commonest line by far, `{A: 192.0.2.1, AAAA: "2001:db8::1"}`: scalars only, one level.
_FLOW_SCALAR = rf"(?:{_DQ}|{_SQ}|({_PLAIN_FLOW}))"
_FLOW_SCALAR_NG = rf"(?:\"[^\"\\]*\"|'(?:[^']|'')*'|{_PLAIN_FLOW})"
_FLAT_PAIR = f"{_FLOW_SCALAR_NG} *: +{_FLOW_SCALAR_NG}"
_FLAT_MAP = re.compile(rf"\{{( *{_FLAT_PAIR}(?: *, *{_FLAT_PAIR})* *)\}}(?: +#.*)? *$")
_PAIR = re.compile(rf" *,? *{_FLOW_SCALAR} *: +{_FLOW_SCALAR}")
_MAX_KEY = 1024  # longer implicit keys are a YAML error


def plain(value: str) -> Any:
    """A plain scalar, resolved and constructed as PyYAML's SafeLoader would."""
    for tag, regexp in _RESOLVERS.get(value[0], ()):
        if regexp.match(value):
            if tag not in _PLAIN_TAGS:
                raise Unsupported(f"{tag} scalar {value!r}")
            return _BUILD[tag](_CONSTRUCTOR, yaml.ScalarNode(tag, value))
    return value


class RecordsReader:
    """Reads the lines of one block mapping section into LineDicts and LineLists."""

    def __init__(self, text: str, span: tuple[int, int], first_line: int, filename: str, types):
        self.first = first_line  # the 1-based line number of text[span[0]]
        self.filename = filename
        self.line_dict, self.line_list = types
        self.duplicates: list[tuple[Where, str]] = []
        self.line_count = 0  # lines in the section, known once all are read
        self._last: Where = Where(filename, 0)
        self._items = self._content(text, *span)
        self.item = next(self._items, None)  # the current line: (number, indent, content)

    def _content(self, text: str, start: int, end: int) -> Iterator[tuple[int, int, str]]:
        """(line number, indent, content) of every line that is not blank or a comment.

        The text is split a chunk at a time: one split of 50 MB would hold the GIL ~0.1 s
        (and a list of every line would cost hundreds of MB).
        """
        number = self.first
        for lo, hi in chunks(text, start, end):
            for line in text[lo:hi].split("\n"):
                content = line.lstrip(" ")
                if content and content[0] != "#":
                    yield number, len(line) - len(content), content
                number += 1
        self.line_count = number - self.first

    def where(self, line: int) -> Where:
        found = self._last
        if found.line != line:
            found = self._last = Where(self.filename, line)
        return found

    def scalar(self, dq: str | None, sq: str | None, pl: str | None) -> Any:
        if dq is not None:
            return dq
        if sq is not None:
            return sq.replace("''", "'")
        return plain(pl)  # type: ignore[arg-type]

    def read(self) -> Any:
        """The section's value: a block mapping, or None when the section is empty."""
        if self.item is None:
            return None
        node = self.mapping(self.item[1])
        if self.item is not None:
            raise Unsupported("content after the section's mapping")
        return node

    def mapping(self, indent: int) -> Any:
        result = self.line_dict()
        result.where = self.where(self.item[0])  # type: ignore[index]
        key_where = result.key_where
        items = self._items
        while self.item is not None:
            line, ind, content = self.item
            if ind < indent:
                break
            if ind > indent or content.startswith("- ") or content == "-":
                raise Unsupported("unexpected indentation or sequence")
            m = _KEY_LINE.match(content)
            if m is None:
                raise Unsupported("not a simple `key: value` line")
            dq, sq, pl, rest = m.groups()
            if len(dq or sq or pl or "") > _MAX_KEY:
                raise Unsupported("implicit key longer than 1024 characters")
            key = self.scalar(dq, sq, pl)
            mark = len(self.duplicates)
            self.item = next(items, None)
            value = self.value(indent, rest, line)
            at = self.where(line)
            if key in result:
                del self.duplicates[mark:]  # PyYAML never builds a duplicate key's value
                self.duplicates.append((at, f"duplicate key {key!r}"))
                continue
            result[key] = value
            key_where[key] = at
        return result

    def value(self, indent: int, rest: str | None, line: int) -> Any:
        """The value after `key:` on `line`; self.item is the line after it."""
        after = self.item
        if not rest or rest.startswith("#"):
            if after is not None and after[1] > indent:
                if after[2].startswith("- ") or after[2] == "-":
                    return self.sequence(after[1])
                return self.mapping(after[1])
            if after is not None and after[1] == indent and after[2].startswith("-"):
                raise Unsupported("sequence at its key's indentation")
            return None
        if after is not None and after[1] > indent:
            raise Unsupported("a value continued on the next line")
        return self.inline(rest, line)

    def sequence(self, indent: int) -> Any:
        result = self.line_list()
        result.where = self.where(self.item[0])  # type: ignore[index]
        while self.item is not None:
            line, ind, content = self.item
            if ind < indent:
                break
            if ind > indent or not content.startswith("- "):
                raise Unsupported("not a simple `- item` line")
            self.item = next(self._items, None)
            if self.item is not None and self.item[1] > indent:
                raise Unsupported("a sequence item continued on the next line")
            rest = content[2:].lstrip(" ")
            if not rest or rest.startswith("#") or _KEY_LINE.match(rest):
                raise Unsupported("empty or mapping sequence item")
            result.append(self.inline(rest, line))
            result.item_where.append(self.where(line))
        return result

    def inline(self, text: str, line: int) -> Any:
        """A value that starts and ends on this line: a flow collection or a scalar."""
        if text[0] == "{":
            flat = _FLAT_MAP.match(text)
            if flat is not None:
                return self.flat_map(text, flat.end(1), line)
        if text[0] in "[{":
            node, pos = self.flow(text, 0, line)
            if _TRAILER.match(text, pos) is None:
                raise Unsupported("text after a flow collection")
            return node
        m = _BLOCK_VALUE.match(text)
        if m is None:
            raise Unsupported("not a simple scalar")
        return self.scalar(*m.groups())

    def flat_map(self, text: str, end: int, line: int) -> Any:
        """A one-level flow mapping of scalars that _FLAT_MAP has vouched for."""
        result = self.line_dict()
        result.where = at = self.where(line)
        scalar = self.scalar
        for m in _PAIR.finditer(text, 1, end):
            dq, sq, pl, dq2, sq2, pl2 = m.groups()
            key = scalar(dq, sq, pl)
            value = scalar(dq2, sq2, pl2)
            if key in result:
                self.duplicates.append((at, f"duplicate key {key!r}"))
            else:
                result[key] = value  # on the mapping's line: no key_where entry needed
        return result

    def flow(self, text: str, pos: int, line: int) -> tuple[Any, int]:
        """A flow collection starting at text[pos] ('[' or '{'); returns it and the end."""
        is_map = text[pos] == "{"
        closer = "}" if is_map else "]"
        result = self.line_dict() if is_map else self.line_list()
        result.where = at = self.where(line)
        m = _FLOW_TOKEN.match(text, pos + 1)
        if m is not None and m.group(1) == closer:
            return result, m.end()
        while True:
            if m is None or m.group(1) in ("]", "}", ","):
                raise Unsupported("empty flow entry")
            mark = len(self.duplicates)
            item, pos = self.flow_node(text, m, line)
            if is_map:
                c = _FLOW_TOKEN.match(text, pos)
                if c is None or c.group(4) is None:
                    raise Unsupported("flow mapping entry without ': '")
                v = _FLOW_TOKEN.match(text, c.end())
                if v is None or v.group(1) in ("]", "}", ","):
                    raise Unsupported("flow mapping entry without a value")
                value, pos = self.flow_node(text, v, line)
                if isinstance(item, (dict, list)):
                    raise Unsupported("complex key")
                if item in result:
                    del self.duplicates[mark:]  # PyYAML never builds a duplicate key's value
                    self.duplicates.append((at, f"duplicate key {item!r}"))
                else:
                    result[item] = value  # one line: at() falls back to result.where
            else:
                result.append(item)
            m = _FLOW_TOKEN.match(text, pos)
            if m is None:
                raise Unsupported("unexpected text in a flow collection")
            if m.group(1) == closer:
                return result, m.end()
            if m.group(1) != ",":
                raise Unsupported("expected ',' in a flow collection")
            m = _FLOW_TOKEN.match(text, m.end())

    def flow_node(self, text: str, m: re.Match, line: int) -> tuple[Any, int]:
        """The node a flow token `m` starts: a nested collection or a scalar."""
        punct = m.group(1)
        if punct is not None:
            if punct not in "[{":
                raise Unsupported(f"unexpected {punct!r}")
            return self.flow(text, m.start(1), line)
        if m.group(4) is not None:
            raise Unsupported("':' where a value belongs")
        return self.scalar(m.group(2), m.group(3), m.group(5)), m.end()


CHUNK = 1 << 18  # characters per C-level string or regex call on a big file


def chunks(text: str, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int]]:
    """(lo, hi) spans of about CHUNK characters covering text[start:end], cut after a newline
    (the last may end without one); hi excludes that newline."""
    end = len(text) if end is None else end
    while start < end:
        hi = text.find("\n", min(start + CHUNK, end - 1), end)
        if hi < 0:
            hi = end
        yield start, hi
        start = hi + 1


_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\n"


def _plain_ascii(text: str) -> bool:
    """Printable ASCII and newlines only (checked a chunk at a time: quicker than a regex)."""
    if not text.isascii():
        return False
    return not any(text[lo:hi].encode().translate(None, _PRINTABLE) for lo, hi in chunks(text))


def _line_starts(text: str, prefix: str, start: int = 0, most: int = 2) -> list[int]:
    """Offsets of lines from `start` on that begin with `prefix` (at most `most`)."""
    found = [start] if text.startswith(prefix, start) else []
    needle = "\n" + prefix
    for lo, hi in chunks(text, start):
        pos = text.find(needle, max(lo - 1, start), hi + 1)
        while pos >= 0 and len(found) < most:
            found.append(pos + 1)
            pos = text.find(needle, pos + 1, hi + 1)
        if len(found) >= most:
            break
    return found


def _next_top_level(text: str, start: int) -> int:
    """The offset of the first line from `start` on that begins at column 0 (not a comment)."""
    if start < len(text) and text[start] not in " #\n":
        return start
    for lo, hi in chunks(text, start):
        m = _TOP_LEVEL_LINE.search(text, max(lo - 1, start), hi + 1)
        if m is not None:
            return m.start() + 1
    return len(text)


def split_records(text: str) -> tuple[str, int, tuple[int, int]] | None:
    """(the text without the records section, the `records:` line, the section's span).

    None when the file does not have the shape the fast path reads: printable ASCII, a
    top-level block mapping, exactly one `records:` line at column 0 with nothing after it.
    """
    if not _plain_ascii(text):
        return None
    found = _line_starts(text, "records:")
    if len(found) != 1 or not _RECORDS_LINE.match(text, found[0]):
        return None
    first = _FIRST_CONTENT.match(text)
    if first is None or not _PLAIN_TOP_KEY.match(first.group(1)):
        return None
    start = text.find("\n", found[0])
    if start < 0:
        return None
    start += 1
    end = _next_top_level(text, start)
    records_line = text.count("\n", 0, start)  # 1-based line of `records:`
    return text[:start] + text[end:], records_line, (start, end)
