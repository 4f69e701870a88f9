"""Free big containers a little at a time, so no single C call holds the GIL for long.

Dropping the last reference to a dict of a million entries frees every entry inside one
C call: tens to hundreds of milliseconds in which no other thread (the event loop) runs.
Emptying it from a Python loop instead lets the interpreter switch threads every few
milliseconds (sys.getswitchinterval) while the same work gets done.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any

LIST_STEP = 512  # list items freed per C call


def drain(container: Any) -> None:
    """Empty a dict, set or list in small steps (its last reference may then go at once)."""
    try:  # emptied by someone else meanwhile is fine: then there is nothing left to do
        if isinstance(container, dict):  # deleting in order is 3x quicker than popitem()
            keys = list(container)  # one C call, ~10 ms a million keys
            for key in keys:
                del container[key]
            drain(keys)
        elif isinstance(container, set):
            pop = container.pop
            while container:
                pop()
        elif isinstance(container, list):
            while container:
                del container[-LIST_STEP:]
    except KeyError:
        pass


def drain_tree(node: Any) -> None:
    """Empty nested dicts and lists (a parsed YAML document) depth first, in small steps.

    Line maps beside them (yamlio's `key_where` / `item_where`) are emptied too.
    """
    for attr in ("key_where", "item_where"):
        side = getattr(node, attr, None)
        if side is not None and len(side) > 64:
            drain(side)
    if isinstance(node, dict):
        keys = list(node)
        for key in keys:
            value = node.pop(key)
            if isinstance(value, (dict, list)) and len(value) > 64:
                drain_tree(value)
        drain(keys)
    elif isinstance(node, list):
        while node:
            value = node.pop()
            if isinstance(value, (dict, list)) and len(value) > 64:
                drain_tree(value)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection while a big table is built; then freeze what is alive.

    A build allocates millions of long-lived objects. With the collector on, the full
    collections it triggers walk all of them while holding the GIL (seconds at a million
    names). Off while building, then gc.freeze() moves every live object (the new table
    with it) out of the collector's sight, so later collections stay as quick as on a
    small zone. Frozen objects are still freed by reference counting when dropped.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
