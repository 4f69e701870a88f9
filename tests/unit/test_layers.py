"""The house's shape: every import (inside functions too) points down the layer rule, no
import circle, and no I/O library in the sans-I/O core (see docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "geodns"

# Highest first; an import may point to a lower tier, or within its own tier.
TIERS: list[tuple[str, ...]] = [
    ("cli", "__main__"),
    ("app",),
    ("serve",),
    ("build", "zonediff"),
    # native/: the one door to the C (geodns._native): the table, decisions, shared abuse
    # tables and UDP threads; above dns/ (it flattens what the handler answers from)
    ("native",),
    # fleet/ sits beside ops: like the API and metrics it reads the board and the config
    # and is composed by app; the API reads it (a peer), and nothing that answers needs it.
    # steer/ too: the capacity poller and RTT store feed the board beside the fleet.
    # importers/ read other services' exports into zone documents for the CLI.
    # integrations/: RFC 2136 applied through the zone writer, the webhook and providers.
    ("ops", "fleet", "steer", "importers", "integrations"),
    ("dns", "config"),
    ("geo", "zones", "table"),
    ("health", "policies", "wire", "dnssec"),
    ("model", "names", "errors"),
]
TIER = {room: depth for depth, rooms in enumerate(TIERS) for room in rooms}
SANS_IO = ("dns", "policies", "table", "wire", "names")
IO_LIBS = ("asyncio", "socket", "aiohttp", "prometheus_client", "uvloop", "selectors")


def modules_of(package: Path) -> dict[str, Path]:
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        out[".".join(parts).removesuffix(".__init__")] = path
    return out


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[str]:
    """Every module an import statement anywhere in the file names, made absolute."""
    is_pkg = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".")[: len(name.split(".")) - node.level + is_pkg]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.append(full if full in modules else base)
    return found


def room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "geodns" else None


def edges_of(modules: dict[str, Path]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for target in imports_of(name, path, modules):
            while target not in modules and "." in target:
                target = target.rpartition(".")[0]
            if target in modules and target not in (name, "geodns"):
                targets.add(target)
        edges[name] = targets
    return edges


def upward(modules: dict[str, Path]) -> list[str]:
    out = []
    for source, targets in edges_of(modules).items():
        for target in targets:
            a, b = room(source), room(target)
            if a and b and a != b and TIER[b] < TIER[a]:
                out.append(f"{source} -> {target}")
    return sorted(out)


def circles(modules: dict[str, Path]) -> list[str]:
    edges = edges_of(modules)
    found: list[str] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                found.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    return found


def io_in_core(modules: dict[str, Path]) -> list[str]:
    bad = []
    for name, path in modules.items():
        if room(name) in SANS_IO:
            bad += [
                f"{name} imports {t}"
                for t in imports_of(name, path, modules)
                if t.split(".")[0] in IO_LIBS
            ]
    return bad


MODULES = modules_of(PACKAGE)


def test_every_module_has_a_room() -> None:
    rooms = {room(m) for m in MODULES} - {None}
    assert rooms <= set(TIER), f"modules outside the layer rule: {sorted(rooms - set(TIER))}"


def test_imports_point_down() -> None:
    assert upward(MODULES) == []


def test_no_import_circle() -> None:
    assert circles(MODULES) == []


def test_core_does_no_io() -> None:
    assert io_in_core(MODULES) == []


# geo/compiled.py sits below native/ and picks its engine at import: the C one, or its
# pure-Python twin geo/pyranges.py, range for range; dnssec/signer.py likewise picks the C
# signer or the `cryptography` package, byte for byte
DOOR_EXCEPTIONS = {"geodns.geo.compiled", "geodns.dnssec.signer"}


def opens_extension(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import) and any(a.name == "geodns._native" for a in node.names):
            return True
        named = [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
        if isinstance(node, ast.ImportFrom) and node.module == "geodns" and "_native" in named:
            return True
    return False


def test_only_native_opens_the_extension() -> None:
    openers = {name for name, path in MODULES.items() if opens_extension(path)}
    assert openers, "nothing imports geodns._native: this test checks nothing"
    outside = {n for n in openers if room(n) != "native"} - DOOR_EXCEPTIONS
    assert outside == set()


@pytest.fixture
def crooked(tmp_path: Path) -> dict[str, Path]:
    """A tiny package with one of each fault, hidden inside functions where it can be."""
    pkg = tmp_path / "geodns"
    files = {
        "__init__.py": "",
        "app.py": "",
        "table.py": "def f():\n    from geodns.dns import handler\n",
        "dns/__init__.py": "",
        "dns/handler.py": "from geodns import table\n\ndef g():\n    import socket\n",
        "policies/__init__.py": "",
        "policies/geo.py": "def h():\n    from geodns.app import App\n",
    }
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    return modules_of(pkg)


def test_the_checks_find_what_they_look_for(crooked: dict[str, Path]) -> None:
    assert upward(crooked) == [
        "geodns.policies.geo -> geodns.app",
        "geodns.table -> geodns.dns.handler",
    ]
    assert circles(crooked) == ["geodns.dns.handler -> geodns.table -> geodns.dns.handler"]
    assert io_in_core(crooked) == ["geodns.dns.handler imports socket"]
