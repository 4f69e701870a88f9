"""The process's open-file limit: raised to the hard limit at start, so sockets do not run out."""

from __future__ import annotations

import logging
import resource

log = logging.getLogger("geodns")


def raise_open_files() -> int:
    """Lift the soft RLIMIT_NOFILE to the hard one and log the figure; the limit now in force.

    Every HTTP and DNS-over-TCP connection is a descriptor; the usual soft limit of 1,024
    is far below what the kernel allows (the hard limit), and hitting it refuses every
    new connection of every kind. Worker processes forked later inherit the raised limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:  # e.g. an unlimited hard limit on some systems
            log.warning("open files: soft limit %d kept (cannot raise to %d: %s)", soft, hard, exc)
            return soft
        log.info("open files: soft limit raised from %d to %d (the hard limit)", soft, hard)
        return hard
    log.info("open files: limit %d (soft = hard)", soft)
    return soft
