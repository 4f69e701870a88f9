"""What one DNS-over-TCP connection may hold in the kernel, and how a stuck one is let go.

Left to the kernel's autotuning, a connection whose client pipelines queries and never reads
the answers grows its send buffer to net.ipv4.tcp_wmem's ceiling (4 MB) and its receive
buffer towards tcp_rmem's: 200 such clients pinned ~1 GB of this server's kernel memory
(bench/RESULTS.md, "TCP slow readers"). A DNS message is at most 64 KB and a real client
reads what it asked for, so each connection gets small fixed buffers instead, and one whose
answers wait unread past dns.tcp_write_timeout is reset (tcp.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

# Requested with SO_SNDBUF/SO_RCVBUF (the kernel doubles them for its bookkeeping). Fixed
# sizes also turn autotuning off for the connection. 16 KB in is ~400 pipelined questions;
# 32 KB out is about a window of answers on the wire at once (a 64 KB answer just takes a
# few round trips). Measured on loopback (64 KB segments, the worst case for overhead):
# ~75 KB of kernel memory a connection that does not read, against ~5 MB autotuned.
SEND_BUFFER = 16 * 1024
RECEIVE_BUFFER = 8 * 1024
# Answers we hold ourselves (past what the kernel took) before reading no further queries:
# one largest message, so any single answer can always be queued whole.
HELD_ANSWERS = 2 + 65535
_LINGER_NOW = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() resets, frees at once


def cap_buffers(transport: asyncio.BaseTransport) -> None:
    """Fixed kernel buffers for this connection; any answer held by us pauses writing."""
    sock = transport.get_extra_info("socket")
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    except (AttributeError, OSError):  # not a kernel socket (tests' fakes): nothing to cap
        pass
    # high=0: pause_writing as soon as the kernel does not take a write whole, resume once
    # all of it is out (low=0): the write deadline runs exactly while answers wait.
    transport.set_write_buffer_limits(high=0)  # type: ignore[attr-defined]


def reset(transport: asyncio.BaseTransport) -> None:
    """Close at once with a RST: what the kernel still held for the peer is freed now,
    not kept by an orphaned socket retrying a client that does not read."""
    sock = transport.get_extra_info("socket")
    with contextlib.suppress(AttributeError, OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_NOW)
    transport.abort()  # type: ignore[attr-defined]
