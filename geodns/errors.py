"""Module-owned exceptions; every load problem carries the file and line it came from."""

from __future__ import annotations

from dataclasses import dataclass, field


class GeoDNSError(Exception):
    """Base of every error geodns raises on purpose (as opposed to a bug)."""


@dataclass(frozen=True, slots=True)
class Where:
    """A place in a source file, so every message can say `file:line`."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input, kept so `geodns check` can list all of them at once."""

    where: Where
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(slots=True)
class Problems:
    """Collects problems while parsing goes on, instead of stopping at the first one."""

    items: list[Problem] = field(default_factory=list)

    def add(self, where: Where, message: str) -> None:
        self.items.append(Problem(where, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def raise_if_any(self, cls: type[LoadError]) -> None:
        if self.items:
            raise cls(list(self.items))


class LoadError(GeoDNSError):
    """A file that could not be loaded; `problems` holds every reason found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ConfigError(LoadError):
    """The config file is unreadable or invalid."""


class ZoneError(LoadError):
    """A zone file is unreadable or invalid."""


class GeoIPError(GeoDNSError):
    """A GeoIP database could not be opened or is not of a usable type."""
