"""An old GeoIP database (the image's 2018 demo copy, a stopped geoipupdate) is said loudly."""

from __future__ import annotations

import logging

import pytest

from geodns.build import GEOIP_STALE_DAYS, warn_if_stale
from geodns.config import demo_geoip_path
from geodns.geo.locator import Locator


@pytest.fixture(scope="module")
def demo() -> Locator:
    path = demo_geoip_path()
    if path is None:
        pytest.skip("maxminddb-geolite2 (the demo GeoIP database) not installed")
    return Locator.open(path, None)


def test_old_database_is_logged_as_out_of_date(demo: Locator, caplog) -> None:
    now = demo.build_epoch + 400 * 86400
    with caplog.at_level(logging.WARNING, logger="geodns"):
        assert warn_if_stale(demo, now) is True
    assert "built 2018-07-03, 400 days ago: locations are out of date" in caplog.text
    assert demo.paths[0] in caplog.text


def test_fresh_database_says_nothing(demo: Locator, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="geodns"):
        assert warn_if_stale(demo, demo.build_epoch + (GEOIP_STALE_DAYS - 1) * 86400) is False
    assert caplog.text == ""


def test_no_database_says_nothing_here(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="geodns"):
        assert warn_if_stale(Locator.open(None, None), 2e9) is False
    assert caplog.text == ""
