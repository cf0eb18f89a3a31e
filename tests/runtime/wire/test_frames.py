"""Frames: round trips, batching, back-pressure, and hostile or broken byte streams."""

from __future__ import annotations

import struct
import tracemalloc
from collections import deque
from collections.abc import Iterator

import anyio
import anyio.abc
import msgspec
import pytest
from anyio.abc import SocketAttribute
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime._wire.framing import (
    Ask,
    Credit,
    FrameDecodeError,
    FrameError,
    FrameReader,
    FrameWriter,
    Goodbye,
    Heartbeat,
    Hello,
    Member,
    Members,
    RegistryEntry,
    RegistryUpdate,
    RemoteError,
    Reply,
    Send,
    SendMany,
    SessionFrame,
    Spawn,
    Spawned,
    Tell,
    TellMany,
    Terminated,
    TopicInterest,
    TopicPublish,
    Unwatch,
    Watch,
    encode_frame,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Pipe(anyio.abc.ByteStream):
    """An in-memory byte stream that keeps chunk boundaries, counts sends and can hold
    them at a gate."""

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._eof = False
        self._arrived: anyio.Event | None = None
        self.sends = 0
        self.gate: anyio.Event | None = None  # sends wait on it while it is unset
        self.send_started: anyio.Event | None = None

    async def send(self, item: bytes) -> None:
        self.sends += 1
        if self.send_started is not None:
            self.send_started.set()
        if self.gate is not None:
            await self.gate.wait()
        self.feed(bytes(item))

    async def receive(self, max_bytes: int = 65536) -> bytes:
        while not self._chunks:
            if self._eof:
                raise anyio.EndOfStream
            self._arrived = anyio.Event()
            await self._arrived.wait()
        chunk = self._chunks.popleft()
        if len(chunk) > max_bytes:
            chunk, rest = chunk[:max_bytes], chunk[max_bytes:]
            self._chunks.appendleft(rest)
        return chunk

    def feed(self, data: bytes) -> None:
        self._chunks.append(data)
        if self._arrived is not None:
            self._arrived.set()

    async def send_eof(self) -> None:
        self._eof = True
        if self._arrived is not None:
            self._arrived.set()

    async def aclose(self) -> None:
        await self.send_eof()

    def hold(self) -> tuple[anyio.Event, anyio.Event]:
        """Hold every send at a gate; return (gate, event set when a send started)."""
        self.gate, self.send_started = anyio.Event(), anyio.Event()
        return self.gate, self.send_started


class BrokenStream(Pipe):
    async def send(self, item: bytes) -> None:
        raise anyio.BrokenResourceError


SAMPLES: list[SessionFrame] = [
    Heartbeat(seq=7, sent=12.5),
    Tell(target=3, payload=b"\x01\x02"),
    Tell(target="counter", payload=b"", sender="a@127.0.0.1:4001/7"),
    TellMany.of("counter", [b"\x01", b"\xa2bc", b"\xc0"]),
    Send(target=3, payload=b"\x05"),
    SendMany(target="sink", payloads=[b"\x05", b"", b"\x06"]),
    Credit(target="counter", count=64),
    Ask(corr=1, target=9, payload=b"get", timeout=1.5, sender="a@h:1/2"),
    Reply(corr=1, ok=True, payload=b"15"),
    Reply(corr=2, ok=False, error=RemoteError("ValueError", "bad input", "Traceback...")),
    Watch(target=4, watcher="a@h:1/5"),
    Unwatch(target="cart", watcher="a@h:1/5"),
    Terminated(target=4, reason="crashed", error=RemoteError("KeyError", "'x'")),
    Spawn(corr=3, cls_path="shop.cart:Cart", args=b"\x90", name="cart"),
    Spawned(corr=3, actor="b@h:2/cart"),
    RegistryUpdate(entries=[RegistryEntry("cart", "b@h:2/cart", 4), RegistryEntry("x", None)]),
    TopicInterest(subscribe=["news"], full=True),
    TopicPublish(topic="news", payload=b"hi"),
    Members(members=[Member("a@h:1"), Member("b@h:2", incarnation=3, status="leaving")]),
    Goodbye(reason="shutting down"),
]


def frame_id(frame: SessionFrame) -> str:
    return type(frame).__name__


@pytest.mark.parametrize("frame", SAMPLES, ids=frame_id)
async def test_every_session_frame_round_trips(frame: SessionFrame) -> None:
    pipe = Pipe()
    async with FrameWriter(pipe) as writer:
        writer.send_nowait(frame)
    assert await FrameReader(pipe).receive() == frame


def test_every_session_frame_type_has_a_sample() -> None:
    assert {type(f) for f in SAMPLES} == set(SessionFrame.__args__)


@settings(max_examples=60, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=300), min_size=1, max_size=20),
    cuts=st.lists(st.integers(min_value=1, max_value=64), max_size=50),
)
async def test_frames_survive_any_split_of_the_byte_stream(
    payloads: list[bytes], cuts: list[int]
) -> None:
    frames = [Tell(target=i, payload=p) for i, p in enumerate(payloads)]
    wire = b"".join(encode_frame(f) for f in frames)
    pipe = Pipe()
    for piece in split(wire, cuts):
        pipe.feed(piece)
    await pipe.send_eof()
    reader = FrameReader(pipe, receive_size=17)
    assert [frame async for frame in reader] == frames


