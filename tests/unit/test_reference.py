"""docs/reference.md against the code: every subcommand, config key, HTTP route and metric
the code has is documented there (and every metric it lists exists), and the repository
cites nothing outside itself."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from geodns import config
from geodns.cli import build_parser
from geodns.ops import api
from tests.servers import REPO, ServerThread, write_config

REFERENCE = (REPO / "docs" / "reference.md").read_text()


def test_every_subcommand_is_documented() -> None:
    commands = build_parser()._subparsers._group_actions[0].choices  # argparse's own table
    assert len(commands) >= 5
    for name in commands:
        assert f"geodns {name}" in REFERENCE, name


def config_keys(cls: type = config.Config, prefix: str = "") -> list[str]:
    keys = []
    for field in dataclasses.fields(cls):
        if field.name == "source":  # where the config came from, not a key
            continue
        default = field.default_factory() if callable(field.default_factory) else field.default
        if dataclasses.is_dataclass(default):
            keys += config_keys(type(default), f"{prefix}{field.name}.")
        else:
            keys.append(prefix + field.name)
    return keys


def test_every_config_key_is_documented() -> None:
    keys = config_keys()
    assert "dns.listen" in keys and "rrl.slip" in keys and len(keys) > 50
    missing = [k for k in keys if f"| `{k}` |" not in REFERENCE]
    assert missing == []


def test_every_http_route_is_documented() -> None:
    web_app = api.build(None, None)  # the routes are registered without touching the app
    routes = {
        (r.method, r.resource.canonical) for r in web_app.router.routes() if r.method != "HEAD"
    }
    assert ("GET", "/metrics") in routes and len(routes) >= 8
    for method, path in routes:
        paths = [path]
        if path.endswith("/{action}"):
            paths = [path.replace("{action}", "drain"), path.replace("{action}", "undrain")]
        for p in paths:
            assert re.search(rf"`{method} {re.escape(p)}[`?]", REFERENCE), (method, p)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every metric family a real server exports, by its sample name (counters: _total)."""
    tmp = tmp_path_factory.mktemp("reference")
    server = ServerThread(write_config(tmp, REPO / "zones", dns={"listen": ["127.0.0.1:0"]}))
    server.start()
    try:
        host, port = server.app.http_bound
        text = urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10).read().decode()
    finally:
        server.stop()
    names = {}
    for family in text_string_to_metric_families(text):
        suffix = "_total" if family.type == "counter" else ""
        names[family.name + suffix] = family.type
    return names


def test_every_exported_metric_is_documented(exported: dict[str, str]) -> None:
    ours = {name: kind for name, kind in exported.items() if name.startswith("geodns_")}
    assert len(ours) > 30
    for name, kind in ours.items():
        assert re.search(rf"\| `{name}` \| {kind} \|", REFERENCE), (name, kind)


def test_every_documented_metric_is_exported(exported: dict[str, str]) -> None:
    documented = re.findall(r"^\| `(geodns_\w+)` \|", REFERENCE, re.M)
    assert len(documented) > 30
    assert sorted(set(documented) - set(exported)) == []


# --- self-contained: no citation of a file outside the repository ---------------------------

# Spelt in pieces so that this file does not match itself.
OUTSIDE = ("DESIGN" + ".md", "../" + "shared", "/work/" + "shared", "REDESIGN" + ".md")
# Where figures came from, and the commands that produced them, may name the machine's paths.
HISTORY = {"bench/RESULTS.md"}


def test_nothing_cites_a_file_outside_the_repository() -> None:
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    found = []
    for name in files:
        path = REPO / name
        if name in HISTORY or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # a binary file (an .mmdb fixture)
        for n, line in enumerate(text.splitlines(), 1):
            if any(word in line for word in OUTSIDE):
                found.append(f"{name}:{n}: {line.strip()[:80]}")
    assert found == [], "cite docs/reference.md instead:\n" + "\n".join(found)


def test_reference_names_only_files_that_exist() -> None:
    for link in re.findall(r"\]\(([^)#]+)", REFERENCE):
        assert (REPO / "docs" / link).resolve().exists(), link
    for path in re.findall(r"\b((?:deploy|tests|bench)/[\w./-]+\.(?:yaml|py|json|sh))", REFERENCE):
        assert (REPO / path).exists(), path
