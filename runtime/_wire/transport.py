"""The received side of a link's bytes on asyncio: `TransportReceiver`, and
`asyncio_transport`, which finds the transport under anyio's stream (the writer's side,
`LinkWriter`, is in `link_io`).

`TransportReceiver` is the byte stream the link's `FrameReader` reads. anyio's
`receive` resumes reading on the transport before each wait and pauses it after (two
epoll_ctl system calls per message on a quiet link); this one takes the protocol's
place on the transport, keeps reading on, and pauses only past `READ_HIGH_WATER`
buffered bytes. It is a *buffered* protocol: the transport reads into one buffer per
thread (`recv_into`) instead of allocating a fresh `READ_SIZE` bytes object per read,
which glibc may serve with an mmap, an mremap and a munmap every time (seen on quiet
links: three system calls and a page fault per message, depending on the process's
allocation history). Writes, back-pressure and closing still go through anyio's stream
(its protocol is told everything that concerns them).

Only plain TCP streams on asyncio (or uvloop) take this path; TLS streams and trio
keep anyio's. On trio the only way to run a callback from the loop is `run_sync_soon`,
which wakes the loop through a socket: measured, that made remote asks slower.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc

__all__ = ("READ_HIGH_WATER", "READ_SIZE", "TransportReceiver", "asyncio_transport")

# Bytes received and not yet read past which the receiver pauses the transport.
READ_HIGH_WATER = 4 * 1024 * 1024
# The most one read takes from the socket (asyncio's own default).
READ_SIZE = 256 * 1024

_TRANSPORT_METHODS = ("write", "get_write_buffer_size", "is_closing", "set_protocol",
                      "pause_reading", "resume_reading")


def asyncio_transport(stream: anyio.abc.ByteStream) -> Any:
    """The transport under anyio's plain TCP stream on asyncio, or None (TLS, trio)."""
    # anyio's asyncio SocketStream keeps it here: an asyncio transport, or uvloop's
    # (which has the same methods but is no asyncio.Transport).
    transport = getattr(stream, "_transport", None)
    protocol = getattr(stream, "_protocol", None)
    if protocol is None or not all(
        callable(getattr(transport, method, None)) for method in _TRANSPORT_METHODS
    ):
        return None
    return transport


class _ReadBuffer(threading.local):
    """The buffer every receiver of one thread reads into: a read is consumed (or
    copied) before the callback that got it returns, and one thread runs one callback
    at a time, so one buffer per thread serves all its links."""

    def __init__(self) -> None:
        self.view = memoryview(bytearray(READ_SIZE))


_read_buffer = _ReadBuffer()


class TransportReceiver(anyio.abc.ByteReceiveStream, asyncio.BufferedProtocol):
    """The received bytes of a plain TCP stream on asyncio, read from its transport.

    Make it right after the handshake, before anything else reads `stream`: it takes
    over the bytes anyio's protocol has buffered, then the protocol's place on the
    transport. `receive` behaves as anyio's: it returns what arrived (at most
    `max_bytes`), raises `anyio.EndOfStream` at the peer's end of stream and
    `anyio.BrokenResourceError` when the connection failed; it checkpoints when data
    is there at once, and cancelling a wait loses nothing.

    With `sink` set, every read that finds nothing queued goes to ``sink(chunk)``
    straight from the transport's callback (reads queued before it was set still come
    out of `receive` first, so the order holds); `receive` then returns only what was
    queued and, after that, end of stream or the connection's error. This saves a task
    wake-up per read: on a link that answers asks, a loop turn on each side of each
    round trip. The sink must not raise (the transport would close the connection),
    and must not keep `chunk`: it is a view of the read buffer, released (and then
    overwritten by the next read) once the sink returns.
    """

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        transport = asyncio_transport(stream)
        if transport is None:
            raise ValueError("TransportReceiver needs anyio's plain TCP stream on asyncio")
        self._transport = transport
        self._anyio = anyio_protocol = getattr(stream, "_protocol")  # noqa: B009
        self._chunks: deque[bytes] = deque(anyio_protocol.read_queue)
        anyio_protocol.read_queue.clear()
        self._buffered = sum(len(chunk) for chunk in self._chunks)
        self._eof: bool = anyio_protocol.is_at_eof
        self._error: BaseException | None = anyio_protocol.exception
        self._lost = transport.is_closing()
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._read_view = _read_buffer.view
        # Set by the owner: each read then goes to it, from the transport's callback,
        # instead of waking a task that waits in `receive` (see `sink` in the docstring).
        self.sink: Callable[[memoryview], None] | None = None
        transport.set_protocol(self)
        if not self._lost:
            transport.resume_reading()

    # -- the protocol side (called by the transport) ------------------------------------

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._read_view

    def buffer_updated(self, nbytes: int) -> None:
        if self.sink is not None and not self._chunks:
            with self._read_view[:nbytes] as chunk:
                self.sink(chunk)
            return
        self._chunks.append(bytes(self._read_view[:nbytes]))
        self._buffered += nbytes
        if self._buffered > READ_HIGH_WATER and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool | None:
        self._eof = True
        self._wake()
        result: bool | None = self._anyio.eof_received()
        return result

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if exc is not None:
            self._error = exc
        self._wake()
        self._anyio.connection_lost(exc)  # anyio's send and aclose learn of it too

    def pause_writing(self) -> None:
        self._anyio.pause_writing()

    def resume_writing(self) -> None:
        self._anyio.resume_writing()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the stream side (called by the link's reader) ------------------------------------

    async def receive(self, max_bytes: int = 65536) -> bytes:
        chunks = self._chunks
        if chunks:
            await asyncio.sleep(0)  # a checkpoint, as anyio's receive has
        while not chunks and not self._eof and not self._lost:
            self._waiter = waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        if not chunks:
            if self._error is not None:
                raise anyio.BrokenResourceError from self._error
            if self._lost and not self._eof:
                raise anyio.ClosedResourceError
            raise anyio.EndOfStream
        chunk = chunks.popleft()
        if len(chunk) > max_bytes:
            chunk, rest = chunk[:max_bytes], chunk[max_bytes:]
            chunks.appendleft(rest)
        self._buffered -= len(chunk)
        if self._paused and self._buffered < READ_HIGH_WATER // 2:
            self._paused = False
            self._transport.resume_reading()
        return chunk

    async def aclose(self) -> None:
        """The link closes the stream it came from, which closes the transport."""
