"""The `updates:` section: keys read once with their secrets, grants checked, every
mistake a config error naming file:line."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from geodns import config
from geodns.errors import ConfigError

SECRET = base64.b64encode(b"k" * 32).decode()


def _load(tmp_path: Path, text: str) -> config.Config:
    (tmp_path / "acme.key").write_text(SECRET + "\n")
    (tmp_path / "short.key").write_text(base64.b64encode(b"short").decode())
    (tmp_path / "junk.key").write_text("not base64 !!")
    path = tmp_path / "geodns.yaml"
    path.write_text(text)
    return config.load(str(path))


GOOD = """\
updates:
  tsig_keys:
    acme: {algorithm: hmac-sha512, secret_file: acme.key}
  allow:
    - {key: acme, names: ["_acme-challenge", "_acme-challenge.*", "x.other.test."], types: [TXT]}
"""


def test_keys_and_grants(tmp_path: Path) -> None:
    updates = _load(tmp_path, GOOD).updates
    assert updates.enabled and updates.tsig_keys[0].name == "acme."
    assert updates.tsig_keys[0].secret == b"k" * 32 and "secret" not in repr(updates)
    zone = "int.test."
    assert updates.permits("acme.", "_acme-challenge.int.test.", zone, "TXT")
    assert updates.permits("acme.", "_acme-challenge.www.int.test.", zone, "TXT")
    assert not updates.permits("acme.", "_acme-challenge.int.test.", zone, "A")
    assert not updates.permits("acme.", "www.int.test.", zone, "TXT")
    assert not updates.permits("other.", "_acme-challenge.int.test.", zone, "TXT")
    assert updates.permits("acme.", "x.other.test.", "other.test.", "TXT")  # absolute glob


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("updates:\n  tsig_keys:\n    a: {secret_file: short.key}\n", 3, "too short"),
        ("updates:\n  tsig_keys:\n    a: {secret_file: junk.key}\n", 3, "base64"),
        ("updates:\n  tsig_keys:\n    a: {secret_file: gone.key}\n", 3, "cannot read"),
        ("updates:\n  tsig_keys:\n    a: {algorithm: md5, secret_file: acme.key}\n", 3, "one of"),
        ("updates:\n  allow:\n    - {key: nobody, names: [x], types: [TXT]}\n", 3, "no tsig_keys"),
        (
            "updates:\n  tsig_keys:\n    a: {secret_file: acme.key}\n  allow:\n"
            "    - {key: a, names: ['@'], types: [SOA]}\n",
            5,
            "never updated",
        ),
        ("updates:\n  keys: {}\n", 2, "unknown key"),
    ],
)
def test_mistakes_name_their_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    message = str(caught.value)
    assert f"geodns.yaml:{line}" in message and words in message, message
