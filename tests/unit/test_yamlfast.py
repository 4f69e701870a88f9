"""The fast records reader gives exactly what PyYAML gives (values, lines, duplicates) or
declines; big-zone helpers free and build without surprises."""

from __future__ import annotations

import gc
import importlib.util
import ipaddress
import random
from pathlib import Path

import pytest

from geodns import names
from geodns.errors import Where
from geodns.table import compile_table, dismantle
from geodns.zones import load, records, state, teardown, yamlfast, yamlio, zonefile

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(
    [
        *ROOT.glob("zones/*.yaml"),
        *ROOT.glob("tests/data/zones/*/*.yaml"),
        *ROOT.glob("bench/zones/*.yaml"),
    ]
)


def shape(node):
    """Everything a consumer can see: values, types, and the line of every key and item."""
    if isinstance(node, yamlio.LineDict):
        return (
            "map",
            node.where.line,
            [(shape(k), node.at(k).line, shape(v)) for k, v in node.items()],
        )
    if isinstance(node, yamlio.LineList):
        return ("seq", node.where.line, [(shape(v), node.at(i).line) for i, v in enumerate(node)])
    return (type(node).__name__, node)


def same_as_pyyaml(text: str) -> bool:
    """True if the fast path read the text (and then it must agree with PyYAML)."""
    fast = yamlio._with_yamlfast(text, "z.yaml")
    if fast is None:
        return False
    slow = yamlio._pyyaml(text, "z.yaml")
    assert shape(fast[0]) == shape(slow[0]), text
    assert [(str(a), m) for a, m in fast[1]] == [(str(a), m) for a, m in slow[1]], text
    return True


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_zones_take_the_fast_path(path: Path) -> None:
    assert same_as_pyyaml(path.read_text())


HEAD = "zone: z.test.\nttl: 60\nns: [ns1.z.test.]\nrecords:\n"


@pytest.mark.parametrize(
    "body",
    [
        "  www: {A: 192.0.2.1}\n  www: {A: 192.0.2.2}\n",
        "  a: {A: 1, A: 2, TXT: 'it''s', MX: \"10 m.\"}  # note {x}\n",
        "  a:\n    geo:\n      continent:EU: p\n      default: q\n    ttl: 5\n",
        "  a:\n    failover:\n      - p\n      - q\n  b: {failover: [p, {geo: {default: q}}]}\n",
        "  a: {b: {c: 1, c: 2}, b: {d: 1, d: 2}}\n",
        "  1: x\n  true: y\n  ~: z\n  0x1F: 1.5\n  2002-01-01: .inf\n  a:b: 1:20\n",
        "  a:\n  b: {}\n  c: []\n  d: [[], {}]\n",
        "  x: 2001:db8::1\n  y: {AAAA: 2001:db8::1}\n",
        "\n  # comment\n  a: {A: 192.0.2.1}\n\n# at column 0\n  b: x y  z  # c\n",
        "  a: {A: 192.0.2.1}\npools:\n  p: {addresses: [192.0.2.1]}\n  p: {addresses: []}\n",
        "  a: {A: 192.0.2.1}\nttl: 5\nttl: 6\n",
    ],
)
def test_fast_path_matches_pyyaml(body: str) -> None:
    assert same_as_pyyaml(HEAD + body)


@pytest.mark.parametrize(
    "body",
    [
        "  a: |\n    text\n",  # block scalar
        '  a: {TXT: "two\n    lines"}\n',  # multi-line quoted
        "  a: &x {A: 192.0.2.1}\n  b: *x\n",  # anchors
        "  a: !!str 1\n",  # tags
        "  a:\n  - x\n",  # sequence at the key's indentation
        "  a: {x: 1,\n    y: 2}\n",  # flow over two lines
        "  a: x\n    y\n",  # plain scalar continued
        "  a:\tb\n",  # tab
        "  a: caf\u00e9\n",  # non-ASCII
        "  a: {A}\n",  # flow key without value
        "  a: [b,]\n",  # trailing comma
        "  - a\n",  # not a mapping
        "  a: b: c\n",  # YAML error
    ],
)
def test_fast_path_declines_what_it_does_not_read(body: str) -> None:
    assert yamlio._with_yamlfast(HEAD + body, "z.yaml") is None
    try:
        yamlio.load(HEAD + body, "z.yaml")
    except Exception as exc:  # whatever PyYAML says is what the user sees
        assert isinstance(exc, (ValueError, yamlio.yaml.YAMLError))


ATOMS = [
    *["a", "b c", "1", "1.5", "yes", "~", "2001:db8::1", "1:20", "'q'", '"d"', "'it''s'"],
    *["2002-01-01", "-1", "a:b", "[a, b]", "{a: 1}", "{a: [1, 2]}", "[{a: b}]", "[]", "{}"],
    *["{a: 1, a: 2}", '{A: 1.2.3.4, AAAA: "2001:db8::1"}', "10 mail.x.", "a #c", "0o17"],
    *["*a", "&a", "!t", "|", ">", "@", "%", "? x", ":", "a: b", " #c", "a#b", "[", "}"],
    *["{a, b}", "'a", '"a', '"a\\"b"', "<<", "=", "{a:b}", "{'a':b}", "[a: b]", "- a", "a, b"],
]
KEYS = ["n1", "n2", "'@'", '"*.x"', "www", "a:b", "1", "true", "ttl", "A", "? k", "-k", "k k"]
TAILS = ["", "ttl: 5\n", "pools:\n  a: 1\n  a: [2]\nttl: 5\n\nttl: 6\n", "ns:\n- a\n- b\n", "---\n"]


