"""Check URLs as logs and the status API show them: userinfo and query strings masked."""

from __future__ import annotations

import pytest

from geodns.health.probes import redact, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@host/path?token=1", "https://user:***@host/path?***"),
        ("https://token@host:8443/p", "https://***@host:8443/p"),
        ("http://host/p?a=1&b=2#frag", "http://host/p?***#***"),
        ("http://[2001:db8::1]:80/x?k", "http://[2001:db8::1]:80/x?***"),
        ("http://u:p@[::1]:8/", "http://u:***@[::1]:8/"),
        ("http://host/plain", "http://host/plain"),
        ("http://[::1/broken", "<unparsable URL>"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_masks_every_url_in_a_message() -> None:
    text = "400, message='x', url='https://a:b@h/p?key=v' then http://h2/q?s=t and more"
    assert (
        redact(text)
        == "400, message='x', url='https://a:***@h/p?***' then http://h2/q?*** and more"
    )
