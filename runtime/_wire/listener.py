"""Listening and dialling for links: TLS optional, limits that hold before any trust.

`serve_authenticated` accepts connections and hands each one that passes the cookie
handshake to a handler. Before a peer has proved anything it may cost this node
little, and never the node itself:

- at most `ConnectionLimits.handshaking` connections are still handshaking (TLS and
  cookie) at once, and at most `per_address` from one peer address; a connection over
  either limit is closed at once, unread;
- each handshake (TLS included) has a deadline (`ConnectionLimits.timeout`);
- running out of file descriptors or buffers (EMFILE, ENFILE, ENOBUFS, ENOMEM) while
  accepting makes the listener pause for `ACCEPT_BACKOFF` seconds and go on: the node
  refuses connections for a moment and never stops;
- rejections and accept errors are logged with a rate limit: a burst in full, then one
  line per interval that counts what it left out, never a line per connection.

`listen` raises this process's soft limit of open files to its hard limit (once), so a
node serves as many connections as the system lets it.

Use this module to run a node's listener; use `runtime._wire.handshake` for the
handshake alone (tests, tools).
"""

from __future__ import annotations

import errno
import logging
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc
from anyio.abc import ByteStream, Listener
from anyio.streams.tls import TLSListener, TLSStream

from runtime._wire.handshake import (
    HANDSHAKE_TIMEOUT,
    HandshakeError,
    PeerInfo,
    peer_address,
    server_handshake,
)

__all__ = (
    "ACCEPT_BACKOFF",
    "ConnectionLimits",
    "RateLimitedLog",
    "connect",
    "listen",
    "raise_open_file_limit",
    "serve_authenticated",
)

logger = logging.getLogger("runtime.handshake")

ACCEPT_BACKOFF = 0.1  # seconds the listener pauses after running out of descriptors
# accept() errors that say "not now", not "this listener is broken".
_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


@dataclass(frozen=True)
class ConnectionLimits:
    """What a listener allows peers that have not proved the cookie yet.

    `handshaking`: connections still in their handshake, at most, on this node (default
    256); `per_address`: of those, from one peer address (host, any port; default 32);
    `timeout`: seconds a handshake may take, TLS included (default 5).
    """

    handshaking: int = 256
    per_address: int = 32
    timeout: float = HANDSHAKE_TIMEOUT

    def __post_init__(self) -> None:
        for name in ("handshaking", "per_address"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive number of connections, got {value!r}")
        if not self.timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout!r}")


