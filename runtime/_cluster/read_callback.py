"""A link's reads handled in its transport's read callback (asyncio, plain TCP).

On asyncio over plain TCP a link's bytes come from a `TransportReceiver`
(`runtime._wire.link_io`), and each read is handled right in the transport's callback:
its frames are decoded and handed to their handlers there, without waking the link's
reader task (a loop turn saved on each side of a round trip). That task still runs and
waits on the receiver, which then only reports the end of the stream or its error. On
trio and over TLS there is no such callback: the reader task handles every read.

Guarantees are the reader task's: frames are handled in stream order, one read at a
time; a broken record or an oversized frame closes the link, a malformed frame is
dropped, a Goodbye ends the link, and nothing read after the link began to close is
handled. Handlers run outside any task here, under the kernel's callback context
(`Kernel.in_loop_callback`), so anyio can still tell the backend; what they start goes
to task groups as usual. An ask to an idle actor with a sync handler is answered in
this callback, its reply written before it returns (`turn.ask_now`).
"""

from __future__ import annotations

from typing import Protocol

from anyio.abc import ByteStream

from runtime._engine.kernel import Kernel
from runtime._wire import framing as wire
from runtime._wire.link_io import TransportReceiver, asyncio_transport

__all__ = ("CallbackReads", "ReadingLink")


class ReadingLink(Protocol):
    """What the callback path needs of its link (`runtime._cluster.link.Link`)."""

    @property
    def reader(self) -> wire.FrameReader: ...

    def handle_frame(self, frame: wire.SessionFrame) -> bool:
        """Hand `frame` to its handler; False once the peer has said Goodbye."""
        ...

    def malformed(self, error: wire.FrameDecodeError) -> None: ...
    def protocol_error(self, error: wire.FrameError) -> None: ...
    def close(self, reason: str) -> None: ...


class CallbackReads:
    """The receiver of one link, and the handling of its reads in the transport's
    callback once `start` is called (`for_stream` says whether the stream allows it)."""

    __slots__ = ("_kernel", "_link", "receiver")

    def __init__(self, stream: ByteStream, kernel: Kernel) -> None:
        # Made right after the handshake, before anything else reads the stream.
        self.receiver = TransportReceiver(stream)
        self._kernel = kernel
        self._link: ReadingLink | None = None

    @classmethod
    def for_stream(cls, stream: ByteStream, kernel: Kernel) -> CallbackReads | None:
        """Callback reads for `stream`, or None where they are not possible (trio, TLS)."""
        if kernel.name == "asyncio" and asyncio_transport(stream) is not None:
            return cls(stream, kernel)
        return None

    def start(self, link: ReadingLink) -> None:
        """Handle each read from now on in the callback (the reader task calls this
        before its first wait: reads queued before then come out of its receive)."""
        self._link = link
        self.receiver.sink = self._kernel.in_loop_callback(self._on_data)

    def stop(self) -> None:
        """Handle nothing more that arrives (the link is closing)."""
        self.receiver.sink = _discard

    def _on_data(self, chunk: memoryview) -> None:
        """Handle the frames `chunk` completes (a read, from the transport's callback)."""
        link = self._link
        assert link is not None
        reader = link.reader
        try:
            reader.feed(chunk)
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
