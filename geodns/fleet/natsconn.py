"""Connecting to NATS as fleet.* says: mutual TLS never downgraded, user/password, token,
NKey or .creds; opening (or creating) the bucket with its replicas checked; errors in words."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import nats.js.errors
from nats.aio.client import Client
from nats.js.kv import KeyValue

from geodns.config import FleetConfig

log = logging.getLogger("geodns.fleet")


class StrictTlsClient(Client):
    """A client that refuses a server not requiring TLS *before* it sends CONNECT (and with it
    our credentials): nats-py would otherwise go on in plaintext with a `tls://` URL."""

    async def _process_info(self, info: dict[str, Any], initial_connection: bool = False) -> None:
        if initial_connection and not info.get("tls_required"):
            raise nats.errors.SecureConnRequiredError()  # "secure connection required"
        await super()._process_info(info, initial_connection)


def wants_tls(conf: FleetConfig) -> bool:
    return any(url.startswith("tls://") for url in conf.nats) or any(
        (conf.tls.ca_file, conf.tls.cert_file, conf.tls.key_file)
    )


def tls_context(conf: FleetConfig) -> ssl.SSLContext:
    """Verify the servers against ca_file (else the system's CAs); present our certificate."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=conf.tls.ca_file)
    if conf.tls.cert_file:
        ctx.load_cert_chain(conf.tls.cert_file, conf.tls.key_file)
    return ctx


def credentials(conf: FleetConfig) -> dict[str, Any]:
    """A `.creds` file (JWT and seed), an NKey seed (`.nk`), a password for fleet.user, or
    a token: the file's text."""
    path = conf.credentials
    if path is None:
        return {}
    if path.endswith(".creds"):
        return {"user_credentials": path}
    if path.endswith(".nk"):
        return {"nkeys_seed": path}
    secret = Path(path).read_text(encoding="utf-8").strip()
    if conf.user:
        return {"user": conf.user, "password": secret}
    return {"token": secret}


async def connect(
    conf: FleetConfig,
    gone: Callable[..., Awaitable[None]],
    noted: Callable[[Exception], Awaitable[None]],
) -> Client:
    """One connection, no reconnection of its own (the bus starts a whole new session)."""
    strict = wants_tls(conf)
    nc = StrictTlsClient() if strict else Client()
    extra: dict[str, Any] = {"tls": tls_context(conf)} if strict else {}
    await nc.connect(
        servers=list(conf.nats),
        allow_reconnect=False,
        connect_timeout=2,
        ping_interval=max(1, int(conf.stale_after / 4)),
        max_outstanding_pings=2,
        disconnected_cb=gone,
        closed_cb=gone,
        error_cb=noted,
        **extra,
        **credentials(conf),
    )
    return nc


async def open_bucket(js: Any, conf: FleetConfig, warnings: list[str]) -> KeyValue:
    """The bucket, created with fleet.replicas if missing; an existing one whose replica count
    differs is said loudly (ERROR, and in status) and used as it is."""
    try:
        kv = await js.key_value(conf.bucket)
    except nats.js.errors.BucketNotFoundError:
        log.info("fleet: creating bucket %r with %d replica(s)", conf.bucket, conf.replicas)
        return await js.create_key_value(bucket=conf.bucket, history=1, replicas=conf.replicas)
    status = await kv.status()
    have = status.stream_info.config.num_replicas or 1
    warnings[:] = [w for w in warnings if not w.startswith("replicas")]
    if have != conf.replicas:
        words = f"replicas: bucket {conf.bucket!r} has {have}, fleet.replicas says {conf.replicas}"
        warnings.append(words)
        log.error(
            "fleet: %s (change one of them: nats stream edit KV_%s --replicas)", words, conf.bucket
        )
    return kv


def stopping() -> bool:
    """Whether the running task is being cancelled. nats-py cancels the futures it owns when
    a connection closes (a write's ack, a request), so a CancelledError can reach a task
    nobody cancelled: that is a lost connection, never a reason for the task to end (seen:
    a bus whose session died that way never reconnected, `degraded` with no problem named)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def closed(nc: Any) -> bool:
    """Whether a connected client (no reconnection of its own) is connected no more. Its
    callbacks do not always say so (seen under load: an instance `degraded` for good, on
    the bucket by its own account, its client no longer connected, hearing and writing
    nothing, its session waiting for a callback that never came). Sessions poll this."""
    return nc is not None and not nc.is_connected


@contextlib.contextmanager
def closed_is_lost(what: str) -> Iterator[None]:
    """Around an await on nats-py: a CancelledError we were not sent is a ConnectionError."""
    try:
        yield
    except asyncio.CancelledError as exc:
        if stopping():
            raise
        raise ConnectionError(f"the connection closed under {what}") from exc


def describe(exc: BaseException, last: BaseException | None) -> str:
    """What went wrong, in an operator's words (the server's own error when it sent one)."""
    cause = last if isinstance(exc, nats.errors.NoServersError) and last is not None else exc
    text = str(cause) or type(cause).__name__
    if isinstance(cause, ssl.SSLError) or "SSL" in type(cause).__name__:
        return f"TLS failed: {text}"
    if isinstance(cause, nats.errors.SecureConnRequiredError):
        return "TLS required but the server offers plaintext: refused (never downgraded)"
    if "authorization" in text.lower() or isinstance(cause, nats.errors.AuthorizationError):
        return f"authentication failed: {text}"
    if isinstance(cause, nats.js.errors.ServiceUnavailableError | nats.errors.NoRespondersError):
        return f"JetStream unavailable: {text}"
    if isinstance(cause, nats.js.errors.APIError):
        return f"bucket {text}"
    if isinstance(cause, OSError | nats.errors.NoServersError | TimeoutError):
        return f"no NATS server reachable: {text}"
    return f"{type(cause).__name__}: {text}"


def level(words: str) -> str:
    """Refusals that will not mend by retrying are errors; unreachable servers warnings."""
    return "warning" if words.startswith(("no NATS server", "connection lost")) else "error"
