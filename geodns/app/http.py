"""The app's HTTP part: the API and the probes on their own sockets, entered on the app's stack."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from functools import partial
from typing import Any

from geodns import config as cfg
from geodns.serve.binding import bind_error

log = logging.getLogger("geodns")


class Fronting:
    """A mixin of App: the HTTP API and the probes, each entered on the app's stack."""

    async def start_http(self, stack: AsyncExitStack) -> Any:
        """The HTTP API, bound now so a busy port fails loudly too; its cleanup is on `stack`
        before it binds, so a front that set up but could not bind is torn down as well.

        Behind a connection cap and header/body/idle deadlines (ops/httpfront.py), so
        clients that connect and dawdle cannot hold this process's descriptors.
        """
        listen, probes = self.config.http.listen, self.config.http.probe_listen
        if listen is None:  # the probes may still listen alone
            return None if probes is None else await self._start_probes(stack, probes)
        from geodns.ops import api, httpfront, zonesapi

        host, port = cfg.parse_hostport(listen, 8053)
        http = self.config.http
        token = api.read_token(http.token_file)
        tokens = zonesapi.Tokens.from_config(http)
        zones = partial(zonesapi.mount, self.zones, tokens, http.max_body)
        front = httpfront.HttpFront(api.build(self, token, http.max_body, [zones]), http)
        stack.push_async_callback(front.cleanup)
        try:
            self.http_bound = await front.start(host, port)
        except OSError as exc:  # the address, the protocol and a remedy, as for DNS
            raise bind_error(exc, "HTTP", host, port) from exc
        log.info("HTTP API on http://%s", cfg.format_hostport(*self.http_bound))
        if probes is not None:
            await self._start_probes(stack, probes)
        return front

    async def _start_probes(self, stack: AsyncExitStack, listen: str) -> Any:
        """/healthz and /readyz alone on http.probe_listen (ops/probefront.py)."""
        from geodns.ops import probefront

        host, port = cfg.parse_hostport(listen, 8053)
        front = probefront.probe_front(self, self.config.http)
        stack.push_async_callback(front.cleanup)
        try:
            self.probe_bound = await front.start(host, port)
        except OSError as exc:
            raise bind_error(exc, "HTTP", host, port, key="http.probe_listen") from exc
        log.info("HTTP probes on http://%s", cfg.format_hostport(*self.probe_bound))
        return front
