"""Length-prefixed msgpack frames: the wire format between two nodes.

A frame is a 4-byte big-endian body length followed by a msgpack body, one of the
`msgspec.Struct` types below (a tagged union; each encodes as an array whose first item
is the tag). User messages travel as opaque `bytes` payloads encoded by the message
codec, so a frame decodes without importing or touching any user type.

Use `FrameReader` and `FrameWriter` for an authenticated link (after
`runtime._wire.handshake`); use `encode_frame` for a one-off frame. This module knows
nothing about actors, and nothing here reads a frame before the handshake has passed:
the handshake decodes its own, smaller set of frames.
"""

from __future__ import annotations

import anyio
import anyio.abc

from runtime._wire.encoding import (
    DECODE_ERRORS,
    DEFAULT_HIGH_WATER,
    DEFAULT_MAX_FRAME_SIZE,
    HEADER,
    HEADER_SIZE,
    PROTOCOL_VERSION,
    RECEIVE_SIZE,
    check_limit,
    encode_frame,
    payload_limit,
    session_decoder,
)
from runtime._wire.errors import FrameDecodeError, FrameError, RecordError, TransportError

# The frame types live in runtime._wire.frames; re-exported here (see __all__), so callers
# keep writing `wire.Tell` after `from runtime._wire import framing as wire`.
from runtime._wire.frames import (
    Ask,
    Challenge,
    Credit,
    Frame,
    Goodbye,
    HandshakeFrame,
    Heartbeat,
    Hello,
    Member,
    Members,
    Proof,
    RegistryEntry,
    RegistryUpdate,
    RemoteError,
    Reply,
    Send,
    SendMany,
    SessionFrame,
    Spawn,
    Spawned,
    Target,
    Tell,
    TellMany,
    Terminated,
    TopicInterest,
    TopicPublish,
    Unwatch,
    Watch,
    Welcome,
)
from runtime._wire.records import RecordOpener
from runtime._wire.writer import FrameWriter

__all__ = (
    "DEFAULT_HIGH_WATER",
    "DEFAULT_MAX_FRAME_SIZE",
    "PROTOCOL_VERSION",
    "Ask",
    "Challenge",
    "Credit",
    "Frame",
    "FrameDecodeError",
    "FrameError",
    "FrameReader",
    "FrameWriter",
    "Goodbye",
    "HandshakeFrame",
    "Heartbeat",
    "Hello",
    "Member",
    "Members",
    "Proof",
    "RecordError",
    "RegistryEntry",
    "RegistryUpdate",
    "RemoteError",
    "Reply",
    "Send",
    "SendMany",
    "SessionFrame",
    "Spawn",
    "Spawned",
    "Target",
    "Tell",
    "TellMany",
    "Terminated",
    "TopicInterest",
    "TopicPublish",
    "TransportError",
    "Unwatch",
    "Watch",
    "Welcome",
    "encode_frame",
    "payload_limit",
)

