"""`geodns healthcheck`: ask a running server's /healthz or /readyz at its configured address."""

from __future__ import annotations

import urllib.error
import urllib.request

from geodns import config as cfg

# A wildcard listen address is probed on the loopback address of its family.
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def url_for(listen: str, path: str) -> str:
    """http.listen (`0.0.0.0:8053`, `[::]:8053`, `10.0.0.5:80`) -> the URL to probe `path` on."""
    host, port = cfg.parse_hostport(listen, 8053)
    return f"http://{cfg.format_hostport(_WILDCARDS.get(host, host), port)}{path}"


def probe(url: str, timeout: float) -> tuple[bool, str]:
    """(healthy, one line saying what was seen): healthy only on HTTP 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.status == 200, f"{url}: {reply.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{url}: {exc.code} {exc.read(200).decode(errors='replace').strip()}"
    except (OSError, ValueError) as exc:
        return False, f"{url}: {getattr(exc, 'reason', None) or exc}"
