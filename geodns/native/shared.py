"""Rate limiting and server cookies on the native tables (geodns._native, issue 14).

With `dns.fast_path: native` a worker answers most UDP queries on native threads
(geodns._native) and the rest in the Python handler. Both must spend from ONE set of RRL
accounts and hand out the same server cookie to a client, or a flood split between the
paths would get twice its rate and a resolver would see its cookie change with the path.
So the tables live in C, once per worker, and these classes are the handler's drop-ins for
dns/rrl.py's RateLimiter and dns/cookies.py's ServerCookies on those tables: same methods,
same semantics (tests/unit/test_native_abuse.py runs the Python modules' tests on them).
`capsule()` hands the very table to geodns._native.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from geodns.dns.cookies import ServerCookies
from geodns.dns.rrl import OK, TABLE_SIZE, RateLimiter

try:
    from geodns import _native as native
except ImportError:  # no compiler at install time: the Python path serves
    native = None

log = logging.getLogger("geodns.rrl")


def available() -> bool:
    """Whether the C extension loaded (else use dns/rrl.py and dns/cookies.py)."""
    return native is not None


class NativeRateLimiter:
    """rrl.RateLimiter's interface on a gd_rrl table (csrc/rrl/rrl.h)."""

    __slots__ = ("all_rate", "last_log", "log_only", "table")

    def __init__(
        self,
        rates: tuple[int, int, int],
        *,
        window: float = 15.0,
        slip: int = 2,
        ipv4_prefix: int = 24,
        ipv6_prefix: int = 56,
        exempt: Iterable[str] = (),
        log_only: bool = False,
        clock: Callable[[], float] | None = None,
        size: int = TABLE_SIZE,
        all_rate: int = 0,
    ) -> None:
        if native is None:
            raise RuntimeError("geodns._native is not built")
        self.all_rate = all_rate
        # clock None: CLOCK_MONOTONIC read in C, which is what time.monotonic() reads
        self.table = native.RateLimiter(
            rates,
            window=window,
            slip=slip,
            ipv4_prefix=ipv4_prefix,
            ipv6_prefix=ipv6_prefix,
            exempt=tuple(exempt),
            log_only=log_only,
            clock=clock,
            size=size,
            all_rate=float(all_rate),
        )
        self.log_only = log_only
        self.last_log = float("-inf")

    def verdict(self, host: str, kind: int, name: bytes) -> int:
        """Spend one response of `kind` for `name` (question or zone) to `host`'s network."""
        verdict = self.table.verdict(host, kind, name)
        if verdict != OK:
            self.log_limited()
        return verdict

    def log_limited(self, now: float | None = None) -> None:
        """rrl.py's line, at most once a second, counting what the native threads limited
        too: the worker also calls this once a second so their floods are logged."""
        now = time.monotonic() if now is None else now
        if now - self.last_log < 1.0:
            return
        count, host = self.table.take_limited()
        if not count:
            return
        mode = "would limit (log_only)" if self.log_only else "limited"
        log.warning("rrl: %s %d responses; the latest to %s", mode, count, host)
        self.last_log = now

    def table_bytes(self) -> int:
        return self.table.table_bytes()

    def capsule(self) -> object:
        """The gd_rrl* for geodns._native (valid while this object lives)."""
        return self.table.capsule()


class NativeServerCookies(ServerCookies):
    """ServerCookies whose memo is the worker's gd_cookies table (csrc/cookies/cookies.h),
    shared with the native threads. Counts go to the handler's stats as before; the native
    threads count in the table (`native_counts()`), and cookies_total is the sum."""

    __slots__ = ("jar",)

    def __init__(
        self,
        secret: bytes,
        memos: object,
        counts: dict[str, int],
        clock: Callable[[], float] = time.time,
        slots: int = 0,
    ) -> None:
        super().__init__(secret, memos, counts, clock)  # type: ignore[arg-type]
        if native is None:
            raise RuntimeError("geodns._native is not built")
        self.jar = native.Cookies(secret, slots)

    def option(self, body: bytes, host: str) -> bytes:
        """The COOKIE option for the reply to a query from `host` carrying `body` (well
        formed): what ServerCookies.option() gives, from the shared memo."""
        now = int(self.clock())
        result, option, expires = self.jar.answer(body, host, now, False)  # host parsed in C
        if result < 0:
            raise ValueError("a COOKIE option that is not well formed")
        name = native.COOKIE_RESULTS[result]
        self.counts[name] += 1
        self.valid_seen = self.valid_seen or result == 1
        self.result, self.expires, self.last = name, expires, option
        return option

    def native_counts(self) -> dict[str, int]:
        """What the native threads counted (new, valid, invalid, malformed)."""
        return self.jar.counts()

    def capsule(self) -> object:
        """The gd_cookies* for geodns._native (valid while this object lives)."""
        return self.jar.capsule()


def native_limiter(lim: RateLimiter) -> NativeRateLimiter:
    """A native table with `lim`'s settings (fresh accounts). The supervisor makes the
    server's one before forking (build.shared_limiter): every worker then shares it."""
    return NativeRateLimiter(
        lim.rates,
        window=lim.window,
        slip=lim.slip,
        ipv4_prefix=32 - lim.v4_shift,
        ipv6_prefix=128 - lim.v6_shift,
        exempt=[str(n) for n in lim.exempt],
        log_only=lim.log_only,
        clock=None if lim.clock is time.monotonic else lim.clock,
        size=lim.mask + 1,
        all_rate=lim.all_rate,
    )


def use_native_tables(handler: object) -> tuple[object | None, object | None]:
    """Move a handler's rate limiter and server cookies (as dns/rrl.py and dns/cookies.py
    made them from the config) onto native tables with the same settings; returns their
    capsules (gd_rrl*, gd_cookies*; None where that feature is off) for geodns._native.
    A worker calls this once, before its native threads start."""
    lim = getattr(handler, "rrl", None)
    if isinstance(lim, RateLimiter):
        handler.rrl = lim = native_limiter(lim)  # type: ignore[attr-defined]
    jar = getattr(handler, "cookies", None)
    if isinstance(jar, ServerCookies) and not isinstance(jar, NativeServerCookies):
        handler.cookies = jar = NativeServerCookies(  # type: ignore[attr-defined]
            jar.secret, jar.memos, jar.counts, jar.clock
        )
    return (
        lim.capsule() if isinstance(lim, NativeRateLimiter) else None,
        jar.capsule() if isinstance(jar, NativeServerCookies) else None,
    )
