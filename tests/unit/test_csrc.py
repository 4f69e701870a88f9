"""The house of the C (csrc/): a plain-C core that compiles without Python's headers, no
link-level circle between files, and one list of sources that names every file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"
sys.path.insert(0, str(CSRC))
import sources  # noqa: E402  (csrc/sources.py, what setup.py and fuzz/run.sh read)

CC = os.environ.get("CC", "gcc")
FLAGS = ["-std=c11", "-O0", "-Wall", "-Wextra", "-Wno-unused-parameter", "-D_GNU_SOURCE"]
PYINC = sysconfig.get_paths()["include"]
# csrc/py/ holds the types Python holds; module.c registers them (PyInit)
PYTHON_SIDE = ("py/", "module.c")

needs_cc = pytest.mark.skipif(
    shutil.which(CC) is None or shutil.which("nm") is None, reason="no C compiler or nm"
)


def c_files() -> list[str]:
    return sorted(str(p.relative_to(CSRC)) for p in CSRC.rglob("*.c"))


def compile_one(rel: str, out: Path, *, python: bool) -> subprocess.CompletedProcess[str]:
    obj = out / (rel.replace("/", "__") + ".o")
    cmd = [CC, *FLAGS, f"-I{CSRC}", *([f"-I{PYINC}"] if python else []), "-c"]
    return subprocess.run(
        [*cmd, str(CSRC / rel), "-o", str(obj)], capture_output=True, text=True, timeout=120
    )


def test_the_source_lists_name_every_c_file_once() -> None:
    listed = [f.removeprefix("csrc/") for f in sources.files(*sources.EXTENSION)]
    assert len(listed) == len(set(listed))
    assert sorted(listed) == c_files()


def test_python_h_is_included_only_in_csrc_py() -> None:
    include = re.compile(r'^\s*#\s*include\s*[<"]Python\.h[">]', re.M)
    found = [
        str(p.relative_to(CSRC))
        for p in sorted(CSRC.rglob("*.[ch]"))
        if include.search(p.read_text())
    ]
    assert found, "no file includes Python.h: the test would check nothing"
    assert [f for f in found if not f.startswith("py/")] == []


@needs_cc
def test_the_core_compiles_without_python_headers(tmp_path: Path) -> None:
    """Not only no #include of Python.h: nothing outside csrc/py/ reaches it through a
    header either (compiled with no Python include directory)."""
    core = [f for f in c_files() if not f.startswith(PYTHON_SIDE)]
    assert len(core) >= 10
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda f: (f, compile_one(f, tmp_path, python=False)), core))
    failed = {f: r.stderr.strip()[:300] for f, r in runs if r.returncode != 0}
    assert failed == {}


def symbols(obj: Path) -> tuple[set[str], set[str]]:
    """(defined globals, undefined) of an object file, by nm."""
    out = subprocess.run(["nm", str(obj)], capture_output=True, text=True, check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        kind, name = parts[-2], parts[-1]
        if kind == "U":
            undefined.add(name)
        elif kind in "TDBRCV":
            defined.add(name)
    return defined, undefined


def circle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt, [*stack, nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_circle_finds_a_circle() -> None:
    assert circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert circle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


@needs_cc
def test_no_link_level_circle_between_files(tmp_path: Path) -> None:
    """File A uses file B when A's object needs a symbol B's defines; that graph has no
    circle, so each file can be understood (and tested) from the ones below it. And every
    global symbol carries its component's prefix (csrc/sources.py PREFIX)."""
    files = c_files()
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda f: compile_one(f, tmp_path, python=True), files))
    assert [r.stderr for r in runs if r.returncode != 0] == []
    table = {f: symbols(tmp_path / (f.replace("/", "__") + ".o")) for f in files}
    owner: dict[str, str] = {}
    for f, (defined, _) in table.items():
        for name in defined:
            assert name not in owner, f"{name} defined in {owner[name]} and {f}"
            owner[name] = f
    component = {f: c for c, fs in sources.COMPONENTS.items() for f in fs}
    unprefixed = {
        f: sorted(n for n in defined if not n.startswith(sources.PREFIX[component[f]]))
        for f, (defined, _) in table.items()
    }
    assert {f: names for f, names in unprefixed.items() if names} == {}
    edges = {
        f: {owner[u] for u in undefined if u in owner} - {f} for f, (_, undefined) in table.items()
    }
    assert sum(map(len, edges.values())) >= 10, edges  # the graph is really there
    assert circle(edges) is None


@pytest.mark.skipif(
    shutil.which("clang-format") is None, reason="no clang-format (make test-tools)"
)
def test_the_c_has_one_style() -> None:
    """.clang-format's, for csrc/, fuzz/ and bench/ (apply: clang-format -i FILE)."""
    files = [str(p) for d in ("csrc", "fuzz", "bench") for p in sorted((ROOT / d).rglob("*.[ch]"))]
    run = subprocess.run(
        ["clang-format", "--dry-run", "--Werror", *files], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-3000:]
