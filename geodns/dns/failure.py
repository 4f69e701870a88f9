"""What a query gets when answering it raised: SERVFAIL, so the client moves on at once."""

from __future__ import annotations

from geodns import wire as w
from geodns.dns import assemble


def servfail(data: bytes) -> bytes | None:
    """SERVFAIL with the query's ID and question (when readable), no records, no OPT; None
    for what is never answered (a response, a runt). Never raises: it runs where the
    handler already has."""
    if len(data) < 12 or data[2] & 0x80:
        return None
    try:
        return assemble.error(data, w.RCODE_SERVFAIL, None, False)  # type: ignore[arg-type]
    except Exception:  # a query that breaks even this gets silence, as before
        return None
