"""A fault-injecting TCP proxy on 127.0.0.1, for tests and chaos runs of links between nodes.

Put it between two nodes and turn faults on and off while they talk::

    async with FaultProxy("127.0.0.1", server_port) as proxy:
        stream = await anyio.connect_tcp("127.0.0.1", proxy.port)
        proxy.delay(0.2)       # every byte arrives 0.2 s late, in order
        proxy.drop()           # a silent peer: bytes and ends of stream vanish, sockets stay open
        proxy.half_open()      # only the direction to the client goes silent
        proxy.slice_bytes(True)  # one byte per send: frames arrive in pieces
        proxy.cut()            # close every current connection
        proxy.heal()           # forward normally again (cut links stay cut)

It listens on 127.0.0.1 only and forwards only to a loopback address. Bytes swallowed
by `drop` or `half_open` are gone: after `heal` the byte stream has a hole in it, so a
test that needs a working link again should `cut` and reconnect. Controls take effect
for bytes read after the call; bytes already waiting out a delay keep their due time.
Every task the proxy starts ends when its `async with` block does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal

import anyio
import anyio.abc
from anyio.abc import SocketAttribute

__all__ = ("Direction", "FaultProxy")

Direction = Literal["to_target", "to_client"]
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_QUEUED_CHUNKS = 1024  # per direction; past it, reading waits (TCP back-pressure)
_STREAM_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


@dataclass(eq=False)
class _Connection:
    scope: anyio.CancelScope
    received: dict[Direction, int] = field(default_factory=lambda: {"to_target": 0, "to_client": 0})


class FaultProxy:
    """Forwards TCP connections from 127.0.0.1:`port` to the target, with faults.

    Guarantees: without faults, bytes pass unchanged and in order in both directions,
    and an end of stream on one side is passed on to the other. `sends` counts the
    `send` calls made per direction, `swallowed` the bytes discarded per direction.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        if target_host not in _LOOPBACK:
            raise ValueError(
                f"FaultProxy forwards to loopback only ({', '.join(_LOOPBACK)}),"
                f" got {target_host!r}"
            )
        self._target = (target_host, target_port)
        self._delay = 0.0
        self._silenced: set[Direction] = set()
        self._slice = False
        self._connections: set[_Connection] = set()
        self._changed = anyio.Event()
        self._listener: anyio.abc.Listener[anyio.abc.SocketStream] | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self.port = 0
        self.sends: dict[Direction, int] = {"to_target": 0, "to_client": 0}
        self.swallowed: dict[Direction, int] = {"to_target": 0, "to_client": 0}
        # Bytes read on connections that have closed, so wait_received counts them too.
        self._received_closed: dict[Direction, int] = {"to_target": 0, "to_client": 0}

    # --- controls ---------------------------------------------------------------

    def delay(self, seconds: float) -> None:
        """Hold every chunk read from now on for `seconds` before forwarding it."""
        if seconds < 0:
            raise ValueError(f"delay must be >= 0 seconds, got {seconds}")
        self._delay = seconds

    def drop(self) -> None:
        """Swallow all bytes in both directions, keeping the sockets open.

        Like a partitioned network, it hides a side's closing too: the other side sees
        neither an end of stream nor a reset, only silence.
        """
        self._silenced = {"to_target", "to_client"}

    def half_open(self, direction: Direction = "to_client") -> None:
        """Swallow the bytes going one way; the other way still flows."""
        if direction not in ("to_target", "to_client"):
            raise ValueError(f"direction must be 'to_target' or 'to_client', got {direction!r}")
        self._silenced = {direction}

    def slice_bytes(self, enabled: bool = True) -> None:
        """Forward one byte per send (so a reader sees frames in pieces) or stop doing so."""
        self._slice = enabled

    def cut(self) -> None:
        """Close every current connection, both sides. New connections are accepted."""
        for connection in self._connections:
            connection.scope.cancel()

    def heal(self) -> None:
        """Forward normally again: no delay, nothing swallowed, no slicing."""
        self._delay = 0.0
        self._silenced = set()
        self._slice = False

    @property
    def connections(self) -> int:
        """How many client connections are open through the proxy."""
        return len(self._connections)

    async def wait_connections(self, count: int) -> None:
        """Wait until exactly `count` connections are open."""
        while len(self._connections) != count:
            await self._changed.wait()

    async def wait_received(self, direction: Direction, nbytes: int) -> None:
        """Wait until the proxy has read `nbytes` in `direction` (over all connections)."""
        while self._total_received(direction) < nbytes:
            await self._changed.wait()

    # --- lifetime ---------------------------------------------------------------

    async def __aenter__(self) -> FaultProxy:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self._listener = listener
        self.port = listener.extra(SocketAttribute.local_port)
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        task_group.start_soon(listener.serve, self._handle)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        assert self._task_group is not None and self._listener is not None
        self._task_group.cancel_scope.cancel()
        try:
            return await self._task_group.__aexit__(exc_type, exc, traceback)
        finally:
            await self._listener.aclose()

    # --- forwarding -------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    def _total_received(self, direction: Direction) -> int:
        return self._received_closed[direction] + sum(
            c.received[direction] for c in self._connections
        )

    async def _handle(self, client: anyio.abc.SocketStream) -> None:
        async with client:
            try:
                upstream = await anyio.connect_tcp(*self._target)
            except OSError:
                return  # nothing to forward to: the client sees its connection close
            async with upstream:
                connection = _Connection(anyio.CancelScope())
                self._connections.add(connection)
                self._notify()
                try:
                    with connection.scope:
                        async with anyio.create_task_group() as task_group:
                            task_group.start_soon(
                                self._pump, client, upstream, "to_target", connection
                            )
                            task_group.start_soon(
                                self._pump, upstream, client, "to_client", connection
                            )
                finally:
                    self._connections.discard(connection)
                    for direction, count in connection.received.items():
                        self._received_closed[direction] += count
                    self._notify()

    async def _pump(
        self,
        source: anyio.abc.SocketStream,
        sink: anyio.abc.SocketStream,
        direction: Direction,
        connection: _Connection,
    ) -> None:
        # A reader and a forwarder joined by a queue of (due time, chunk): a delay then
        # adds latency without throttling throughput, and order is kept.
        send, receive = anyio.create_memory_object_stream[tuple[float, bytes]](_QUEUED_CHUNKS)
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(self._forward, receive, sink, direction, connection)
            async with send:
                while True:
                    try:
                        chunk = await source.receive()
                    except anyio.EndOfStream:
                        break
                    except _STREAM_ERRORS:
                        if direction not in self._silenced:  # a silent network hides it
                            connection.scope.cancel()
                        return
                    connection.received[direction] += len(chunk)
                    self._notify()
                    if direction in self._silenced:
                        self.swallowed[direction] += len(chunk)
                        continue
                    await send.send((anyio.current_time() + self._delay, chunk))

    async def _forward(
        self,
        queue: anyio.abc.ObjectReceiveStream[tuple[float, bytes]],
        sink: anyio.abc.SocketStream,
        direction: Direction,
        connection: _Connection,
    ) -> None:
        async with queue:
            try:
                async for due, chunk in queue:
                    await anyio.sleep(max(0.0, due - anyio.current_time()))
                    if direction in self._silenced:  # silenced while it waited
                        self.swallowed[direction] += len(chunk)
                        continue
                    pieces = (
                        [chunk[i : i + 1] for i in range(len(chunk))] if self._slice else [chunk]
                    )
                    for piece in pieces:
                        # Counted before the send returns, so a test that has seen the
                        # bytes arrive also sees them counted.
                        self.sends[direction] += 1
                        await sink.send(piece)
                # The source ended: pass the end of stream on, as TCP would, unless this
                # direction is silent (a partitioned network carries no FIN either).
                if direction not in self._silenced:
                    await sink.send_eof()
            except _STREAM_ERRORS:
                connection.scope.cancel()
