"""Packed counter snapshots unpickle to the very dict they were made from."""

from __future__ import annotations

import asyncio
import pickle

from geodns.ops import packing


def test_a_big_map_round_trips_through_slices() -> None:
    counts = {("z.test.", f"n{i}.z.test.", f"p{i % 4}"): i for i in range(3 * packing.SLICE + 5)}
    snap = {"queries": {("z.test.", 1, 0, "udp"): 7}, "by_pool": dict(counts), "fail_open": 2}
    packed = asyncio.run(packing.pack_snapshot(snap))
    assert isinstance(packed["by_pool"], packing.Packed)
    assert len(packed["by_pool"].slices) == 4
    assert isinstance(packed["queries"], dict)  # small maps are left as they are
    back = pickle.loads(pickle.dumps(("stats", 1, packed)))
    assert back == ("stats", 1, {"queries": snap["queries"], "by_pool": counts, "fail_open": 2})


def test_packing_yields_to_the_loop_between_slices() -> None:
    turns = 0

    async def main() -> None:
        nonlocal turns

        async def count() -> None:
            nonlocal turns
            while True:
                turns += 1
                await asyncio.sleep(0)

        counter = asyncio.create_task(count())
        await packing.pack({i: i for i in range(10 * packing.SLICE)})
        counter.cancel()

    asyncio.run(main())
    assert turns >= 10  # answering (here: the counter) ran between every two slices
