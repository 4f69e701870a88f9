"""The query log and dnstap of the native engine (geodns._native.QueryLog): the native
threads push each answer into a ring of their own, a writer thread in C writes the log
lines (the Python path's format, to stderr) and the dnstap frames; what Python answers is
pushed from the event loop (dnstap) or logged by the handler (lines, with its decision)."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

from geodns import wire as w
from geodns.native.table import _engine

log = logging.getLogger("geodns.native")
THREADS = 16  # rings for every thread a native server may run (untouched ones cost nothing)
# observe(transport, query, reply, peer (host, port), local (host, port), seconds): one
# answer sent, on any path (dns/stats.py answered(), and dnstap)
Observe = Callable[[str, bytes, bytes, tuple, tuple, float], None]


class QueryLog:
    """One worker's query log: its C writer, what the native threads are asked to push
    (lines and/or dnstap), and the observer Python's transports call per answer."""

    def __init__(self, native: Any, text: bool, dnstap: bool, sample: float) -> None:
        self.native, self.text, self.dnstap, self.sample = native, text, dnstap, sample
        self.flags = (_engine.LOG_TEXT if text else 0) | (_engine.LOG_DNSTAP if dnstap else 0)

    def attach(self, server: Any) -> None:
        """The native threads of `server` push their answers (before it starts)."""
        server.set_log(self.native, self.sample if self.text else 1.0, self.flags)

    def observer(self, stats: Any) -> Observe:
        """What Python's transports call per answer: the histograms, and dnstap."""
        answered = stats.answered
        if not self.dnstap:
            return lambda transport, data, resp, peer, local, seconds: answered(
                transport, len(data), len(resp), seconds
            )
        push, tap = self.native.push, _engine.LOG_DNSTAP

        def observe(transport: str, data: bytes, resp: bytes, peer: tuple, local: tuple,
                    seconds: float) -> None:  # fmt: skip
            answered(transport, len(data), len(resp), seconds)
            push(data, resp, peer[0], peer[1], local[0], local[1], transport == "tcp",
                 None, None, int(seconds * 1e9), tap, False)  # fmt: skip

        return observe

    def native_answer(self) -> Any:
        """For the engine's answers to messages Python holds (TCP, native/answer.py): a
        log line (path native) per answer, sampled; None when lines are off."""
        if not self.text:
            return None
        push, text, sample, draw = self.native.push, _engine.LOG_TEXT, self.sample, random.random

        def logged(data: bytes, reply: bytes, host: str, tcp: bool, zone: str | None,
                   pool: str | None, seconds: float) -> None:  # fmt: skip
            if sample >= 1.0 or draw() < sample:
                push(data, reply, host, 0, "", 0, tcp, zone, pool, int(seconds * 1e9), text, True)

        return logged

    def counts(self) -> dict[str, int]:
        """query_log_dropped_total{reason}: ring full, dnstap with no reader connected."""
        stats = self.native.stats()
        return {"ring_full": stats["dropped"], "dnstap_unconnected": stats["tap_lost"]}

    def stop(self) -> None:
        """Everything pushed so far written (dnstap: STOP sent), the writer ended."""
        self.native.stop()


def open_log(conf: Any) -> QueryLog | None:
    """A started QueryLog when the config logs queries or writes dnstap, else None (also
    without the extension: the handler's lines still come, dnstap is said to be off)."""
    text = conf.log.queries and logging.getLogger("geodns.query").isEnabledFor(logging.INFO)
    if not text and not conf.log.dnstap:
        return None
    if _engine is None:
        if conf.log.dnstap:
            log.warning("log.dnstap is set but geodns._native is not built: no dnstap")
        return None
    native = _engine.QueryLog(
        THREADS,
        fd=2 if text else -1,
        dnstap=conf.log.dnstap,
        json=conf.log.format == "json",
        types=dict(w.TYPE_TEXT),
        rcodes=dict(w.RCODE_TEXT),
        max_v4=conf.ecs.max_source_v4,
        max_v6=conf.ecs.max_source_v6,
        identity=conf.instance_name().encode(),
    )
    native.start()
    return QueryLog(native, bool(text), conf.log.dnstap is not None, conf.log.query_sample)


def plain(stats: Any) -> Observe:
    """The observer without a query log: the histograms alone."""
    answered = stats.answered
    return lambda transport, data, resp, peer, local, seconds: answered(
        transport, len(data), len(resp), seconds
    )
