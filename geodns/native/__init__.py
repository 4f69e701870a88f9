"""The one door to the C engine (geodns._native): whether it loaded, and the module."""

from __future__ import annotations

import os
from types import ModuleType


def loaded() -> ModuleType | None:
    """geodns._native, or None where it was not built (GEODNS_NATIVE=optional or off at
    install) or GEODNS_NO_NATIVE is set (act as if not built: the Python path runs)."""
    if os.environ.get("GEODNS_NO_NATIVE"):
        return None
    try:
        from geodns import _native
    except ImportError:  # pragma: no cover - exercised where the extension is not built
        return None
    return _native


def available() -> bool:
    """Whether geodns._native was built and imports (and GEODNS_NO_NATIVE is not set)."""
    return loaded() is not None
