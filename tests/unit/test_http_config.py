"""The `http:` deadlines and cap: durations parsed, zero refused, defaults as documented."""

from __future__ import annotations

import pytest

from geodns import config as cfg
from geodns.errors import ConfigError
from geodns.zones import yamlio


def load(text: str) -> cfg.Config:
    problems = cfg.Problems()
    raw = yamlio.load_or_raise(text, "geodns.yaml", problems, ConfigError)
    return cfg.from_mapping(raw, "/etc/geodns/geodns.yaml", problems)


def test_defaults() -> None:
    http = load("http: {listen: '127.0.0.1:8053'}").http
    assert (http.header_timeout, http.body_timeout, http.idle_timeout) == (5.0, 10.0, 30.0)
    assert http.max_connections == 256
    assert http.probe_listen is None  # the probes are on the API's listener unless asked


def test_durations_and_cap_are_read() -> None:
    text = "http: {header_timeout: 2s, body_timeout: 500ms, idle_timeout: 1m, max_connections: 9}"
    http = load(text).http
    assert (http.header_timeout, http.body_timeout, http.idle_timeout) == (2.0, 0.5, 60.0)
    assert http.max_connections == 9


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("http: {header_timeout: 0s}", "http.header_timeout: must be positive"),
        ("http: {max_connections: 0}", "http.max_connections: must be positive"),
        ("http: {max_connections: many}", "http.max_connections: must be a non-negative"),
        ("http: {body_timeout: soon}", "http.body_timeout"),
        ("http: {probe_listen: 'localhost:port'}", "http.probe_listen"),
    ],
)
def test_bad_values_name_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(text)
    assert message in str(err.value)


def test_probe_listen_is_read() -> None:
    assert load("http: {probe_listen: '0.0.0.0:8054'}").http.probe_listen == "0.0.0.0:8054"