@settings(max_examples=60, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=300), min_size=1, max_size=20),
    cuts=st.lists(st.integers(min_value=1, max_value=64), max_size=50),
    bad=st.sets(st.integers(min_value=0, max_value=19)),
)
def test_fed_bytes_come_out_as_the_same_frames_whatever_the_split(
    payloads: list[bytes], cuts: list[int], bad: set[int]
) -> None:
    """`feed` and `next_buffered` (reads handed over by a transport callback) read what
    `receive` would: every frame in order, a malformed one dropped alone, and nothing
    but the start of a frame left buffered between reads."""
    garbage = msgspec.msgpack.encode(["t", "not", "a", "tell", 1, 2])
    bodies = [garbage if i in bad else encode_frame(Tell(target=i, payload=p))[4:]
              for i, p in enumerate(payloads)]
    stream = b"".join(struct.pack(">I", len(body)) + body for body in bodies)
    reader = FrameReader(Pipe())
    got: list[Tell | str] = []
    for piece in split(stream, cuts):
        reader.feed(piece)
        while True:
            try:
                frame = reader.next_buffered()
            except FrameDecodeError:
                got.append("malformed")
                continue
            if frame is None:
                break
            assert isinstance(frame, Tell)
            got.append(frame)
        assert len(reader._buffer) < 4 or struct.unpack_from(">I", reader._buffer)[0] + 4 > len(
            reader._buffer
        )
    assert got == ["malformed" if i in bad else Tell(target=i, payload=p)
                   for i, p in enumerate(payloads)]
    assert reader.bytes_received == len(stream)


