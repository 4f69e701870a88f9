"""Bind errors in words: which address, which protocol, and what to do about it."""

from __future__ import annotations

import errno

# What each common bind failure means for someone starting geodns, and what to change;
# {key} is the config key that holds the address (dns.listen or http.listen).
REMEDIES = {
    errno.EADDRINUSE: "address already in use (another {what}? pick another port in {key})",
    errno.EACCES: (
        "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE: "
        "AmbientCapabilities=CAP_NET_BIND_SERVICE in a systemd unit, "
        "`setcap cap_net_bind_service=+ep` on the interpreter, NET_BIND_SERVICE in a "
        "container; or a port of 1024 or more in {key})"
    ),
    errno.EADDRNOTAVAIL: "address not available (no interface here has it: check {key})",
    errno.EAFNOSUPPORT: "address family not supported (no IPv6 here? drop it from {key})",
}


class BindError(OSError):
    """An OSError (errno kept) whose text names the socket and the remedy."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


def bind_error(
    exc: OSError, protocol: str, host: str, port: int, key: str | None = None
) -> BindError:
    """`cannot listen on UDP 127.0.0.1:53: address already in use (...)` for `exc`."""
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    http = protocol == "HTTP"
    key = key or ("http.listen" if http else "dns.listen")
    what = "server (often a second geodns)" if http else "DNS server"
    default = f"{(exc.strerror or str(exc)).lower()} (check {key})"
    reason = REMEDIES.get(exc.errno or 0, default).format(key=key, what=what)
    return BindError(exc.errno, f"cannot listen on {protocol} {address}: {reason}")
