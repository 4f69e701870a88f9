"""Compiled GeoIP trees kept across reloads (geo/compiled.TreeCache): a re-parse of unchanged
records reuses them whole; a changed tree, or other databases, is compiled again."""

from __future__ import annotations

import shutil
from pathlib import Path

from geodns.geo import compiled
from geodns.geo.locator import Locator
from geodns.table import compile_table
from geodns.zones.load import ZoneLoader
from tests.servers import DATA

CITY = DATA / "city-test.mmdb"


def build(zones_dir: Path, locator: Locator, cache: compiled.TreeCache):
    """A fresh load (every file parsed again, as a reload of changed files does)."""
    table = compile_table(ZoneLoader().load_dir(str(zones_dir)))
    built = compiled.compile_table(table, locator, cache)
    return {
        pa.name: built.get(id(pa.node))
        for zt in table.zones.values()
        for pa in zt.policies.values()
    }


def zones(tmp_path: Path) -> Path:
    work = tmp_path / "zones"
    shutil.copytree(DATA / "zones" / "geo", work)
    return work


def test_an_unchanged_load_reuses_every_compiled_tree(tmp_path: Path) -> None:
    work, loc, cache = zones(tmp_path), Locator.open(str(CITY), None), compiled.TreeCache()
    first = build(work, loc, cache)
    compiled_trees = [c for c in first.values() if c is not None]
    assert len(compiled_trees) >= 5 and cache.misses == len(set(map(id, first.values())))
    misses = cache.misses
    second = build(work, loc, cache)
    assert cache.misses == misses  # nothing compiled again
    assert all(second[name] is first[name] for name in first)  # the very same ranges


def test_a_changed_rule_compiles_that_tree_alone(tmp_path: Path) -> None:
    work, loc, cache = zones(tmp_path), Locator.open(str(CITY), None), compiled.TreeCache()
    first = build(work, loc, cache)
    zone = work / "geo.test.yaml"
    text = zone.read_text()
    assert "country:GB: gb" in text
    zone.write_text(text.replace("country:GB: gb", "country:GB: as"))  # www's GB rule
    misses = cache.misses
    second = build(work, loc, cache)
    assert cache.misses == misses + 1
    changed = [name for name in first if second[name] is not first[name]]
    assert changed == ["www.geo.test."], changed
    # What the reused and the recompiled trees say is what a fresh compile says.
    fresh = build(work, loc, compiled.TreeCache())
    for name, got in second.items():
        assert (got and got.buffers()) == (fresh[name] and fresh[name].buffers()), name


def test_other_databases_compile_everything_again(tmp_path: Path) -> None:
    work, cache = zones(tmp_path), compiled.TreeCache()
    build(work, Locator.open(str(CITY), None), cache)
    misses = cache.misses
    build(work, Locator.open(str(CITY), None), cache)  # equal content, another snapshot
    assert cache.misses == 2 * misses


def test_the_key_tells_apart_what_a_compile_reads() -> None:
    from geodns.model import Pool

    a = Pool("z.", "eu", ("192.0.2.1",), location=(50.0, 8.0))
    assert compiled.tree_key(a) == compiled.tree_key(Pool("z.", "eu", ("192.0.2.1",), (50.0, 8.0)))
    assert compiled.tree_key(a) != compiled.tree_key(Pool("z.", "eu", ("192.0.2.1",), (50.0, 9.0)))
    assert compiled.tree_key({"a": 1, "b": 2}) != compiled.tree_key({"b": 2, "a": 1})  # order
    assert compiled.tree_key(object()) != compiled.tree_key(object())  # unknown: identity