class FrameReader:
    """Reads session frames from a byte stream, one at a time or a batch at once.

    Guarantees: frames come out in stream order; a length prefix over
    `max_frame_size` raises `FrameError` as soon as its 4 bytes arrive, before any room
    is made for the body (memory held stays below one receive plus one allowed frame);
    a stream that ends inside a frame raises `FrameError`, one that ends between frames
    raises `anyio.EndOfStream` (and ends `async for`). A `FrameError` means: close the
    connection. A `FrameDecodeError` (a well-sized body that is not a session frame)
    leaves the reader on the next frame. Cancelling a receive loses no bytes.

    With `opener` (a link's: `SessionKeys.opener()`), the stream holds records, and a
    record's bytes reach the frame buffer only once its tag is checked: a record that
    fails raises `RecordError` (a `FrameError`: close the connection) before anything
    in it is decoded.

    Example::

        reader = FrameReader(stream)
        async for frame in reader:
            handle(frame)
    """

    def __init__(
        self,
        stream: anyio.abc.ByteReceiveStream,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        receive_size: int = RECEIVE_SIZE,
        opener: RecordOpener | None = None,
    ) -> None:
        check_limit(max_frame_size)
        self._stream = stream
        self._opener = opener
        self._max_frame_size = max_frame_size
        self._receive_size = receive_size
        self._buffer = bytearray()
        self._pos = 0  # start of the first unread frame in _buffer
        # Read at scrape time by metrics; counted where it happens, nothing else.
        self.bytes_received = 0
        self.frames_received = 0

    @property
    def max_frame_size(self) -> int:
        """The largest body this reader accepts, in bytes."""
        return self._max_frame_size

    async def receive(self) -> SessionFrame:
        """Wait for the next frame and return it decoded."""
        start, end = await self._next_span()
        return self._decode(start, end)

    async def receive_raw(self) -> bytes:
        """Wait for the next frame and return its body undecoded."""
        start, end = await self._next_span()
        return bytes(self._buffer[start:end])

    async def receive_batch(self) -> list[SessionFrame]:
        """Wait for at least one frame, then return every frame already buffered.

        One call per socket read on a busy link, instead of one per frame. A malformed
        frame after good ones is left for the next call, so the good ones are not lost.
        """
        frames = [await self.receive()]
        while (span := self._buffered_span()) is not None:
            start, end = span
            try:
                frames.append(self._decode(start, end))
            except FrameDecodeError:
                self._pos = start - HEADER_SIZE  # raise it on the next call instead
                break
        return frames

    def feed(self, chunk: bytes | memoryview) -> None:
        """Take `chunk`, bytes of the stream that arrived outside `receive` (a receiver
        that hands each read to a callback, see `runtime._wire.transport`); read what it
        completes with `next_buffered`. Raises `RecordError` as `receive` would. The
        bytes are copied: `chunk` may be reused once this returns.

        Only while no `receive` is buffering (the receiving task waits on the stream,
        or there is none): bytes must reach the buffer in stream order.
        """
        self.bytes_received += len(chunk)
        if self._opener is None:
            self._buffer += chunk
        else:
            self._opener.open_into(chunk, self._buffer)

    def feed_one(self, chunk: memoryview) -> SessionFrame | None:
        """`feed` `chunk`, and when it is the usual read of a quiet link (nothing
        buffered, `chunk` exactly one record holding exactly one frame), return that
        frame, decoded where it lies in `chunk` (its tag checked first): nothing is
        copied into the buffer, and there is no second look for a next frame (measured:
        a third of the reading side's calls per remote ask). Otherwise None: read what
        `chunk` completed with `next_buffered`. Raises as `feed` and `next_buffered` do;
        after a `FrameDecodeError` the frame is consumed."""
        opener = self._opener
        body = None
        if opener is not None and self._pos == len(self._buffer):
            body = opener.open_lone(chunk)
        if body is None:
            self.feed(chunk)
            return None
        self.bytes_received += len(chunk)
        size = len(body) - HEADER_SIZE
        if size < 0 or HEADER.unpack_from(body)[0] != size or size > self._max_frame_size:
            self._buffer += body  # not one whole frame: the general path reads (or refuses) it
            return None
        self.frames_received += 1
        try:
            return session_decoder.decode(body[HEADER_SIZE:])
        except DECODE_ERRORS as exc:
            raise FrameDecodeError(f"malformed frame of {size} bytes: {exc}") from None

    def next_buffered(self) -> SessionFrame | None:
        """The next complete frame already buffered, decoded; None when there is none.

        Raises `FrameError` for a length over the limit (close the connection) and
        `FrameDecodeError` for a malformed body, which is consumed: the next call reads
        the frame after it. Once nothing complete is left, the consumed bytes are
        dropped, so the buffer holds only the start of a frame, as after a `receive`.
        """
        span = self._buffered_span()
        if span is None:
            if self._pos:
                del self._buffer[: self._pos]
                self._pos = 0
            return None
        return self._decode(*span)

    def __aiter__(self) -> FrameReader:
        return self

    async def __anext__(self) -> SessionFrame:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    def _decode(self, start: int, end: int) -> SessionFrame:
        view = memoryview(self._buffer)
        try:
            return session_decoder.decode(view[start:end])
        except DECODE_ERRORS as exc:
            raise FrameDecodeError(f"malformed frame of {end - start} bytes: {exc}") from None
        finally:
            # Release the export at once: a bytearray with a live view cannot grow.
            view.release()

    async def _next_span(self) -> tuple[int, int]:
        while (span := self._buffered_span()) is None:
            await self._fill()
        return span

    def _buffered_span(self) -> tuple[int, int] | None:
        """Consume the next complete frame in the buffer; return its body's span."""
        pos = self._pos
        available = len(self._buffer) - pos
        if available < HEADER_SIZE:
            return None
        (size,) = HEADER.unpack_from(self._buffer, pos)
        if size > self._max_frame_size:
            raise FrameError(
                f"peer announced a frame of {size} bytes, over the {self._max_frame_size}-byte"
                " limit; closing the connection (raise max_frame_size= if this is legitimate)"
            )
        if available < HEADER_SIZE + size:
            return None
        start = pos + HEADER_SIZE
        self._pos = start + size
        self.frames_received += 1
        return start, self._pos

    async def _fill(self) -> None:
        if self._pos:
            # Deleting a bytearray's head is cheap in CPython (it moves a start offset).
            del self._buffer[: self._pos]
            self._pos = 0
        try:
            chunk = await self._stream.receive(self._receive_size)
        except anyio.EndOfStream:
            if self._opener is not None and self._opener.buffered:
                raise RecordError(
                    f"connection closed inside a record ({self._opener.buffered} bytes of"
                    " it received); the peer stopped mid-write or is not speaking this"
                    " protocol"
                ) from None
            if self._buffer:
                raise FrameError(
                    f"connection closed inside a frame ({len(self._buffer)} bytes of it"
                    " received); the peer stopped mid-write or is not speaking this protocol"
                ) from None
            raise
        self.bytes_received += len(chunk)
        if self._opener is None:
            self._buffer += chunk
        else:
            self._opener.open_into(chunk, self._buffer)
