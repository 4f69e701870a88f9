"""A removed zone file is said, counted and drops readiness when it was the last; zero zones
fail `geodns check` and keep /readyz at 503."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e import http_client
from tests.servers import DATA, REPO, ServerThread, write_config

# State must reach every worker: `make test` runs these again with two (-m workers).
pytestmark = [pytest.mark.workers]

SMALL = """\
zone: small.test.
ns: [ns1.small.test.]
records:
  ns1: {A: 192.0.2.53}
"""


def get(server: ServerThread, path: str) -> tuple[int, str]:
    return http_client.get(server.app.http_bound, path)


def removals(server: ServerThread) -> str:
    _, text = get(server, "/metrics")
    return next(ln for ln in text.splitlines() if ln.startswith("geodns_zone_removals_total"))


def test_removed_zone_files_are_logged_counted_and_unready_at_zero(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    zones = tmp_path / "zones"
    zones.mkdir()
    shutil.copy(DATA / "zones" / "core" / "example.test.yaml", zones)
    (zones / "small.test.yaml").write_text(SMALL)
    server = ServerThread(write_config(tmp_path, zones)).start()
    try:
        assert get(server, "/readyz")[0] == 200
        assert removals(server) == "geodns_zone_removals_total 0.0"
        (zones / "small.test.yaml").unlink()
        assert server.call(server.app.reload) is True
        gone = f"zone small.test. removed (file {zones / 'small.test.yaml'} gone)"
        assert any(r.levelno == logging.WARNING and r.getMessage() == gone for r in caplog.records)
        assert removals(server) == "geodns_zone_removals_total 1.0"
        assert get(server, "/readyz")[0] == 200  # one zone left
        (zones / "example.test.yaml").unlink()
        assert server.call(server.app.reload) is True
        assert removals(server) == "geodns_zone_removals_total 2.0"
        assert get(server, "/readyz") == (503, "not ready: no zone loaded\n")
        assert "no zone left" in caplog.text
        (zones / "small.test.yaml").write_text(SMALL)
        assert server.call(server.app.reload) is True
        assert get(server, "/readyz")[0] == 200
    finally:
        server.stop()


def test_serve_with_no_zone_starts_but_is_not_ready(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    server = ServerThread(write_config(tmp_path, zones)).start()
    try:
        assert get(server, "/healthz")[0] == 200
        assert get(server, "/readyz") == (503, "not ready: no zone loaded\n")
        assert f"no zone loaded from {zones}: not ready" in caplog.text
        _, status = get(server, "/api/v1/status")
        assert '"ready": false' in status
    finally:
        server.stop()


def test_check_fails_on_no_zone(tmp_path: Path) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    config = write_config(tmp_path, zones)
    result = subprocess.run(
        [sys.executable, "-m", "geodns", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"{zones}: no zone files (*.yaml): nothing would be served" in result.stderr
