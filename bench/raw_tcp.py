"""Baseline for the cluster benchmarks: raw asyncio TCP with length-prefixed msgspec frames.

No actors, no anyio, no handshake: a 4-byte big-endian length and a msgpack body (a
tagged `msgspec.Struct` shaped like the cluster's `Tell`), over asyncio `Protocol`s that
parse straight from the receive buffer and write many frames per `transport.write`:
about as fast as frames go in pure-Python asyncio, so a ratio against it is honest. The
server runs in a child process by default, as a second node would; 127.0.0.1 only.

- `sequential_round_trips(n)`: one frame out, its echo back, `n` times; round trips/s.
- `pipelined_frames(n)`: `n` one-way frames sent as fast as the socket takes them, each
  decoded by the receiver; frames/s until the receiver acknowledges the last one.

Run ``python -m bench.raw_tcp [--quick] [--in-process]`` to print both.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import struct
import time
from multiprocessing.connection import Connection

import msgspec

__all__ = ("pipelined_frames", "sequential_round_trips")

_HEADER = struct.Struct(">I")
_BATCH = 256  # frames per transport.write on the pipelined sender


class Frame(msgspec.Struct, array_like=True, gc=False, tag="t"):
    """The frame both sides exchange: like the cluster's `Tell`."""

    target: int
    payload: bytes
    sender: str | None = None


class Ack(msgspec.Struct, array_like=True, gc=False, tag="ack"):
    """From the client: how many frames will follow; from the server: all arrived."""

    count: int


_encoder = msgspec.msgpack.Encoder()
_decoder: msgspec.msgpack.Decoder[Frame | Ack] = msgspec.msgpack.Decoder(Frame | Ack)


def _append(buffer: bytearray, message: Frame | Ack) -> None:
    start = len(buffer)
    buffer += b"\0\0\0\0"
    _encoder.encode_into(message, buffer, -1)
    _HEADER.pack_into(buffer, start, len(buffer) - start - 4)


class _FrameProtocol(asyncio.Protocol):
    """Splits the byte stream into decoded frames and hands them to `on_frames`."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self._can_write: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        frames: list[Frame | Ack] = []
        pos, end = 0, len(buffer)
        while end - pos >= 4:
            (size,) = _HEADER.unpack_from(buffer, pos)
            if end - pos - 4 < size:
                break
            frames.append(_decoder.decode(memoryview(buffer)[pos + 4 : pos + 4 + size]))
            pos += 4 + size
        del buffer[:pos]
        self.on_frames(frames)

    def on_frames(self, frames: list[Frame | Ack]) -> None:
        raise NotImplementedError

    # Flow control, so the pipelined sender waits for the socket instead of buffering all.
    def pause_writing(self) -> None:
        self._can_write = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._can_write is not None and not self._can_write.done():
            self._can_write.set_result(None)
        self._can_write = None

    async def writable(self) -> None:
        if self._can_write is not None:
            await self._can_write


class _ServerProtocol(_FrameProtocol):
    """Echoes each `Frame` whose target is negative; acknowledges the announced count."""

    def __init__(self) -> None:
        super().__init__()
        self.expected, self.received = -1, 0

    def on_frames(self, frames: list[Frame | Ack]) -> None:
        out = bytearray()
        for message in frames:
            if isinstance(message, Ack):
                self.expected, self.received = message.count, 0
            elif message.target < 0:
                _append(out, message)
            else:
                self.received += 1
                if self.received == self.expected:
                    _append(out, Ack(count=self.received))
        if out and self.transport is not None:
            self.transport.write(bytes(out))


class _ClientProtocol(_FrameProtocol):
    """Hands each arriving frame to whoever waits on `next_frame`."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: asyncio.Queue[Frame | Ack] = asyncio.Queue()

    def on_frames(self, frames: list[Frame | Ack]) -> None:
        for message in frames:
            self.arrived.put_nowait(message)


async def _connect(port: int) -> tuple[asyncio.Transport, _ClientProtocol]:
    loop = asyncio.get_running_loop()
    return await loop.create_connection(_ClientProtocol, "127.0.0.1", port)


async def _sequential(port: int, n: int) -> float:
    transport, protocol = await _connect(port)
    try:
        payload = _encoder.encode("ping")
        start = time.perf_counter()
        for _ in range(n):
            out = bytearray()
            _append(out, Frame(target=-1, payload=payload))
            transport.write(bytes(out))
            await protocol.arrived.get()
        return n / (time.perf_counter() - start)
    finally:
        transport.close()


async def _pipelined(port: int, n: int) -> float:
    transport, protocol = await _connect(port)
    try:
        out = bytearray()
        _append(out, Ack(count=n))
        start = time.perf_counter()
        for i in range(n):
            _append(out, Frame(target=i, payload=_encoder.encode(i)))
            if len(out) > _BATCH * 16 or i == n - 1:
                transport.write(bytes(out))
                out.clear()
                await protocol.writable()
        ack = await protocol.arrived.get()
        elapsed = time.perf_counter() - start
        assert isinstance(ack, Ack) and ack.count == n, ack
        return n / elapsed
    finally:
        transport.close()


async def _run_server(ready: Connection | None, client: str = "", n: int = 0) -> float:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_ServerProtocol, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        if ready is not None:
            ready.send(port)
            await server.serve_forever()
        return await (_sequential if client == "sequential" else _pipelined)(port, n)


def _server_process(ready: Connection) -> None:
    asyncio.run(_run_server(ready))


def _measure(client: str, n: int, separate_process: bool) -> float:
    if not separate_process:
        return asyncio.run(_run_server(None, client, n))
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    server = context.Process(target=_server_process, args=(theirs,), daemon=True)
    server.start()
    try:
        if not ours.poll(30):
            raise RuntimeError("the raw TCP echo server did not start within 30 s")
        port = ours.recv()
        return asyncio.run((_sequential if client == "sequential" else _pipelined)(port, n))
    finally:
        server.terminate()
        server.join(10)


def sequential_round_trips(n: int = 10_000, *, separate_process: bool = True) -> float:
    """Round trips per second: send one frame, wait for its echo, `n` times."""
    return _measure("sequential", n, separate_process)


def pipelined_frames(n: int = 200_000, *, separate_process: bool = True) -> float:
    """One-way frames per second: `n` frames sent back to back, each decoded by the
    receiver, timed until it acknowledges the last."""
    return _measure("pipelined", n, separate_process)


def main() -> None:
    parser = argparse.ArgumentParser(description="Raw asyncio TCP frame baseline")
    parser.add_argument("--quick", action="store_true", help="small counts, a smoke run")
    parser.add_argument("--in-process", action="store_true", help="server in the same loop")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    separate = not args.in_process
    where = "same process" if args.in_process else "server in a child process"
    sequential = sequential_round_trips(10_000 // scale, separate_process=separate)
    pipelined = pipelined_frames(200_000 // scale, separate_process=separate)
    print(f"raw asyncio TCP, msgspec frames, 127.0.0.1, {where}")
    print(f"  sequential round trips: {sequential:12,.0f} /s  ({10_000 // scale} trips)")
    print(f"  pipelined frames:       {pipelined:12,.0f} /s  ({200_000 // scale} frames)")


if __name__ == "__main__":
    main()
