"""`FrameWriter`: queues frames and writes them in batches from one writer task."""

from __future__ import annotations

from types import TracebackType

import anyio
import anyio.abc
from anyio.abc import TaskStatus

from runtime._wire.encoding import (
    DECODE_ERRORS,
    DEFAULT_HIGH_WATER,
    DEFAULT_MAX_FRAME_SIZE,
    HEADER,
    HEADER_SIZE,
    append_frame,
    check_limit,
    session_decoder,
)
from runtime._wire.frames import Frame, SessionFrame
from runtime._wire.records import RecordSealer

__all__ = ("FrameWriter",)


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
        check_limit(max_frame_size)
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
        self._queued += append_frame(self._pending, frame, self._max_frame_size)
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
        while pos + HEADER_SIZE <= len(pending):
            (size,) = HEADER.unpack_from(pending, pos)
            body = bytes(pending[pos + HEADER_SIZE : pos + HEADER_SIZE + size])
            pos += HEADER_SIZE + size
            try:
                frames.append(session_decoder.decode(body))
            except DECODE_ERRORS:
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
