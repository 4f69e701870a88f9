"""YAML loading that remembers line numbers, so errors can point at `file:line`."""

from __future__ import annotations

import re
from typing import Any

import yaml

from geodns.errors import Problems, Where

try:  # the C loader is much faster on large zones; fall back when libyaml is absent
    _Base = yaml.CSafeLoader  # type: ignore[attr-defined]
except AttributeError:  # pragma: no cover
    _Base = yaml.SafeLoader  # type: ignore[misc]


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """`500ms`, `10s`, `5m`, `1h` or a bare number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 10s, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"expected a duration like 500ms, 10s or 5m, got {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


NOWHERE = Where("?", 0)


class LineDict(dict):
    """A mapping that knows where it and each of its keys stood in the source.

    A key missing from `key_where` stood where the mapping did (a one-line flow mapping).
    """

    __slots__ = ("key_where", "where")

    def __init__(self) -> None:
        super().__init__()
        self.where = NOWHERE
        self.key_where: dict[Any, Where] = {}

    def at(self, key: Any) -> Where:
        return self.key_where.get(key, self.where)


class LineList(list):
    """A sequence that knows where it and each of its items stood in the source.

    `item_where` may stop short: later items stood where the sequence did (one line).
    """

    __slots__ = ("item_where", "where")

    def __init__(self) -> None:
        super().__init__()
        self.where = NOWHERE
        self.item_where: list[Where] = []

    def at(self, index: int) -> Where:
        return self.item_where[index] if index < len(self.item_where) else self.where


class _Loader(_Base):  # type: ignore[misc,valid-type]
    filename = "?"
    duplicates: list[tuple[Where, str]]


def _where(loader: _Loader, node: yaml.Node) -> Where:
    return Where(loader.filename, node.start_mark.line + 1)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    result = LineDict()
    result.where = _where(loader, node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        where = _where(loader, key_node)
        if isinstance(key, (dict, list)):
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                "found unhashable key",
                key_node.start_mark,
            )
        if key in result:
            loader.duplicates.append((where, f"duplicate key {key!r}"))
            continue
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_where[key] = where
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    result = LineList()
    result.where = _where(loader, node)
    for item in node.value:
        result.append(loader.construct_object(item, deep=True))
        result.item_where.append(_where(loader, item))
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _pyyaml(text: str, filename: str) -> tuple[Any, list[tuple[Where, str]]]:
    loader = _Loader(text)
    loader.filename = filename
    loader.duplicates = []
    try:
        return loader.get_single_data(), loader.duplicates
    finally:
        loader.dispose()


def _with_yamlfast(text: str, filename: str) -> tuple[Any, list[tuple[Where, str]]] | None:
    """PyYAML for all but the `records:` section, which yamlfast reads; None if it can't."""
    from geodns.zones import yamlfast

    split = yamlfast.split_records(text)
    if split is None:
        return None
    rest, records_line, span = split
    reader = yamlfast.RecordsReader(text, span, records_line + 1, filename, (LineDict, LineList))
    try:
        records = reader.read()
        data, duplicates = _pyyaml(rest, filename)
    except (yamlfast.Unsupported, yaml.YAMLError):
        return None
    if (
        not isinstance(data, LineDict)
        or data.get("records", False) is not None
        or data.at("records").line != records_line
    ):
        return None
    _shift(data, records_line, reader.line_count)
    duplicates = [(_moved(w, records_line, reader.line_count), m) for w, m in duplicates]
    if records is not None:
        data["records"] = records
    duplicates = sorted(duplicates + reader.duplicates, key=lambda d: d[0].line)
    return data, duplicates


def _moved(where: Where, after: int, by: int) -> Where:
    return Where(where.file, where.line + by) if where.line > after else where


def _shift(node: Any, after: int, by: int) -> None:
    """Move the lines of everything below line `after` down by `by` (a section was cut)."""
    if isinstance(node, LineDict):
        node.where = _moved(node.where, after, by)
        node.key_where = {k: _moved(w, after, by) for k, w in node.key_where.items()}
        for value in node.values():
            _shift(value, after, by)
    elif isinstance(node, LineList):
        node.where = _moved(node.where, after, by)
        node.item_where = [_moved(w, after, by) for w in node.item_where]
        for value in node:
            _shift(value, after, by)


def load(text: str, filename: str, problems: Problems | None = None) -> Any:
    """Parse YAML text; mappings become LineDict and sequences LineList.

    Duplicate keys are reported to `problems` (the first one is kept) so that a check
    lists them with everything else; without `problems` they raise ValueError. Syntax
    errors raise yaml.YAMLError with a `problem_mark`. A big `records:` section in the
    plain style is read by yamlfast (same result, a fraction of the time).
    """
    found = _with_yamlfast(text, filename)
    data, duplicates = found if found is not None else _pyyaml(text, filename)
    for where, message in duplicates:
        if problems is None:
            raise ValueError(f"{where}: {message}")
        problems.add(where, message)
    return data


def yaml_error_where(exc: yaml.YAMLError, filename: str) -> Where:
    """The line a YAML syntax error points at (1-based), or just the file."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return Where(filename, mark.line + 1) if mark is not None else Where(filename, 0)


def load_or_raise(text: str, filename: str, problems: Problems, error: type[Exception]) -> Any:
    """`load`, turning a YAML syntax error into `error` with one file:line problem."""
    from geodns.errors import Problem

    try:
        return load(text, filename, problems)
    except yaml.YAMLError as exc:
        where = yaml_error_where(exc, filename)
        reason = getattr(exc, "problem", None) or str(exc)
        raise error([Problem(where, f"YAML syntax: {reason}")]) from exc