def random_document(rng: random.Random) -> str:
    lines, indent = ["zone: z.", "records:"], 2
    for _ in range(rng.randint(1, 8)):
        key = rng.choice(KEYS)
        roll = rng.random()
        if roll < 0.05:
            lines.append(" " * indent + "# c")
        elif roll < 0.12:
            lines.append(" " * indent + "- " + rng.choice(ATOMS))
        elif roll < 0.3:
            lines.append(" " * indent + key + ":")
            indent += rng.choice([2, 2, 1, 4])
            continue
        else:
            value = " ".join(rng.choice(ATOMS) for _ in range(rng.choice([1, 1, 2])))
            lines.append(" " * indent + f"{key}: {value}" + rng.choice(["", " # c", "  "]))
        if rng.random() < 0.3:
            indent = max(2, indent - rng.choice([1, 2, 4]))
    return "\n".join(lines) + "\n" + rng.choice(TAILS)


@pytest.mark.parametrize("chunk", [3, yamlfast.CHUNK])
def test_random_documents_agree_with_pyyaml(monkeypatch, chunk: int) -> None:
    monkeypatch.setattr(yamlfast, "CHUNK", chunk)
    rng = random.Random(5)
    taken = sum(same_as_pyyaml(random_document(rng)) for _ in range(3000))
    assert taken > 200  # the fast path was really exercised


def test_lines_after_the_records_section_stay_right() -> None:
    text = HEAD + "  a: {A: 192.0.2.1}\n" * 1 + "  b: {A: 192.0.2.2}\npools:\n  p: x\n"
    data = yamlio.load(text, "z.yaml")
    assert data.at("pools").line == 7 and data["pools"].at("p").line == 8


def test_generated_zone_loads_through_the_fast_path(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("genzone", ROOT / "bench" / "genzone.py")
    genzone = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(genzone)
    genzone.main(["3000", str(tmp_path)])
    text = (tmp_path / "bulk.example.yaml").read_text()
    assert same_as_pyyaml(text)
    zone = zonefile.load_text(text, "bulk.example.yaml")
    assert len(zone.rrsets) + len(zone.policies) == 3002  # + ns1 and the apex
    nodes = {id(node) for node in zone.policies.values()}
    assert len(nodes) < 10  # identical policy blocks share one parsed tree


@pytest.mark.parametrize(
    "text", ["192.0.2.1", "0.0.0.0", "01.2.3.4", "1.2.3", "256.1.1.1", " 1.2.3.4", "1.2.3.4\n"]
)
def test_a_short_cut_agrees_with_ipaddress(text: str) -> None:
    problems: list = []
    ctx = records.RecordContext(b"\0", ".", lambda *a: None, lambda *a: problems.append(a))
    got = records._a(ctx, text, Where("z", 1))
    try:
        want = ipaddress.IPv4Address(text).packed
    except ValueError:
        want = None
    assert (got[0] if got else None) == want


@pytest.mark.parametrize(
    "text",
    [
        "2001:db8::1",
        "2001:DB8:0:0:1:0:0:1",
        "::ffff:1.2.3.4",
        "::1.2.3.4",
        "1::",
        "::",
        "1:::2",
        "fe80::1%eth0",
    ],
)
def test_aaaa_short_cut_agrees_with_ipaddress(text: str) -> None:
    ctx = records.RecordContext(b"\0", ".", lambda *a: None, lambda *a: None)
    got = records._aaaa(ctx, text, Where("z", 1))
    try:
        addr = ipaddress.IPv6Address(text)
        want = (addr.packed, str(addr))
    except ValueError:
        want = None
    assert (got[:2] if got else None) == want


@pytest.mark.parametrize(
    "name",
    [
        "www",
        "a.b-c_d",
        "*.edge",
        "x.z.test.",
        "WWW.Z.TEST.",
        "a" * 63,
        ".".join(["abcdefghi"] * 26),
    ],
)
def test_simple_name_short_cut_agrees_with_name_to_wire(name: str) -> None:
    origin = names.name_to_wire("z.test.")
    fast = state.simple_wire(name, origin)
    absolute = name if name.endswith(".") else name + ".z.test."
    try:
        slow = names.name_to_wire(absolute)
    except ValueError:
        slow = None
    assert fast == slow


def test_drain_empties_containers() -> None:
    d, s, items = {i: [i] for i in range(5000)}, set(range(5000)), list(range(5000))
    nested = {"a": {i: {"x": list(range(100))} for i in range(100)}, "b": list(range(1000))}
    for box in (d, s, items):
        teardown.drain(box)
        assert not box
    teardown.drain_tree(nested)
    assert not nested


def test_dismantle_empties_a_compiled_table() -> None:
    table = compile_table(load.load_dir(str(ROOT / "zones")))
    assert table.fast_size()
    dismantle(table)
    assert not table.fast_size() and not table.zones


def test_gc_paused_restores_the_collector() -> None:
    assert gc.isenabled()
    with teardown.gc_paused():
        assert not gc.isenabled()
        kept = [object() for _ in range(10)]
    assert gc.isenabled() and gc.get_freeze_count() >= len(kept)
    gc.unfreeze()
