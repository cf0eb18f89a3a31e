"""Test-side peers that attack real node processes, built on the wire module.

`Intruder` is a peer that holds the cookie (or not) and speaks the protocol by hand:
it handshakes, then writes whatever frames, records or raw bytes a test chooses,
sealed with the session's keys when asked (so a fuzzer can reach past the record
check). `Relay` is the man in the middle of issue 10: it sits at an address a node
dials, forwards the dialler's handshake to a victim and the victim's back, and then
holds a connection to the victim that it can try to write on.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import anyio
import anyio.abc
from anyio.abc import SocketAttribute

from runtime._wire import framing as wire
from runtime._wire.handshake import PeerInfo, client_handshake
from runtime._wire.listener import connect
from runtime._wire.records import RecordSealer
from tests.cluster.nodes import COOKIE, NodeProcess, open_node

_F = TypeVar("_F")

__all__ = ("Intruder", "Relay", "closed_by_peer", "intruder", "still_serving")


async def still_serving(node: NodeProcess) -> None:
    """A node process that took the abuse: alive, and a proper node can use it."""
    assert node.process.poll() is None, f"{node.name} exited: {node.log()[-2000:]}"
    async with open_node() as system:
        await system.cluster.join(node.address)
        echo = await system.lookup("echo", node=node.address)
        assert echo is not None and await echo.ask("still serving?", timeout=3.0) == (
            "still serving?"
        )


@dataclass
class Intruder:
    """An authenticated connection to a node, written on (and read) by hand."""

    stream: anyio.abc.ByteStream
    peer: PeerInfo
    sealer: RecordSealer = field(init=False)
    reader: wire.FrameReader = field(init=False)

    def __post_init__(self) -> None:
        self.sealer = self.peer.keys.sealer()
        self.reader = wire.FrameReader(self.stream, opener=self.peer.keys.opener())

    async def expect(self, kind: type[_F], *, timeout: float = 5.0) -> _F:
        """The next frame of type `kind` the node sends (others are skipped)."""
        with anyio.fail_after(timeout):
            while not isinstance(frame := await self.reader.receive(), kind):
                pass
        return frame

    async def send_frames(self, frames: list[bytes]) -> None:
        """Encoded frames, sealed as one record with the session's keys."""
        await self.stream.send(self.sealer.seal(b"".join(frames)))

    async def send_raw(self, data: bytes) -> None:
        """Bytes as they are: no record, no tag."""
        await self.stream.send(data)


@asynccontextmanager
async def intruder(
    port: int, name: str, *, cookie: str = COOKIE
) -> AsyncIterator[Intruder]:
    stream = await connect("127.0.0.1", port)
    async with stream:
        peer = await client_handshake(stream, cookie=cookie.encode(), node=name, timeout=5.0)
        yield Intruder(stream, peer)


async def closed_by_peer(stream: anyio.abc.ByteStream, *, timeout: float = 5.0) -> bytes:
    """Read until the other side closes (a reset counts); return what it sent."""
    data = bytearray()
    with anyio.fail_after(timeout):
        try:
            async for chunk in stream:
                data += chunk
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
    return bytes(data)


class Relay:
    """A listener on 127.0.0.1 that relays each connection to `victim_port` byte for
    byte until `hijack` is set; then it stops forwarding what the dialler writes and
    lets the test write to the victim instead (`inject`)."""

    def __init__(self, victim_port: int) -> None:
        self.victim_port = victim_port
        self.port = 0
        self.victim_stream: anyio.abc.ByteStream | None = None
        self.dialler_stream: anyio.abc.ByteStream | None = None
        self.connected = anyio.Event()
        self.hijack = anyio.Event()
        self.to_victim: list[bytes] = []  # what the dialler wrote, in order
        self._victim_lock = anyio.Lock()  # whole chunks: injected bytes go between them

    async def inject(self, data: bytes) -> None:
        """Write `data` to the victim as the attacker, between two relayed chunks."""
        assert self.victim_stream is not None, "nothing relayed yet"
        async with self._victim_lock:
            await self.victim_stream.send(data)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Relay]:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self.port = listener.extra(SocketAttribute.local_port)
        async with listener, anyio.create_task_group() as tasks:
            tasks.start_soon(listener.serve, self._relay)
            yield self
            tasks.cancel_scope.cancel()

    async def _relay(self, dialler: anyio.abc.ByteStream) -> None:
        if self.victim_stream is not None:  # one relayed connection is enough
            await dialler.aclose()
            return
        victim = await anyio.connect_tcp("127.0.0.1", self.victim_port)
        self.victim_stream, self.dialler_stream = victim, dialler
        self.connected.set()
        async with dialler, victim, anyio.create_task_group() as tasks:
            tasks.start_soon(self._pump, dialler, victim, True)
            await self._pump(victim, dialler, False)
            tasks.cancel_scope.cancel()

    async def _pump(
        self, source: anyio.abc.ByteStream, sink: anyio.abc.ByteStream, from_dialler: bool
    ) -> None:
        with contextlib.suppress(
            anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError
        ):
            async for chunk in source:
                if not from_dialler:
                    await sink.send(chunk)
                    continue
                async with self._victim_lock:
                    if self.hijack.is_set():
                        continue  # the attacker speaks for the dialler now
                    self.to_victim.append(chunk)
                    await sink.send(chunk)
