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

import struct
from types import TracebackType

import anyio
import anyio.abc
import msgspec
from anyio.abc import TaskStatus

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
from runtime._wire.records import RecordOpener, RecordSealer

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

# 2: records after the handshake carry tags (runtime._wire.records).
PROTOCOL_VERSION = 2
DEFAULT_MAX_FRAME_SIZE = 64 * 1024 * 1024
DEFAULT_HIGH_WATER = 1024 * 1024
_HEADER = struct.Struct(">I")
_HEADER_SIZE = _HEADER.size
_LENGTH_LIMIT = 2**32 - 1  # what 4 length bytes can say
_RECEIVE_SIZE = 65536


# What decoding hostile bytes may raise: msgspec raises UnicodeDecodeError (a
# ValueError), not DecodeError, for invalid UTF-8 in a str field.
_DECODE_ERRORS = (msgspec.DecodeError, ValueError)

# Reused: building an Encoder or Decoder costs far more than one frame.
_encoder = msgspec.msgpack.Encoder()
_session_decoder: msgspec.msgpack.Decoder[SessionFrame] = msgspec.msgpack.Decoder(SessionFrame)


def payload_limit(max_frame_size: int) -> int:
    """The largest encoded message that fits a frame of `max_frame_size` bytes with
    room to spare for the frame's other fields (target, sender, correlation)."""
    return max_frame_size - min(64 * 1024, max_frame_size // 4)


def encode_frame(frame: Frame, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> bytes:
    """Return `frame` as wire bytes: length prefix and body.

    Raises `FrameError` if the body would exceed `max_frame_size`.
    """
    buffer = bytearray()
    _append_frame(buffer, frame, max_frame_size)
    return bytes(buffer)


def _append_frame(buffer: bytearray, frame: Frame, max_frame_size: int) -> int:
    """Encode `frame` at the end of `buffer` with its prefix; return the bytes added.

    On error `buffer` is left as it was, so frames queued before stay intact.
    """
    start = len(buffer)
    buffer += b"\0\0\0\0"  # the prefix, filled in once the body's length is known
    try:
        _encoder.encode_into(frame, buffer, -1)
    except BaseException:
        del buffer[start:]
        raise
    size = len(buffer) - start - _HEADER_SIZE
    if size > max_frame_size:
        del buffer[start:]
        raise FrameError(
            f"a {type(frame).__name__} frame of {size} bytes exceeds the {max_frame_size}-byte"
            " frame limit; send smaller messages or raise max_frame_size= on both nodes"
        )
    _HEADER.pack_into(buffer, start, size)
    return size + _HEADER_SIZE


def _check_limit(max_frame_size: int) -> None:
    if not 1 <= max_frame_size <= _LENGTH_LIMIT:
        raise ValueError(
            f"max_frame_size must be between 1 and {_LENGTH_LIMIT} bytes, got {max_frame_size}"
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
        receive_size: int = _RECEIVE_SIZE,
        opener: RecordOpener | None = None,
    ) -> None:
        _check_limit(max_frame_size)
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
                self._pos = start - _HEADER_SIZE  # raise it on the next call instead
                break
        return frames

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
            return _session_decoder.decode(view[start:end])
        except _DECODE_ERRORS as exc:
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
        if available < _HEADER_SIZE:
            return None
        (size,) = _HEADER.unpack_from(self._buffer, pos)
        if size > self._max_frame_size:
            raise FrameError(
                f"peer announced a frame of {size} bytes, over the {self._max_frame_size}-byte"
                " limit; closing the connection (raise max_frame_size= if this is legitimate)"
            )
        if available < _HEADER_SIZE + size:
            return None
        start = pos + _HEADER_SIZE
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


class FrameWriter:
    """Queues frames and writes them in batches from one writer task.

    `send_nowait` encodes a frame straight into the pending buffer; the writer task
    hands everything pending to the stream in one `send`, so frames queued while a write
    is in flight go out together. Guarantees: frames are written whole and in the order
    they were queued; memory is bounded: past `high_water` pending bytes, `send_nowait`
    raises `anyio.WouldBlock` and `send` waits for room (one frame is always accepted
    into an empty buffer, whatever its size). If the stream fails, the writer task raises
    that error and every later or waiting call raises `anyio.BrokenResourceError`.
    Cancelling the writer task mid-write also breaks the writer (the stream may hold part
    of a frame). The writer never closes the stream: its owner does.

    With `sealer` (a link's: `SessionKeys.sealer()`), every write is sealed as a record
    (see `runtime._wire.records`): one tag per batch, not per frame.

    Run the writer task with ``async with FrameWriter(stream) as writer:`` (the task
    lives inside the block; leaving it normally flushes what is queued, leaving it on an
    error does not wait; a lone error comes out unwrapped) or start `run` in a task
    group you own and end it with `aclose`.

    Example::

        async with FrameWriter(stream) as writer:
            writer.send_nowait(Tell(target="counter", payload=b"\\x05"))
            await writer.send(Heartbeat(seq=1, sent=0.0))
    """

    def __init__(
        self,
        stream: anyio.abc.ByteSendStream,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        high_water: int = DEFAULT_HIGH_WATER,
        sealer: RecordSealer | None = None,
    ) -> None:
        _check_limit(max_frame_size)
        if high_water < 1:
            raise ValueError(f"high_water must be a positive number of bytes, got {high_water}")
        self._stream = stream
        self._sealer = sealer
        self._max_frame_size = max_frame_size
        self._high_water = high_water
        self._pending = bytearray()
        self._queued = 0  # bytes ever queued, to tell when a flush is done
        self._written = 0  # bytes ever handed to the stream
        self.frames_queued = 0  # frames ever queued (read by metrics)
        self._closing = False
        self._broken: BaseException | None = None
        self._wakeup: anyio.Event | None = None  # set by a sender for an idle writer
        self._changed: anyio.Event | None = None  # set by the writer for waiting senders
        self._task_group: anyio.abc.TaskGroup | None = None

    @property
    def pending(self) -> int:
        """Bytes queued but not yet handed to the stream."""
        return len(self._pending)

    @property
    def bytes_written(self) -> int:
        """Bytes handed to the stream so far."""
        return self._written

    def send_nowait(self, frame: Frame) -> None:
        """Queue `frame` without waiting.

        Raises `anyio.WouldBlock` past the high-water mark, `FrameError` for a frame over
        the size limit, `anyio.ClosedResourceError` after `aclose` and
        `anyio.BrokenResourceError` after the stream failed.
        """
        self._check_open()
        if len(self._pending) >= self._high_water:
            raise anyio.WouldBlock
        self._queued += _append_frame(self._pending, frame, self._max_frame_size)
        self.frames_queued += 1
        self._signal_writer()

    async def send(self, frame: Frame) -> None:
        """Queue `frame`, waiting while the pending bytes are over the high-water mark.

        Returns once the frame is queued, not written (see `flush`). Cancelling the wait
        queues nothing.
        """
        while True:
            self._check_open()
            if len(self._pending) < self._high_water:
                self.send_nowait(frame)
                return
            await self._wait_for_change()

    def take_unsent(self) -> list[SessionFrame]:
        """Remove and return the frames queued but not yet handed to the stream.

        For the owner of a connection that has ended: what is returned never reached
        the peer (what was already handed to the stream may or may not have).
        """
        pending, self._pending = self._pending, bytearray()
        frames: list[SessionFrame] = []
        pos = 0
        while pos + _HEADER_SIZE <= len(pending):
            (size,) = _HEADER.unpack_from(pending, pos)
            body = bytes(pending[pos + _HEADER_SIZE : pos + _HEADER_SIZE + size])
            pos += _HEADER_SIZE + size
            try:
                frames.append(_session_decoder.decode(body))
            except _DECODE_ERRORS:
                continue  # a handshake frame (Goodbye is both) or damage: not a message
        return frames

    async def flush(self) -> None:
        """Wait until every frame queued before this call has been handed to the stream."""
        target = self._queued
        while self._written < target:
            self._check_open(allow_closing=True)
            await self._wait_for_change()

    async def aclose(self) -> None:
        """Stop taking frames, wait until those queued are written, end the writer task."""
        self._closing = True
        self._signal_writer()
        if self._broken is None:
            await self.flush()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """The writer task: write pending bytes until `aclose`, then return.

        Raises whatever the stream raised when a write failed. Cancelled while idle, the
        writer counts as closed; cancelled mid-write, as broken.
        """
        task_status.started()
        writing = False
        try:
            while True:
                if not self._pending:
                    if self._closing:
                        return
                    self._wakeup = wakeup = anyio.Event()
                    await wakeup.wait()
                    continue
                data, size = self._take_pending()
                self._notify()  # room for senders waiting on the high-water mark
                writing = True
                await self._stream.send(data)
                writing = False
                self._written += size
                self._notify()
        except BaseException as exc:
            if writing:
                self._broken = exc  # part of a frame may be on the wire: nothing may follow
            self._closing = True
            raise
        finally:
            self._wakeup = None
            self._notify()

    async def __aenter__(self) -> FrameWriter:
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        try:
            await task_group.start(self.run)
        except BaseException as exc:
            await task_group.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        task_group = self._task_group
        assert task_group is not None, "FrameWriter.__aexit__ without __aenter__"
        self._task_group = None
        if exc is None:
            try:
                await self.aclose()
            except BaseException as close_exc:
                return await task_group.__aexit__(type(close_exc), close_exc, None)
        else:
            # Leaving on an error: do not wait on a peer that may be the problem.
            self._closing = True
            task_group.cancel_scope.cancel()
        try:
            return await task_group.__aexit__(exc_type, exc, traceback)
        except BaseExceptionGroup as group:
            # One task of our own inside: a lone error comes out as itself, the way a
            # plain call would raise it, not wrapped in a group.
            if len(group.exceptions) != 1:
                raise
            if group.exceptions[0] is exc:
                return False
            raise group.exceptions[0] from None

    def _take_pending(self) -> tuple[bytes, int]:
        """Everything pending as the bytes to write (sealed as records on a link), and
        how many frame bytes that is. Every write goes through here, so that records are
        sealed, and so numbered, in the order they reach the stream."""
        pending = self._pending
        size = len(pending)
        # A copy either way, because streams are typed for bytes and some keep a
        # reference to what they were given; one memcpy per batch, not per frame.
        data = bytes(pending) if self._sealer is None else self._sealer.seal(pending)
        pending.clear()
        return data, size

    def _check_open(self, *, allow_closing: bool = False) -> None:
        if self._broken is not None:
            raise anyio.BrokenResourceError(
                f"the frame writer stopped: a write failed ({type(self._broken).__name__});"
                " close this connection and open a new one"
            ) from self._broken
        if self._closing and not allow_closing:
            raise anyio.ClosedResourceError

    def _signal_writer(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = None

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def _wait_for_change(self) -> None:
        if self._changed is None:
            self._changed = anyio.Event()
        await self._changed.wait()
