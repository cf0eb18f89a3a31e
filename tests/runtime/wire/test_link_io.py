"""The link's asyncio I/O (`runtime._wire.link_io`, `.transport`) over real sockets on 127.0.0.1.

`LinkWriter` keeps `FrameWriter`'s order and bounds while it writes from a loop
callback and gathers sender-less tells into `TellMany` frames; `TransportReceiver`
reads what anyio's stream would have read, including bytes anyio had buffered.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import msgspec
import pytest
from anyio.abc import SocketAttribute

from runtime._wire import framing as wire
from runtime._wire import link_io as _link_io
from runtime._wire.link_io import LinkWriter
from runtime._wire.records import RECORD_OVERHEAD, TAG_SIZE
from runtime._wire.transport import READ_HIGH_WATER, TransportReceiver, asyncio_transport
from tests.runtime.wire.test_records import session

# Tells carry encoded messages (items of a TellMany's msgpack array): these are.
A = [msgspec.msgpack.encode(f"a{i}") for i in range(4)]
B0, T0, T1 = (msgspec.msgpack.encode(text) for text in ("b0", "t0", "t1"))

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def socket_pair() -> AsyncIterator[tuple[anyio.abc.SocketStream, anyio.abc.SocketStream]]:
    """Two ends of one TCP connection on 127.0.0.1."""
    accepted: list[anyio.abc.SocketStream] = []
    ready = anyio.Event()

    async def accept(stream: anyio.abc.SocketStream) -> None:
        accepted.append(stream)
        ready.set()
        await anyio.sleep_forever()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with listener, anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, accept)
        client = await anyio.connect_tcp("127.0.0.1", listener.extra(SocketAttribute.local_port))
        await ready.wait()
        async with client, accepted[0]:
            yield client, accepted[0]
        tasks.cancel_scope.cancel()


@asynccontextmanager
async def running(writer: LinkWriter) -> AsyncIterator[LinkWriter]:
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(writer.run)
        yield writer
        await writer.aclose()


# One connection's keys: each writer seals from record 0 with the first, each reader
# opens from record 0 with the second (one writer and one reader per connection).
WRITER_KEYS, READER_KEYS = session()


def reader_for(stream: anyio.abc.ByteStream) -> wire.FrameReader:
    return wire.FrameReader(stream, opener=READER_KEYS.opener())


async def frames(stream: anyio.abc.ByteStream, count: int) -> list[Any]:
    reader = reader_for(stream)
    with anyio.fail_after(5):
        return [await reader.receive() for _ in range(count)]


def writer_for(stream: anyio.abc.ByteStream, backend: str, **options: Any) -> LinkWriter:
    options = {"max_frame_size": 1 << 20, "high_water": 1 << 20,
               "sealer": WRITER_KEYS.sealer(), **options}
    return LinkWriter(stream, backend=backend, **options)


async def test_tells_of_one_turn_travel_as_one_frame_per_target_run_in_order(
    anyio_backend: str,
) -> None:
    async with socket_pair() as (ours, theirs):
        async with running(writer_for(ours, anyio_backend)) as writer:
            for i in range(3):
                writer.tell_nowait(1, A[i])
            writer.tell_nowait(2, B0)
            writer.send_nowait(wire.Ask(7, 1, b"ask"))
            writer.tell_nowait(1, A[3])
            await writer.flush()
        got = await frames(theirs, 4 if anyio_backend == "asyncio" else 6)
    if anyio_backend == "asyncio":
        assert got == [
            wire.TellMany.of(1, A[:3]), wire.Tell(2, B0), wire.Ask(7, 1, b"ask"),
            wire.Tell(1, A[3]),
        ]
    else:  # trio keeps FrameWriter's path: one Tell per tell, the same order
        assert got == [wire.Tell(1, A[0]), wire.Tell(1, A[1]), wire.Tell(1, A[2]),
                       wire.Tell(2, B0), wire.Ask(7, 1, b"ask"), wire.Tell(1, A[3])]


async def test_values_and_encoded_tells_share_a_batch_in_order(anyio_backend: str) -> None:
    """`tell_value` takes fixed-size values (encoded with their batch, in one call) and
    refuses every other message; a batch mixes them with encoded tells, in order."""
    values = [0, -(2**63), 2**64 - 1, 1.5, True, None]
    async with socket_pair() as (ours, theirs):
        async with running(writer_for(ours, anyio_backend)) as writer:
            for value in values[:3]:
                assert writer.tell_value(1, value)
            writer.tell_nowait(1, A[0])
            for value in values[3:]:
                assert writer.tell_value(1, value)
            for refused in (2**64, -(2**63) - 1, "text", b"bytes", (1,), [1], 1 + 0j):
                assert not writer.tell_value(1, refused)
            await writer.flush()
        got = await frames(theirs, 1 if anyio_backend == "asyncio" else 7)
    encoded = [msgspec.msgpack.encode(value) for value in values]
    payloads = [*encoded[:3], A[0], *encoded[3:]]
    if anyio_backend == "asyncio":
        assert got == [wire.TellMany.of(1, payloads)]
        assert msgspec.msgpack.decode(got[0].messages) == [*values[:3], "a0", *values[3:]]
    else:
        assert got == [wire.Tell(1, payload) for payload in payloads]


async def test_sends_of_one_turn_travel_as_one_frame_and_never_mix_with_tells(
    anyio_backend: str,
) -> None:
    async with socket_pair() as (ours, theirs):
        async with running(writer_for(ours, anyio_backend)) as writer:
            writer.tell_nowait(1, T0)
            assert writer.try_send(1, b"s0") and writer.try_send(1, b"s1")
            await writer.send_batched(1, b"s2")
            writer.tell_nowait(1, T1)
            assert writer.try_send(2, b"x0")
            await writer.flush()
        got = await frames(theirs, 4 if anyio_backend == "asyncio" else 6)
    if anyio_backend == "asyncio":
        assert got == [wire.Tell(1, T0), wire.SendMany(1, [b"s0", b"s1", b"s2"]),
                       wire.Tell(1, T1), wire.Send(2, b"x0")]
    else:  # trio: a frame per send, the same order
        assert got == [wire.Tell(1, T0), wire.Send(1, b"s0"), wire.Send(1, b"s1"),
                       wire.Send(1, b"s2"), wire.Tell(1, T1), wire.Send(2, b"x0")]


async def test_a_batched_send_waits_for_room_and_a_closed_writer_refuses_it(
    anyio_backend: str,
) -> None:
    async with socket_pair() as (ours, theirs):
        writer = writer_for(ours, anyio_backend, high_water=100)
        while writer.try_send(1, b"0123456789"):  # no writer task, no loop turn: it fills
            pass
        assert writer.pending >= 100
        async with anyio.create_task_group() as tasks:
            sent = anyio.Event()

            async def one_more() -> None:
                await writer.send_batched(1, b"last")
                sent.set()

            tasks.start_soon(one_more)
            await anyio.lowlevel.checkpoint()
            if anyio_backend == "trio":  # (asyncio's turn-end callback makes room itself)
                assert not sent.is_set()  # waiting for room: the writer task is not running
            tasks.start_soon(writer.run)
            with anyio.fail_after(5):
                await sent.wait()
            await writer.aclose()
        with pytest.raises(anyio.ClosedResourceError):
            await writer.send_batched(1, b"late")
        assert not writer.try_send(1, b"late")
        got = await frames(theirs, 1)
        assert isinstance(got[0], wire.Send | wire.SendMany)


async def test_a_large_payload_goes_alone_and_an_oversized_one_fails_at_the_sender(
    anyio_backend: str,
) -> None:
    async with socket_pair() as (ours, theirs):
        writer = writer_for(ours, anyio_backend, max_frame_size=1000)
        async with running(writer):
            writer.tell_nowait(1, b"small")
            writer.tell_nowait(1, b"x" * 600)  # over half the frame limit: its own Tell
            with pytest.raises(wire.FrameError, match="exceeds the 1000-byte frame limit"):
                writer.tell_nowait(1, b"y" * 2000)
            await writer.flush()
        assert await frames(theirs, 2) == [wire.Tell(1, b"small"), wire.Tell(1, b"x" * 600)]


async def test_tells_are_bounded_by_the_high_water_mark(anyio_backend: str) -> None:
    async with socket_pair() as (ours, _):
        writer = writer_for(ours, anyio_backend, high_water=100)
        with pytest.raises(anyio.WouldBlock):
            for _ in range(50):
                writer.tell_nowait(1, b"0123456789")  # no writer task, no loop turn
        assert writer.pending >= 100


async def test_a_closed_writer_refuses_tells(anyio_backend: str) -> None:
    async with socket_pair() as (ours, _):
        writer = writer_for(ours, anyio_backend)
        async with running(writer):
            pass
        with pytest.raises(anyio.ClosedResourceError):
            writer.tell_nowait(1, b"late")


async def test_many_tells_under_load_arrive_whole_and_in_order(anyio_backend: str) -> None:
    sent = [msgspec.msgpack.encode(i) for i in range(20_000)]
    async with socket_pair() as (ours, theirs):
        async with running(writer_for(ours, anyio_backend)) as writer:
            for i, payload in enumerate(sent):
                writer.tell_nowait(i % 3, payload)
                if i % 500 == 0:
                    await anyio.lowlevel.checkpoint()
            writer.send_nowait(wire.Goodbye("end"))
        reader = reader_for(theirs)
        got: list[tuple[int | str, bytes]] = []
        with anyio.fail_after(10):
            while not isinstance(frame := await reader.receive(), wire.Goodbye):
                if isinstance(frame, wire.TellMany):
                    got += [(frame.target, payload) for payload in frame.payloads()]
                else:
                    assert isinstance(frame, wire.Tell)
                    got.append((frame.target, frame.payload))
    assert got == [(i % 3, payload) for i, payload in enumerate(sent)]


async def test_every_write_is_a_record_on_the_direct_path_too(anyio_backend: str) -> None:
    """A lone frame on an idle link is written at once from `send_nowait` (asyncio's
    direct path, no writer task): it is sealed there as well."""
    async with socket_pair() as (ours, theirs):
        writer = writer_for(ours, anyio_backend)
        async with running(writer):
            await anyio.sleep(0.01)  # past DIRECT_GAP since the writer was made
            ask = wire.Ask(1, "echo", b"ping")
            writer.send_nowait(ask)
            if anyio_backend == "asyncio":
                assert writer.pending == 0  # it went straight to the transport
            await writer.flush()
            body = wire.encode_frame(ask)
            with anyio.fail_after(5):
                raw = b""
                while len(raw) < len(body) + RECORD_OVERHEAD:
                    raw += await theirs.receive()
        length, seq = struct.unpack_from(">IQ", raw)
        assert (length, seq) == (len(body), 0)
        assert raw[12 : 12 + length] == body and len(raw) == length + 12 + TAG_SIZE
        opened = bytearray()
        READER_KEYS.opener().open_into(raw, opened)
        assert bytes(opened) == body


# -- TransportReceiver (asyncio only: it is asyncio's) --------------------------------------


asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])


@asyncio_only
async def test_the_receiver_keeps_what_anyio_had_buffered() -> None:
    async with socket_pair() as (ours, theirs):
        await theirs.send(b"hello, world")
        assert await ours.receive(5) == b"hello"  # anyio keeps the rest in its queue
        receiver = TransportReceiver(ours)
        assert await receiver.receive() == b", world"
        await theirs.send(b"more")
        assert await receiver.receive(2) == b"mo"
        assert await receiver.receive() == b"re"


@asyncio_only
async def test_the_receiver_ends_as_anyio_would() -> None:
    async with socket_pair() as (ours, theirs):
        receiver = TransportReceiver(ours)
        await theirs.send(b"last")
        await theirs.send_eof()
        assert await receiver.receive() == b"last"
        with pytest.raises(anyio.EndOfStream):
            await receiver.receive()
        await ours.send(b"the other way still works")  # an end of stream is half a close
        assert await theirs.receive() == b"the other way still works"


@asyncio_only
async def test_a_sink_takes_each_read_after_what_was_queued_and_receive_sees_the_end() -> None:
    async with socket_pair() as (ours, theirs):
        await theirs.send(b"queued")
        receiver = TransportReceiver(ours)
        with anyio.fail_after(5):
            while not receiver._chunks:  # noqa: ASYNC110 - the receiver's own state
                await anyio.sleep(0.001)
        sunk: list[bytes] = []
        arrived = anyio.Event()

        def sink(chunk: memoryview) -> None:
            sunk.append(bytes(chunk))  # a view of the read buffer: valid during the call
            arrived.set()

        receiver.sink = sink
        await theirs.send(b"later")
        with anyio.fail_after(5):
            while len(receiver._chunks) < 2:  # noqa: ASYNC110 - "later" queues behind
                await anyio.sleep(0.001)
            assert sunk == []
            assert await receiver.receive() == b"queued"
            assert await receiver.receive() == b"later"
            await theirs.send(b"straight")
            await arrived.wait()
        assert sunk == [b"straight"]
        await theirs.send_eof()
        with anyio.fail_after(5), pytest.raises(anyio.EndOfStream):
            await receiver.receive()


@asyncio_only
async def test_the_receiver_pauses_reading_past_its_high_water_mark() -> None:
    async with socket_pair() as (ours, theirs):
        receiver = TransportReceiver(ours)
        transport = asyncio_transport(ours)
        block = b"x" * 65536
        async with anyio.create_task_group() as tasks:

            async def flood() -> None:
                for _ in range(READ_HIGH_WATER // len(block) + 32):
                    await theirs.send(block)

            tasks.start_soon(flood)
            with anyio.fail_after(5):
                while transport.is_reading():  # noqa: ASYNC110 - the transport's own state
                    await anyio.sleep(0.01)
            assert receiver._buffered > READ_HIGH_WATER  # it stopped taking more
            received = 0
            with anyio.fail_after(10):
                while received < (READ_HIGH_WATER // len(block) + 32) * len(block):
                    received += len(await receiver.receive())
        assert transport.is_reading()


@asyncio_only
async def test_a_lone_frame_leaves_at_once_and_a_burst_in_one_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_link_io, "DIRECT_GAP", 1.0)  # however slow this machine is now
    async with socket_pair() as (ours, theirs):
        writer = writer_for(ours, "asyncio")
        transport = asyncio_transport(ours)
        writes: list[bytes] = []
        write = transport.write

        def counting(data: bytes) -> None:
            writes.append(data)
            write(data)

        transport.write = counting
        async with running(writer):
            writer.send_nowait(wire.Ask(1, 1, b"lone"))
            assert len(writes) == 1  # written before the loop turns
            for corr in range(2, 50):
                writer.send_nowait(wire.Ask(corr, 1, b"burst"))
            assert len(writes) == 1  # ...the burst waits for the end of the turn
            await writer.flush()
            assert len(writes) == 2
        got = await frames(theirs, 49)
    assert [frame.corr for frame in got] == list(range(1, 50))


@asyncio_only
async def test_a_lone_frame_over_the_record_limit_leaves_at_once_as_several_records() -> None:
    big = wire.Ask(1, "echo", bytes(range(256)) * 2400)  # about 600 KiB: three records
    async with socket_pair() as (ours, theirs):
        writer = writer_for(ours, "asyncio")
        async with running(writer):
            writer.send_nowait(big)
            assert writer.pending == 0  # it went straight to the transport
            assert writer.bytes_written == len(wire.encode_frame(big))
            got = await frames(theirs, 1)
    assert got == [big]
