"""The floor for a Python DNS responder: copies the header and question, appends one A record.

Run `python floor.py PORT` (needs uvloop). No parsing beyond the end of the question and no
lookups: whatever a real server does costs more, so bench/run.sh shows each result as a
ratio to this one for the same mix.
"""

from __future__ import annotations

import asyncio
import struct
import sys

import uvloop

ANSWER = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + bytes([192, 0, 2, 1])
FLAGS_COUNTS = b"\x84\x00\x00\x01\x00\x01\x00\x00\x00\x00"  # QR AA, 1 question, 1 answer


class Floor(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        i = 12
        while i < len(data) and data[i]:
            i += data[i] + 1
        end = i + 5
        if end > len(data):
            return  # not a question: dropped
        self.transport.sendto(data[:2] + FLAGS_COUNTS + data[12:end] + ANSWER, addr)


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(Floor, local_addr=("127.0.0.1", port))
    await asyncio.Event().wait()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