class RateLimitedLog:
    """Log lines of one kind at most `burst` at once and one per `interval` after,
    counting what was left out; the next line that goes out says how many.

    Guarantees: a flood of N events writes at most `burst + elapsed / interval` lines,
    and no event goes uncounted (`suppressed` holds the count not yet reported).
    """

    def __init__(
        self,
        log: logging.Logger,
        *,
        burst: int = 10,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._burst = burst
        self._interval = interval
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self.suppressed = 0

    def log(self, level: int, message: str, *args: object) -> bool:
        """Log `message % args` at `level` unless over the rate; True if it went out."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) / self._interval)
        self._last = now
        if self._tokens < 1:
            self.suppressed += 1
            return False
        self._tokens -= 1
        if self.suppressed:
            message += " (and %d more like it not logged, over the rate limit)"
            args = (*args, self.suppressed)
            self.suppressed = 0
        self._log.log(level, message, *args)
        return True


_raised = False


def raise_open_file_limit() -> None:
    """Raise this process's soft limit of open files to its hard limit (once; Unix)."""
    global _raised
    if _raised:
        return
    _raised = True
    try:
        import resource
    except ImportError:  # not on Unix: nothing to raise
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as error:
            logger.debug("could not raise the open-file limit to %s: %s", target, error)


async def connect(
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
) -> ByteStream:
    """Open a TCP connection to `host:port`, wrapped in TLS when `ssl_context` is given.

    `server_hostname` is the name checked against the server's certificate (default:
    `host`). The TLS session closes without the close_notify exchange: the records
    carry their own lengths and tags, so a truncation cannot pass unnoticed.
    """
    if ssl_context is None:
        return await anyio.connect_tcp(host, port)
    return await anyio.connect_tcp(
        host,
        port,
        ssl_context=ssl_context,
        tls_hostname=server_hostname,
        tls_standard_compatible=False,
    )


async def listen(
    host: str,
    port: int = 0,
    *,
    ssl_context: ssl.SSLContext | None = None,
    tls_timeout: float = HANDSHAKE_TIMEOUT,
) -> Listener[ByteStream]:
    """Listen on `host:port` (0 picks a free port), TLS when `ssl_context` is given.

    The bound port is ``listener.extra(SocketAttribute.local_port)``, with or without
    TLS. Served by `serve_authenticated`, TLS handshakes run under its limits; served
    by anyio's ``listener.serve``, one that fails or takes over `tls_timeout` seconds
    drops that connection (anyio logs it) and the listener goes on.
    """
    raise_open_file_limit()
    raw = await anyio.create_tcp_listener(local_host=host, local_port=port)
    if ssl_context is None:
        return raw
    return _TLSListener(raw, ssl_context, standard_compatible=False, handshake_timeout=tls_timeout)


class _TLSListener(TLSListener):
    """A `TLSListener` that also shows the socket's attributes (its port, above all)."""

    @property
    def extra_attributes(self) -> Any:
        return {**self.listener.extra_attributes, **super().extra_attributes}


def _sockets(listener: Listener[Any]) -> tuple[list[Any], ssl.SSLContext | None]:
    """The socket listeners under `listener` (each can `accept`), and its TLS context."""
    context = None
    if isinstance(listener, TLSListener):
        context, listener = listener.ssl_context, listener.listener
    inner = getattr(listener, "listeners", None)  # anyio's MultiListener
    sockets = list(inner) if inner is not None else [listener]
    for socket_listener in sockets:
        if not callable(getattr(socket_listener, "accept", None)):
            raise TypeError(f"serve_authenticated needs listeners from listen(), got {listener!r}")
    return sockets, context


async def serve_authenticated(
    listener: Listener[ByteStream],
    handler: Callable[[ByteStream, PeerInfo], Awaitable[None]],
    *,
    cookie: bytes,
    node: str,
    limits: ConnectionLimits | None = None,
) -> None:
    """Accept connections until cancelled; run `handler(stream, peer)` for each that
    passes `server_handshake`, within `limits` (see the module's docstring).

    A connection that fails the handshake is closed and logged as a warning on the
    "runtime.handshake" logger with the peer's address and the reason (rate-limited);
    the listener goes on serving everyone else. The handler owns its stream (close it
    when done) and should handle its own errors: one it raises ends the listener.
    `listener` comes from `listen` (TLS or not); it is not closed here.
    """
    sockets, context = _sockets(listener)
    gate = _Gate(limits or ConnectionLimits(), node)
    async with anyio.create_task_group() as tasks:
        for socket_listener in sockets:
            tasks.start_soon(gate.accept_loop, socket_listener, tasks, handler, cookie, context)


class _Gate:
    """The limits of one listener: who is handshaking, and the rate-limited logs."""

    def __init__(self, limits: ConnectionLimits, node: str) -> None:
        self.limits = limits
        self.node = node
        self.handshaking = 0
        self.by_host: Counter[str] = Counter()
        self.rejected = RateLimitedLog(logger)
        self.refused = RateLimitedLog(logger)
        self.exhausted = RateLimitedLog(logger, burst=1)

    async def accept_loop(
        self,
        listener: Any,
        tasks: anyio.abc.TaskGroup,
        handler: Callable[[ByteStream, PeerInfo], Awaitable[None]],
        cookie: bytes,
        context: ssl.SSLContext | None,
    ) -> None:
        while True:
            try:
                stream = await listener.accept()
            except OSError as error:
                if error.errno not in _EXHAUSTED:
                    raise
                self.exhausted.log(
                    logging.ERROR, "%s: cannot accept connections for now: %s; pausing %s s"
                    " (raise the open-file limit, ulimit -n, if this goes on)",
                    self.node, error, ACCEPT_BACKOFF,
                )
                await anyio.sleep(ACCEPT_BACKOFF)
                continue
            host = peer_address(stream).rpartition(":")[0]
            if not self._admit(host):
                await anyio.aclose_forcefully(stream)
                continue
            tasks.start_soon(self._handshake, stream, host, handler, cookie, context)

    def _admit(self, host: str) -> bool:
        limits = self.limits
        if self.handshaking >= limits.handshaking:
            what = f"{self.handshaking} connections are handshaking, the limit"
        elif self.by_host[host] >= limits.per_address:
            what = f"{self.by_host[host]} connections from {host} are handshaking, the limit"
        else:
            self.handshaking += 1
            self.by_host[host] += 1
            return True
        self.refused.log(logging.WARNING, "%s: closed a connection from %s at once: %s",
                         self.node, host, what)
        return False

    async def _handshake(
        self,
        stream: ByteStream,
        host: str,
        handler: Callable[[ByteStream, PeerInfo], Awaitable[None]],
        cookie: bytes,
        context: ssl.SSLContext | None,
    ) -> None:
        address = peer_address(stream)
        try:
            with anyio.fail_after(self.limits.timeout) as deadline:
                if context is not None:
                    stream = await _tls(stream, context, address)
                left = max(deadline.deadline - anyio.current_time(), 1e-3)
                peer = await server_handshake(stream, cookie=cookie, node=self.node, timeout=left)
        except HandshakeError as error:
            self.rejected.log(logging.WARNING, "%s: rejected a connection: %s", self.node, error)
            return
        except TimeoutError:
            await anyio.aclose_forcefully(stream)
            self.rejected.log(logging.WARNING, "%s: rejected a connection: TLS handshake with"
                              " %s not done within %s s", self.node, address, self.limits.timeout)
            return
        finally:
            self.handshaking -= 1
            self.by_host[host] -= 1
            if not self.by_host[host]:
                del self.by_host[host]
        await handler(stream, peer)


async def _tls(stream: ByteStream, context: ssl.SSLContext, address: str) -> ByteStream:
    try:
        return await TLSStream.wrap(stream, server_side=True, ssl_context=context,
                                    standard_compatible=False)
    except (ssl.SSLError, OSError, anyio.EndOfStream, anyio.BrokenResourceError) as error:
        await anyio.aclose_forcefully(stream)
        raise HandshakeError(address, f"TLS handshake failed: {error}") from None