def split(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    start = 0
    for size in cuts:
        if start < len(data):
            yield data[start : start + size]
        start += size
    if start < len(data):
        yield data[start:]


async def test_frames_queued_during_a_write_go_out_in_one_send() -> None:
    pipe = Pipe()
    gate, send_started = pipe.hold()
    async with FrameWriter(pipe) as writer:
        writer.send_nowait(Heartbeat(seq=0, sent=0.0))
        await send_started.wait()  # the first write is in flight, held at the gate
        for seq in range(1, 100):
            writer.send_nowait(Heartbeat(seq=seq, sent=0.0))
        gate.set()
    assert pipe.sends == 2
    reader = FrameReader(pipe)
    received = [await reader.receive() for _ in range(100)]
    assert [f.seq for f in received if isinstance(f, Heartbeat)] == list(range(100))


async def test_a_burst_over_tcp_is_one_send() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(SocketAttribute.local_port)
    received: list[SessionFrame] = []
    done = anyio.Event()

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            received.extend([f async for f in FrameReader(stream)])
        done.set()

    async with listener, anyio.create_task_group() as task_group:
        task_group.start_soon(listener.serve, serve)
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            counting = CountingStream(stream)
            async with FrameWriter(counting) as writer:
                for i in range(1000):  # all queued before the writer task runs again
                    writer.send_nowait(Tell(target=i, payload=b"x" * 20))
        await done.wait()
        task_group.cancel_scope.cancel()
    assert counting.sends == 1
    assert [f.target for f in received if isinstance(f, Tell)] == list(range(1000))


class CountingStream(anyio.abc.ByteStream):
    """Wraps a stream and counts its sends."""

    def __init__(self, inner: anyio.abc.ByteStream) -> None:
        self.inner = inner
        self.sends = 0

    async def send(self, item: bytes) -> None:
        self.sends += 1
        await self.inner.send(item)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self.inner.receive(max_bytes)

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_send_waits_for_room_past_the_high_water_mark() -> None:
    pipe = Pipe()
    gate, send_started = pipe.hold()
    frame = Tell(target=1, payload=b"x" * 40)
    size = len(encode_frame(frame))
    async with FrameWriter(pipe, high_water=200) as writer:
        writer.send_nowait(frame)
        await send_started.wait()  # one batch in flight, held
        queued = 0
        with pytest.raises(anyio.WouldBlock):
            while True:
                writer.send_nowait(frame)
                queued += 1
        assert 200 <= writer.pending < 200 + size  # bounded: the mark plus one frame
        finished = anyio.Event()

        async def blocked_sender() -> None:
            await writer.send(frame)
            finished.set()

        async with anyio.create_task_group() as task_group:
            task_group.start_soon(blocked_sender)
            await anyio.wait_all_tasks_blocked()
            assert not finished.is_set()  # waiting for room
            gate.set()
            await finished.wait()
    reader = FrameReader(pipe)
    assert [await reader.receive() for _ in range(queued + 2)] == [frame] * (queued + 2)


async def test_oversized_length_is_rejected_before_the_body_is_read() -> None:
    pipe = Pipe()
    pipe.feed(b"\xff\xff\xff\xff")  # announces 4 GiB, sends nothing more
    reader = FrameReader(pipe)
    tracemalloc.start()
    try:
        with anyio.fail_after(1), pytest.raises(FrameError, match="4294967295 bytes, over"):
            await reader.receive()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024


async def test_frame_limit_is_configurable_and_inclusive() -> None:
    frame = Tell(target=1, payload=b"x" * 10)
    wire = encode_frame(frame)
    limit = len(wire) - 4  # exactly this frame's body
    pipe = Pipe()
    pipe.feed(wire + struct.pack(">I", limit + 1))
    reader = FrameReader(pipe, max_frame_size=limit)
    assert await reader.receive() == frame
    with pytest.raises(FrameError, match=f"{limit + 1} bytes, over the {limit}-byte limit"):
        await reader.receive()


async def test_writer_refuses_a_frame_over_its_limit_and_keeps_going() -> None:
    pipe = Pipe()
    async with FrameWriter(pipe, max_frame_size=64) as writer:
        with pytest.raises(FrameError, match=r"Tell frame of .* exceeds the 64-byte frame limit"):
            writer.send_nowait(Tell(target=1, payload=b"x" * 100))
        assert writer.pending == 0
        writer.send_nowait(Tell(target=2, payload=b"small"))
    assert await FrameReader(pipe).receive() == Tell(target=2, payload=b"small")


async def test_a_stream_ending_inside_a_frame_is_a_frame_error() -> None:
    pipe = Pipe()
    pipe.feed(encode_frame(Heartbeat(seq=1, sent=1.0)))
    pipe.feed(struct.pack(">I", 10) + b"12345")  # 5 of 10 body bytes
    await pipe.send_eof()
    reader = FrameReader(pipe)
    assert await reader.receive() == Heartbeat(seq=1, sent=1.0)
    with pytest.raises(FrameError, match="closed inside a frame"):
        await reader.receive()


async def test_a_stream_ending_between_frames_ends_iteration() -> None:
    pipe = Pipe()
    pipe.feed(encode_frame(Heartbeat(seq=1, sent=1.0)))
    await pipe.send_eof()
    reader = FrameReader(pipe)
    assert [f async for f in reader] == [Heartbeat(seq=1, sent=1.0)]
    with pytest.raises(anyio.EndOfStream):
        await reader.receive()


async def test_a_malformed_body_leaves_the_reader_on_the_next_frame() -> None:
    pipe = Pipe()
    garbage = msgspec.msgpack.encode(["t", "not", "a", "tell", 1, 2])
    pipe.feed(struct.pack(">I", len(garbage)) + garbage)
    pipe.feed(encode_frame(Heartbeat(seq=2, sent=0.0)))
    reader = FrameReader(pipe)
    with pytest.raises(FrameDecodeError, match="malformed frame"):
        await reader.receive()
    assert await reader.receive() == Heartbeat(seq=2, sent=0.0)


async def test_invalid_utf8_in_a_frame_is_a_decode_error() -> None:
    pipe = Pipe()
    body = b"\x93\xa1t\xa2\xc3\x28\xc4\x00"  # a Tell whose target is not UTF-8
    pipe.feed(struct.pack(">I", len(body)) + body)
    with pytest.raises(FrameDecodeError, match="malformed frame of 8 bytes"):
        await FrameReader(pipe).receive()


async def test_handshake_frames_are_not_session_frames() -> None:
    pipe = Pipe()
    pipe.feed(encode_frame(Hello(version=1, node="a", nonce=b"n" * 32)))
    with pytest.raises(FrameDecodeError, match="malformed frame"):
        await FrameReader(pipe).receive()


async def test_receive_batch_returns_buffered_frames_and_keeps_a_bad_one_for_later() -> None:
    pipe = Pipe()
    garbage = b"\xc1"  # a byte msgpack never uses
    pipe.feed(
        encode_frame(Heartbeat(seq=1, sent=0.0))
        + encode_frame(Heartbeat(seq=2, sent=0.0))
        + struct.pack(">I", 1)
        + garbage
        + encode_frame(Heartbeat(seq=3, sent=0.0))
    )
    reader = FrameReader(pipe)
    assert await reader.receive_batch() == [Heartbeat(seq=1, sent=0.0), Heartbeat(seq=2, sent=0.0)]
    with pytest.raises(FrameDecodeError):
        await reader.receive_batch()
    assert await reader.receive_batch() == [Heartbeat(seq=3, sent=0.0)]


async def test_a_failed_stream_breaks_the_writer() -> None:
    writer = FrameWriter(BrokenStream())
    caught = False
    try:
        async with writer:
            writer.send_nowait(Heartbeat(seq=1, sent=0.0))
            await writer.flush()
    except* anyio.BrokenResourceError:
        caught = True  # from the writer task, and from flush if it saw the failure first
    assert caught
    with pytest.raises(
        anyio.BrokenResourceError, match=r"stopped: a write failed \(BrokenResourceError\)"
    ):
        writer.send_nowait(Heartbeat(seq=2, sent=0.0))


async def test_leaving_on_an_error_does_not_wait_for_a_stuck_write() -> None:
    pipe = Pipe()
    pipe.hold()  # the first write never completes
    writer = FrameWriter(pipe)
    with anyio.fail_after(2), pytest.raises(KeyError):
        async with writer:
            writer.send_nowait(Heartbeat(seq=1, sent=0.0))
            raise KeyError("the link's owner failed")
    with pytest.raises(anyio.BrokenResourceError):  # cancelled mid-write: broken
        writer.send_nowait(Heartbeat(seq=2, sent=0.0))


async def test_a_writer_cancelled_while_idle_is_closed_not_broken() -> None:
    writer = FrameWriter(Pipe())
    with pytest.raises(KeyError):
        async with writer:
            raise KeyError("the link's owner failed")
    with pytest.raises(anyio.ClosedResourceError):
        writer.send_nowait(Heartbeat(seq=1, sent=0.0))


async def test_a_closed_writer_refuses_frames() -> None:
    pipe = Pipe()
    async with FrameWriter(pipe) as writer:
        pass
    with pytest.raises(anyio.ClosedResourceError):
        writer.send_nowait(Heartbeat(seq=1, sent=0.0))


def test_options_are_checked_early() -> None:
    with pytest.raises(ValueError, match=r"max_frame_size must be between 1 and .*got 0"):
        FrameReader(Pipe(), max_frame_size=0)
    with pytest.raises(ValueError, match="high_water must be a positive number of bytes, got 0"):
        FrameWriter(Pipe(), high_water=0)
