"""`http.probe_listen`: /healthz and /readyz on a listener of their own, beside the API's.

A flood of slow clients takes the API's connection cap (`http.max_connections`) by
design: refusing is what keeps the process alive. But the kubelet's liveness probe then
fails with everyone else and Kubernetes restarts a healthy pod: the attack wins twice.
Here the probes have their own socket, their own small cap and nothing else to serve, so
a flood of the API cannot starve them (and the API's paths are not exposed on it).
"""

from __future__ import annotations

from dataclasses import replace

from geodns.config import HttpConfig
from geodns.ops import api
from geodns.ops.httpfront import HttpFront
from geodns.ops.sources import Sources

# Probers are the kubelet, a load balancer, `geodns healthcheck`: a handful at a time.
PROBE_MAX_CONNECTIONS = 64


def probe_front(app: Sources, conf: HttpConfig) -> HttpFront:
    """The probes' front door: the API's deadlines, a cap of its own; `await start()` it."""
    return HttpFront(api.build_probes(app), replace(conf, max_connections=PROBE_MAX_CONNECTIONS))
