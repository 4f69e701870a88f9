"""The 4 KB test database copied over the GeoLite2-City file a server watches: refused (logged,
counted, in /api/v1/status), the old answers kept; taken once geoip.accept_shrink says so."""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import pytest
import yaml

from geodns.config import demo_geoip_path
from tests.servers import DATA, ServerProcess, wait_for, write_config

GEOLITE2 = demo_geoip_path()
pytestmark = pytest.mark.skipif(GEOLITE2 is None, reason="maxminddb-geolite2 not installed")

# geo.test's www: country GB -> gb, continent NA -> na, else dflt (tests/data/zones/geo).
GB, NA, DFLT = "192.0.2.40", "192.0.2.20", "192.0.2.90"
# Well-known networks: MaxMind's own GB test address, Google's 8.8.8.0/24 (US), and
# Cloudflare's 1.1.1.0/24 (AU in the 2018 demo copy: OC -> dflt). The test database holds
# 81.2.69.0/24 only, so with it 8.8.8.0/24 would get dflt.
EXPECTED = {"81.2.69.0/24": GB, "8.8.8.0/24": NA}


def answer_for(addr: tuple[str, int], subnet: str) -> str:
    query = dns.message.make_query("www.geo.test", "A")
    query.use_edns(0, options=[dns.edns.ECSOption.from_text(subnet)])
    return dns.query.udp(query, addr[0], port=addr[1], timeout=3).answer[0][0].address


def answers(addr: tuple[str, int]) -> dict[str, str]:
    return {subnet: answer_for(addr, subnet) for subnet in EXPECTED}


def get(api: tuple[str, int], path: str) -> str:
    with urllib.request.urlopen(f"http://{api[0]}:{api[1]}{path}", timeout=5) as reply:
        return reply.read().decode()


def test_test_database_over_geolite2_is_refused_then_accepted(tmp_path: Path) -> None:
    city = tmp_path / "GeoLite2-City.mmdb"
    shutil.copyfile(GEOLITE2, city)
    sections = {
        "dns": {"listen": ["127.0.0.1:0"]},
        "geoip": {"city": str(city)},
        "reload": {"watch": True, "poll_interval": "100ms"},
    }
    conf = write_config(tmp_path, DATA / "zones" / "geo", **sections)
    server = ServerProcess(["serve", "--config", str(conf)]).start()
    try:
        addr = server.bound[0]
        match = wait_for(lambda: re.search(r"HTTP API on http://([\d.]+):(\d+)", server.log))
        api = match.group(1), int(match.group(2))
        assert answers(addr) == EXPECTED
        shutil.copyfile(DATA / "city-test.mmdb", city)  # what `cp` does: same inode, rewritten
        wait_for(lambda: "networks where" in server.log, 15)
        refused = [ln for ln in server.log.splitlines() if "GeoIP reload: refused" in ln]
        assert any("accept_shrink" in ln for ln in refused), refused
        assert "loaded" not in " ".join(ln for ln in server.log.splitlines() if "GeoIP" in ln)
        assert answers(addr) == EXPECTED  # the old database serves on
        metrics = get(api, "/metrics")
        assert 'geodns_geoip_swaps_refused_total{reason="suspect"} 1.0' in metrics
        status = json.loads(get(api, "/api/v1/status"))["geoip"]
        assert status["serving"]["city"]["type"] == "GeoLite2-City"
        assert status["last_refused"]["city"]["suspect"] is True
        # The operator says it is meant: the same file is taken, and answers follow it.
        config = yaml.safe_load(conf.read_text())
        config["geoip"]["accept_shrink"] = True
        conf.write_text(yaml.safe_dump(config))
        # The watch sees the config change (no SIGHUP: that would queue a second reload,
        # each compiling GeoLite2's trees for seconds on a busy machine).
        try:
            wait_for(lambda: f"GeoIP reload: {city} loaded (GeoIP2-City" in server.log, 60)
        except AssertionError:
            raise AssertionError(server.log[-3000:]) from None
        wait_for(lambda: answer_for(addr, "8.8.8.0/24") == DFLT, 30)
        assert answer_for(addr, "81.2.69.0/24") == GB
        assert "Traceback" not in server.log
    finally:
        assert server.stop() == 0, server.log
