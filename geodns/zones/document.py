"""Zone documents (the zone file's schema as data): parse a body, emit YAML, validate with paths.

A write is checked by the very parse and compile `geodns check` runs (zonefile.load_text,
table.compile_table), on the YAML text that would be stored; each problem's line is then
named by the document path that stood there (`pools.eu.addresses[1]`), because an API
caller has no file to look at.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import yaml

from geodns.dnssec import load as dnssec_load
from geodns.errors import ZoneError
from geodns.model import Zone
from geodns.table import compile_table
from geodns.zones import load, yamlio, zonefile

API_FILE = "<api>"  # the file name problems carry while a document is checked
try:  # libyaml: a 1 MB zone in a tenth of the time
    _LOADER, _DUMPER = yaml.CSafeLoader, yaml.CSafeDumper  # type: ignore[attr-defined]
except AttributeError:  # pragma: no cover
    _LOADER, _DUMPER = yaml.SafeLoader, yaml.SafeDumper  # type: ignore[misc]
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


class DocumentError(ValueError):
    """A body that is not a document: every problem as {path, message}."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p['path']}: {p['message']}" for p in problems))


MAX_DEPTH = 64  # a zone document nests a dozen levels; a hostile one would blow the stack
MAX_NODES = 2_000_000  # values after YAML aliases are expanded (a "billion laughs" body)


def parse_body(raw: bytes, content_type: str) -> Any:
    """JSON, or YAML when the Content-Type says so; DocumentError when it is neither, nests
    deeper than MAX_DEPTH or (YAML aliases expanded) holds more than MAX_NODES values."""
    try:
        return _parse(raw, content_type)
    except RecursionError as exc:
        raise DocumentError([{"path": "", "message": "nested too deeply"}]) from exc


def _parse(raw: bytes, content_type: str) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError([{"path": "", "message": f"the body is not UTF-8: {exc}"}]) from exc
    if content_type.split(";")[0].strip().lower() in YAML_TYPES:
        try:
            data = yaml.load(text, Loader=_LOADER)
        except yaml.YAMLError as exc:
            raise DocumentError([{"path": "", "message": f"not YAML: {exc}"}]) from exc
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            message = f"not JSON ({exc}); send YAML with Content-Type: application/yaml"
            raise DocumentError([{"path": "", "message": message}]) from exc
    try:
        return plain(data, [MAX_NODES])
    except OverflowError as exc:
        raise DocumentError([{"path": "", "message": str(exc)}]) from exc


def plain(value: Any, budget: list[int] | None = None, depth: int = 0) -> Any:
    """YAML data as JSON can carry it: dates become ISO text, other keys their text. With a
    `budget` (values left), a body too deep or too big once its aliases are expanded
    raises OverflowError instead of taking the server's memory and time."""
    if budget is not None:
        budget[0] -= 1
        if budget[0] < 0 or depth > MAX_DEPTH:
            raise OverflowError(f"deeper than {MAX_DEPTH} levels or over {MAX_NODES} values")
    if isinstance(value, dict):
        return {
            k if isinstance(k, str) else str(k): plain(v, budget, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [plain(v, budget, depth + 1) for v in value]
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value


def to_text(doc: Any, header: str = "") -> str:
    """The document as block-style YAML, one key or item a line (so lines name paths)."""
    body = yaml.dump(
        doc, Dumper=_DUMPER, sort_keys=False, default_flow_style=False, allow_unicode=True
    )
    return header + body


def from_text(text: str) -> Any:
    """A stored zone file's text as a document (comments and anchors resolved away)."""
    return plain(yaml.load(text, Loader=_LOADER))


def line_paths(text: str) -> dict[int, str]:
    """Source line -> the shallowest document path that starts on it."""
    try:
        tree = yamlio.load(text, API_FILE, None)
    except (yaml.YAMLError, ValueError):
        return {}
    found: dict[int, str] = {}
    _walk(tree, "", found)
    return found


def _walk(node: Any, path: str, found: dict[int, str]) -> None:
    if isinstance(node, yamlio.LineDict):
        for key, value in node.items():
            sub = f"{path}.{key}" if path else str(key)
            found.setdefault(node.at(key).line, sub)
            _walk(value, sub, found)
    elif isinstance(node, yamlio.LineList):
        for i, value in enumerate(node):
            sub = f"{path}[{i}]"
            found.setdefault(node.at(i).line, sub)
            _walk(value, sub, found)


def check(
    text: str, zone_name: str | None = None, key_dir: str | None = None
) -> tuple[Zone | None, list[dict[str, str]]]:
    """(the compiled zone, []) or (None, every problem as {path, message}); `key_dir` is
    dnssec.key_dir, whose keys `geodns check` loads for a signed zone too."""
    digest = load.content_hash(text)
    try:
        auto = load.auto_serial(digest)
        zone = zonefile.load_text(text, API_FILE, auto_serial=auto, digest=digest)
        compile_table([zone], dnssec_load.signers([zone], key_dir))
    except ZoneError as exc:
        paths = line_paths(text)
        return None, [
            {"path": paths.get(p.where.line, ""), "message": p.message} for p in exc.problems
        ]
    if zone_name is not None and zone.origin_text.lower() != zone_name.lower():
        message = f"the document is zone {zone.origin_text}, the URL says {zone_name}"
        return None, [{"path": "zone", "message": message}]
    return zone, []


def zone_key(name: str) -> str:
    """A zone's name as URLs and keys carry it: lower case, with the trailing dot."""
    name = name.strip().lower()
    return name if name.endswith(".") else name + "."
