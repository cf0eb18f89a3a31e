"""The link's frames out on asyncio, without anyio's per-call cost (the bytes in:
`runtime._wire.transport`).

`LinkWriter` keeps the behaviour of what it replaces and exists for speed: measured on
remote asks (one frame out, one back), anyio's stream calls were most of the runtime's
own work per round trip.

`LinkWriter` batches like `FrameWriter`, without a task switch per batch.
`FrameWriter` hands frames to a writer task, which costs a wake-up, a task switch and
anyio's send (a checkpoint, and an event per call) for every batch. On asyncio,
`LinkWriter` writes a lone frame on an idle link at once, and otherwise schedules one
callback at the end of the current event-loop turn, which hands everything queued in
that turn to the transport in one write. The writer
task remains for what a callback cannot do: wait for room when the socket is full
(back-pressure), and report a broken connection. Guarantees are `FrameWriter`'s: frames
are written whole and in queue order (the callback only writes when no batch of the
writer task is in flight and the transport holds nothing unsent), memory is bounded
by the high-water mark.

Only plain TCP streams on asyncio (or uvloop) take this path; TLS streams and trio
keep anyio's. On trio the only way to run a callback from the loop is `run_sync_soon`,
which wakes the loop through a socket: measured, that made remote asks slower.
"""

from __future__ import annotations

import asyncio
from time import perf_counter
from typing import Any, NamedTuple

import anyio
import anyio.abc
import msgspec

from runtime._wire import framing as wire
from runtime._wire.encoding import append_frame, encoder
from runtime._wire.records import MAX_RECORD_SIZE, RECORD_HEADER_SIZE, RecordSealer
from runtime._wire.transport import asyncio_transport

__all__ = ("COALESCE_BYTES", "LinkWriter")

# Payload bytes of sender-less tells to one target gathered into one TellMany frame.
COALESCE_BYTES = 256 * 1024
# A frame queued on an idle link is written at once, unless the last one written at
# once left less than this many seconds ago: then it waits for the end of the loop
# turn with whatever follows it (a burst is written in one go, not frame by frame).
DIRECT_GAP = 50e-6
# What a value `tell_value` takes costs at most in a batch, in bytes (a float64 or a
# 64-bit int with its tag).
_VALUE_SIZE = 9


def _payload(item: Any) -> bytes:
    """An item of a batch as the payload of a lone `Tell` or `Send`."""
    return item if type(item) is bytes else encoder.encode(item)


class _SendTo(NamedTuple):
    """The key of an open batch of `Send`s (a batch of tells is keyed by its bare
    target, which never equals one of these: the two kinds never mix in a batch)."""

    target: int | str


