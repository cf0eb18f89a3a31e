"""How a link reads its frames: in its reader task, or in its transport's read callback.

`LinkReads` owns a link's receiving side: the `FrameReader` over the stream, and the
reader task's loop (`run`), which hands each frame to the link (`ReadingLink`). On
asyncio over plain TCP the bytes come from a `TransportReceiver`
(`runtime._wire.transport`), and each read is handled right in the transport's callback:
its frames are decoded and handed to their handlers there, without waking the reader
task (a loop turn saved on each side of a round trip). The task still runs and waits
on the receiver, which then only reports the end of the stream or its error. On trio
and over TLS there is no such callback: the reader task handles every read.

Guarantees are the same either way: frames are handled in stream order, one read at a
time; a broken record or an oversized frame closes the link, a malformed frame is
dropped, a Goodbye ends the link, and nothing read after the link began to close is
handled. In the callback, handlers run outside any task, under the kernel's callback
context (`Kernel.in_loop_callback`), so anyio can still tell the backend; what they
start goes to task groups as usual. An ask to an idle actor with a sync handler is
answered right there, its reply written before the callback returns (`turn.ask_now`).
"""

from __future__ import annotations

from typing import Protocol

import anyio
import anyio.abc
from anyio.abc import ByteStream

from runtime._engine.kernel import Kernel
from runtime._wire import framing as wire
from runtime._wire.records import RecordOpener
from runtime._wire.transport import TransportReceiver, asyncio_transport

__all__ = ("LinkReads", "ReadingLink")


class ReadingLink(Protocol):
    """What the reading side needs of its link (`runtime._cluster.link.Link`)."""

    closed_reason: str | None

    def handle_frame(self, frame: wire.SessionFrame) -> bool:
        """Hand `frame` to its handler; False once the peer has said Goodbye."""
        ...

    def malformed(self, error: wire.FrameDecodeError) -> None: ...
    def protocol_error(self, error: wire.FrameError) -> None: ...
    def close(self, reason: str) -> None: ...


class LinkReads:
    """The frames of one link's stream, read by `run` (the reader task) or, where the
    stream allows it (asyncio, plain TCP), in the transport's callback."""

    __slots__ = ("_kernel", "_link", "reader", "receiver")

    def __init__(
        self, stream: ByteStream, kernel: Kernel, *, max_frame_size: int, opener: RecordOpener
    ) -> None:
        # Made right after the handshake, before anything else reads the stream.
        self.receiver: TransportReceiver | None = None
        receiving: anyio.abc.ByteReceiveStream = stream
        if kernel.name == "asyncio" and asyncio_transport(stream) is not None:
            receiving = self.receiver = TransportReceiver(stream)
        self.reader = wire.FrameReader(receiving, max_frame_size=max_frame_size, opener=opener)
        self._kernel = kernel
        self._link: ReadingLink | None = None

    async def run(self, link: ReadingLink) -> None:
        """The reader task: frames in, each to `link`, until the stream ends.

        With a transport receiver the reads go to the transport's callback once this
        task waits (reads queued before then still come out here first); the task then
        sees only the end of the stream or its error, as it would otherwise. Raises
        what the reader raises for a broken connection or record.
        """
        reader = self.reader
        if self.receiver is not None and link.closed_reason is None:
            self._link = link
            self.receiver.sink = self._kernel.in_loop_callback(self._on_data)
        while True:
            try:
                frames = await reader.receive_batch()
            except anyio.EndOfStream:
                link.closed_reason = link.closed_reason or "the peer closed the connection"
                return
            except wire.FrameDecodeError as error:
                link.malformed(error)
                continue
            for frame in frames:
                if not link.handle_frame(frame):
                    return

    def stop(self) -> None:
        """Handle nothing more that arrives in the callback (the link is closing)."""
        if self.receiver is not None:
            self.receiver.sink = _discard

    def _on_data(self, chunk: memoryview) -> None:
        """Handle the frames `chunk` completes (a read, from the transport's callback)."""
        link = self._link
        assert link is not None
        reader = self.reader
        try:
            try:
                frame = reader.feed_one(chunk)
            except wire.FrameDecodeError as error:
                link.malformed(error)
                return
            if frame is not None:  # the whole read was this one frame
                if not link.handle_frame(frame):
                    link.close("the peer left")  # keeps the reason the Goodbye gave
                return
            while True:
                try:
                    frame = reader.next_buffered()
                except wire.FrameDecodeError as error:
                    link.malformed(error)
                    continue
                if frame is None:
                    return
                if not link.handle_frame(frame):
                    link.close("the peer left")  # keeps the reason the Goodbye gave
                    return
        except wire.FrameError as error:
            link.protocol_error(error)


def _discard(chunk: memoryview) -> None:
    """The sink of a closed link's receiver: what still arrives is not handled."""
