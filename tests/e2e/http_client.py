"""A real HTTP client (aiohttp) for tests that run the server in a thread: one GET, its reply."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp


def get(addr: tuple[str, int], path: str) -> tuple[int, str]:
    """(status, body text) of GET http://addr/path, on a fresh event loop of its own."""

    async def fetch() -> tuple[int, str]:
        url = f"http://{addr[0]}:{addr[1]}{path}"
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            return resp.status, await resp.text()

    return asyncio.run(fetch())


def get_json(addr: tuple[str, int], path: str) -> Any:
    import json

    status, text = get(addr, path)
    assert status == 200, (status, text)
    return json.loads(text)