class LinkWriter(wire.FrameWriter):
    """A `FrameWriter` that writes each event-loop turn's frames from a loop callback
    (asyncio and plain TCP only; otherwise it is a `FrameWriter`)."""

    def __init__(
        self,
        stream: anyio.abc.ByteStream,
        *,
        max_frame_size: int,
        high_water: int,
        backend: str,
        sealer: RecordSealer | None = None,
    ) -> None:
        # The open batch: sender-less tells to one target (or `Send`s, keyed by a
        # `_SendTo`), not yet encoded as a frame (see `try_tell`). A tell is an item of
        # the `TellMany` array to be: a value (`tell_value`) or an encoded message as
        # `msgspec.Raw`. `_batch_room` is how many more bytes it may take before the
        # batch's size limit or the high-water mark needs a closer look, and
        # `_batch_base - _batch_room` how many it holds (kept so, not counted per tell).
        self._batch: list[Any] = []
        self._batch_target: int | str | _SendTo | None = None
        self._batch_room = 0
        self._batch_base = 0
        self._closed = False
        super().__init__(
            stream, max_frame_size=max_frame_size, high_water=high_water, sealer=sealer
        )
        self._scheduled = False
        self._transport: asyncio.WriteTransport | None = None
        self._call_soon: Any = None
        transport = asyncio_transport(stream) if backend == "asyncio" else None
        if transport is not None:
            self._transport = transport
            self._call_soon = asyncio.get_running_loop().call_soon
        self._batch_limit = min(COALESCE_BYTES, max_frame_size // 2)
        self._last_direct = 0.0  # when send_nowait last wrote at once (perf_counter)

    @property
    def _closing(self) -> bool:
        return self._closed

    @_closing.setter
    def _closing(self, closing: bool) -> None:
        # A closing (or broken) writer's open batch takes nothing more: its room goes to
        # 0 here, so the per-tell hot paths need not check `_closing` too.
        self._closed = closing
        if closing:
            self._batch_base -= self._batch_room
            self._batch_room = 0

    def send_nowait(self, frame: wire.Frame) -> None:
        if self._call_soon is None:
            super().send_nowait(frame)
            return
        # FrameWriter.send_nowait, but the batch is flushed by a callback at the end of
        # this loop turn rather than by waking the writer task.
        self._check_open()
        if self._batch:
            self._end_batch()  # the tells queued before go first
        pending = self._pending
        if not pending and not self._scheduled and self._written == self._queued:
            # Nothing queued, nothing in flight: a lone frame (an ask, an answer) leaves
            # at once, not one loop turn (a poll) later; frames that follow it closely
            # (within DIRECT_GAP) are batched.
            now = perf_counter()
            if now - self._last_direct > DIRECT_GAP and not self._transport_busy():
                self._last_direct = now
                self._write_frame(frame)
                return
        if len(pending) >= self._high_water:
            raise anyio.WouldBlock
        self._queued += append_frame(pending, frame, self._max_frame_size)
        self.frames_queued += 1
        if not self._scheduled:
            self._scheduled = True
            self._call_soon(self._flush_turn)

    def _write_frame(self, frame: wire.Frame) -> None:
        """Write `frame` now, past the queue (for an idle writer: nothing pending or in
        flight, the transport holding nothing): encoded, framed and sealed as a record
        of its own in one fresh buffer, which goes to the transport as it is (measured:
        the queue's steps were a fifth of the Python calls of answering a remote ask).
        Raises `FrameError` as `send_nowait` does, having written nothing."""
        assert self._transport is not None
        sealer = self._sealer
        buffer = bytearray(RECORD_HEADER_SIZE if sealer is not None else 0)
        size = append_frame(buffer, frame, self._max_frame_size)
        data: bytes | bytearray = buffer
        if sealer is not None:
            if size <= MAX_RECORD_SIZE:
                sealer.seal_in_place(buffer)
            else:  # a big frame: sealed as several records, as the queue would
                del buffer[:RECORD_HEADER_SIZE]
                data = sealer.seal(buffer)
        self._queued += size
        self.frames_queued += 1
        # The buffer is never touched again: the transport may keep it (unsent bytes).
        self._transport.write(data)
        self._written += size
        self._notify()

    def tell_nowait(self, target: int | str, payload: bytes) -> None:
        """Queue a sender-less tell of an encoded message, as `send_nowait(Tell(...))`.

        The tells to one target queued in one loop turn leave as one `TellMany` frame
        (in order, and behind whatever was queued before them): per message, the wire
        and both ends then carry an item of one msgpack array, not a frame.
        """
        if not self.try_tell(target, payload):
            self._check_open()  # raises if that is why
            raise anyio.WouldBlock

    def try_tell(self, target: int | str, payload: bytes) -> bool:
        """`tell_nowait`, returning False where it would raise `anyio.WouldBlock` (the
        link is full) or the writer is closed or broken. Called once per remote tell."""
        size = len(payload)
        if size < self._batch_room and target == self._batch_target:  # the hot path
            self._batch.append(msgspec.Raw(payload))
            self._batch_room -= size
            return True
        return self._batched(target, target, msgspec.Raw(payload), size)

    def tell_value(self, target: int | str, message: object) -> bool:
        """`try_tell` of a sender-less tell of `message` if it is a fixed-size value
        (an int msgpack can carry, a float, a bool or None), encoded with the rest of
        its batch; False for any other message, and where `try_tell` returns False.

        The one call per remote tell of such a value: the ref's hot path (a batch's
        values cost one msgspec call on each end, not one per message). On False the
        caller takes the general path, which encodes the message (raising if it
        cannot travel) or dead-letters it, saying why."""
        kind = type(message)
        if kind is int:
            # The ints msgpack carries, -2**63 to 2**64 - 1 (literals: constants here;
            # measured, two plain tests cost less than a chained comparison).
            if message > 0xFFFF_FFFF_FFFF_FFFF or message < -0x8000_0000_0000_0000:  # type: ignore[operator]
                return False
        elif kind is not float and kind is not bool and message is not None:
            return False
        if self._batch_room > _VALUE_SIZE and target == self._batch_target:  # the hot path
            self._batch.append(message)
            self._batch_room -= _VALUE_SIZE
            return True
        if self._batch_limit < _VALUE_SIZE:
            return False  # frames too small to batch it: the general path decides
        return self._batched(target, target, message, _VALUE_SIZE)

    def try_send(self, target: int | str, payload: bytes) -> bool:
        """`try_tell` for a `Send` (a message of ``await ref.send()`` that has its
        credit): the sends to one target queued in one loop turn leave as one
        `SendMany` frame, in order with the tells and frames around them."""
        return self._batched(_SendTo(target), target, payload, len(payload))

    async def send_batched(self, target: int | str, payload: bytes) -> None:
        """Queue a `Send` as `try_send` does, waiting while the link is full; raises as
        `send` does once the writer is closed or broken."""
        while not self.try_send(target, payload):
            self._check_open()
            await self._wait_for_change()

    def _batched(self, key: int | str | _SendTo, target: int | str, item: Any, size: int) -> bool:
        """Add `item` (`size` bytes) to the open batch if it is `key`'s, else open one
        (after encoding the one before); False where `tell_nowait` would raise."""
        if size < self._batch_room and key == self._batch_target:
            self._batch.append(item)
            self._batch_room -= size
            return True
        if self._call_soon is None or size > self._batch_limit:
            single = wire.Send if isinstance(key, _SendTo) else wire.Tell
            try:
                self.send_nowait(single(target, _payload(item)))
            except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
                return False
            return True
        if self._closing:  # set whenever the writer is broken, too
            return False
        if key != self._batch_target or self._batch_bytes > self._batch_limit:
            if self._batch:
                self._end_batch()
            self._batch_target = key
        pending = len(self._pending)
        batched = self._batch_bytes
        if pending + batched >= self._high_water:
            return False
        self._batch.append(item)
        batched += size
        # The next item may join at once while the batch stays within its limit and
        # the pending bytes below the high-water mark.
        self._batch_room = room = 1 + min(
            self._batch_limit - batched, self._high_water - 1 - pending - batched
        )
        self._batch_base = batched + room
        if not self._scheduled:
            self._scheduled = True
            self._call_soon(self._flush_turn)
        return True

    @property
    def _batch_bytes(self) -> int:
        """The bytes the open batch holds (a value counts `_VALUE_SIZE`)."""
        return self._batch_base - self._batch_room

    def _end_batch(self) -> None:
        """Encode the tells waiting in the batch as one frame at the end of the queue."""
        batch, key = self._batch, self._batch_target
        self._batch, self._batch_target, self._batch_base, self._batch_room = [], None, 0, 0
        if not batch or key is None:
            return
        frame: wire.Frame
        if isinstance(key, _SendTo):
            frame = wire.Send(key.target, batch[0]) if len(batch) == 1 else wire.SendMany(
                key.target, batch)
        elif len(batch) == 1:
            frame = wire.Tell(key, _payload(batch[0]))
        else:
            # One msgspec call for the whole batch: the values are encoded here, the
            # encoded messages (`msgspec.Raw`) spliced in as they are.
            frame = wire.TellMany(key, msgspec.Raw(encoder.encode(batch)))
        self._queued += append_frame(self._pending, frame, self._max_frame_size)
        self.frames_queued += 1

    async def flush(self) -> None:
        self._end_batch()
        await super().flush()

    def take_unsent(self) -> list[wire.SessionFrame]:
        self._end_batch()
        return super().take_unsent()

    @property
    def pending(self) -> int:
        return len(self._pending) + self._batch_bytes

    def _flush_turn(self) -> None:
        self._scheduled = False
        self._end_batch()
        pending = self._pending
        if not pending or self._closing or self._broken is not None:
            self._signal_writer()
            return
        if self._written + len(pending) != self._queued or self._transport_busy():
            # The writer task has a batch in flight, or the transport holds unsent bytes
            # (the socket is full): it goes next, and waits for room if it must.
            self._signal_writer()
            return
        self._write_pending()

    def _transport_busy(self) -> bool:
        transport = self._transport
        assert transport is not None
        return bool(transport.is_closing() or transport.get_write_buffer_size())

    def _write_pending(self) -> None:
        """Hand every pending byte to the idle transport (it sends at once, buffering
        only what the socket refuses; its errors reach the writer task)."""
        assert self._transport is not None
        data, size = self._take_pending()  # sealed there, as the writer task's batches
        self._transport.write(data)
        self._written += size
        self._notify()
