"""The query log line of an answer the handler made: the fields the native threads write
too (csrc/log/line.c): client, ECS, zone, pool, scope, rcode, name, type, size, µs, path."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from geodns import names
from geodns import wire as w

qlog = logging.getLogger("geodns.query")
STREAM_SIZE = 65535  # a transport that carries this much is TCP's


def write(
    data: bytes, host: str, max_size: int, outcome: Any, reply: bytes | None, us: int
) -> None:
    """One line: "query from HOST[ ecs A/P]: zone Z pool P scope S rcode R name N type T
    size B us U path TRACE" (text), or the same message and fields as JSON (ops/logs.py)."""
    client = outcome.client
    end = data.find(b"\x00", 12) + 1 if len(data) > 12 else 0
    name = names.wire_to_text(data[12:end]) if 12 < end <= len(data) - 2 else "?"
    qtype = w.type_text(int.from_bytes(data[end : end + 2], "big")) if name != "?" else "?"
    ecs = (
        f"{ipaddress.ip_address(client.address)}/{client.source_prefix}"
        if client is not None and client.ecs
        else None
    )
    size = len(reply) if reply is not None else 0
    qlog.info(
        "query from %s%s: zone %s pool %s scope %d rcode %s name %s type %s size %d us %d path %s",
        host,
        f" ecs {ecs}" if ecs else "",
        outcome.zone,
        outcome.pool,
        outcome.scope,
        w.RCODE_TEXT.get(outcome.rcode, outcome.rcode),
        name,
        qtype,
        size,
        us,
        " | ".join(outcome.trace) or "static",
        extra={
            "fields": {
                "client": host,
                "zone": outcome.zone,
                "pool": outcome.pool,
                "scope": outcome.scope,
                "rcode": outcome.rcode,
                "path": outcome.trace,
                "name": name,
                "type": qtype,
                "ecs": ecs,
                "size": size,
                "us": us,
                "transport": "tcp" if max_size >= STREAM_SIZE else "udp",
            }
        },
    )
