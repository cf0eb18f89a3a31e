"""Records: each batch after the handshake is tagged, and nothing that is not exactly
what the other end wrote, in its order, on this connection, gets through.

Whole-record attacks (replay, reordering, splicing from another connection,
reflection, forgery, a byte flipped anywhere) fail with `RecordError` before anything
in the record reaches the frame decoder; any split of an honest stream passes.
"""

from __future__ import annotations

import hashlib
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime._wire.framing import (
    Ask,
    FrameDecodeError,
    FrameError,
    FrameReader,
    FrameWriter,
    RecordError,
    Tell,
    encode_frame,
)
from runtime._wire.records import (
    MAX_RECORD_SIZE,
    RECORD_HEADER_SIZE,
    RECORD_OVERHEAD,
    TAG_SIZE,
    RecordOpener,
    RecordSealer,
    SessionKeys,
    derive_keys,
)
from tests.runtime.wire.test_frames import Pipe

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def session(
    cookie: bytes = b"cookie", client_nonce: bytes = b"c" * 32, server_nonce: bytes = b"s" * 32
) -> tuple[SessionKeys, SessionKeys]:
    """(client's keys, server's keys) of one connection."""
    common = {"version": 2, "client_node": "a@h:1", "server_node": "b@h:2",
              "client_nonce": client_nonce, "server_nonce": server_nonce}
    return (derive_keys(cookie, client=True, **common),
            derive_keys(cookie, client=False, **common))


def opened(opener: RecordOpener, *chunks: bytes) -> bytes:
    out = bytearray()
    for chunk in chunks:
        opener.open_into(chunk, out)
    return bytes(out)


def test_the_tag_is_keyed_blake2b_over_length_sequence_and_body() -> None:
    client, _ = session()
    record = client.sealer().seal(b"hello")
    length, seq = struct.unpack_from(">IQ", record)
    assert (length, seq) == (5, 0) and len(record) == 5 + RECORD_OVERHEAD
    body_end = len(record) - TAG_SIZE
    expected = hashlib.blake2b(
        record[:body_end], key=client.send, digest_size=TAG_SIZE, person=b"repertory-record"
    ).digest()
    assert record[body_end:] == expected


def test_keys_differ_per_direction_and_per_connection() -> None:
    client, server = session()
    assert client.send == server.receive and client.receive == server.send
    assert client.send != client.receive
    other_client, _ = session(server_nonce=b"t" * 32)
    assert other_client.send != client.send  # a fresh nonce, other keys
    assert session(cookie=b"other")[0].send != client.send
    assert "cookie" not in repr(client) and client.send.hex() not in repr(client)


@settings(max_examples=60)
@given(
    st.lists(st.binary(min_size=1, max_size=3000), min_size=1, max_size=6),
    st.lists(st.integers(1, 5000), min_size=1, max_size=20),
)
def test_any_split_of_an_honest_stream_opens_in_order(
    writes: list[bytes], cuts: list[int]
) -> None:
    client, server = session()
    sealer, opener = client.sealer(), server.opener()
    stream = b"".join(sealer.seal(data) for data in writes)
    chunks, pos = [], 0
    for cut in cuts:
        chunks.append(stream[pos : pos + cut])
        pos += cut
    chunks.append(stream[pos:])
    assert opened(opener, *chunks) == b"".join(writes)
    assert opener.buffered == 0


def test_a_write_over_the_record_limit_becomes_several_records() -> None:
    client, server = session()
    data = os.urandom(MAX_RECORD_SIZE * 2 + 10)
    sealed = client.sealer().seal(data)
    assert len(sealed) == len(data) + 3 * RECORD_OVERHEAD
    assert opened(server.opener(), sealed) == data


@pytest.mark.parametrize("position", ["length", "sequence", "body", "tag"])
def test_a_flipped_byte_anywhere_fails_authentication(position: str) -> None:
    client, server = session()
    record = bytearray(client.sealer().seal(b"transfer 10 to alice"))
    index = {"length": 3, "sequence": 11, "body": 20, "tag": len(record) - 1}[position]
    record[index] ^= 0x01
    out = bytearray()
    # (A longer length waits for more bytes: the zeros after complete the record.)
    with pytest.raises(RecordError, match=r"record 0 failed authentication"):
        server.opener().open_into(bytes(record) + bytes(8), out)
    assert out == b""


def test_a_replayed_record_fails() -> None:
    client, server = session()
    sealer, opener = client.sealer(), server.opener()
    first = sealer.seal(b"pay 10")
    assert opened(opener, first) == b"pay 10"
    with pytest.raises(RecordError, match="record 0 arrived where record 1 was due: replayed"):
        opened(opener, first)


def test_reordered_records_fail() -> None:
    client, server = session()
    sealer = client.sealer()
    first, second = sealer.seal(b"one"), sealer.seal(b"two")
    with pytest.raises(RecordError, match="record 1 arrived where record 0 was due"):
        opened(server.opener(), second, first)


def test_a_record_from_another_connection_fails() -> None:
    client, server = session()
    other, _ = session(client_nonce=b"d" * 32)
    opener = server.opener()
    assert opened(opener, client.sealer().seal(b"ours")) == b"ours"
    spliced = other.sealer().seal(b"theirs")
    with pytest.raises(RecordError, match="failed authentication"):
        opened(opener, spliced)


def test_a_record_reflected_back_to_its_writer_fails() -> None:
    client, _ = session()
    with pytest.raises(RecordError, match="failed authentication"):
        opened(client.opener(), client.sealer().seal(b"echo"))


def test_a_forged_record_without_the_keys_fails() -> None:
    _, server = session()
    body = encode_frame(Tell("victim", b"payload"))
    forged = struct.pack(">IQ", len(body), 0) + body + os.urandom(TAG_SIZE)
    with pytest.raises(RecordError, match="failed authentication"):
        opened(server.opener(), forged)


@pytest.mark.parametrize("size", [0, MAX_RECORD_SIZE + 1, 2**32 - 1])
def test_a_length_outside_the_limit_fails_as_soon_as_it_arrives(size: int) -> None:
    _, server = session()
    with pytest.raises(RecordError, match=f"announces {size} bytes, outside 1 to"):
        opened(server.opener(), struct.pack(">IQ", size, 0))


async def test_frames_travel_in_records_between_a_writer_and_a_reader() -> None:
    client, server = session()
    pipe = Pipe()
    frames = [Tell(target=n, payload=bytes(n)) for n in range(50)]
    async with FrameWriter(pipe, sealer=client.sealer()) as writer:
        for frame in frames:
            writer.send_nowait(frame)
    await pipe.send_eof()
    reader = FrameReader(pipe, opener=server.opener(), receive_size=7)
    assert [frame async for frame in reader] == frames


async def test_an_injected_record_closes_the_reader_before_anything_in_it_is_decoded() -> None:
    client, server = session()
    pipe = Pipe()
    pipe.feed(client.sealer().seal(encode_frame(Tell("a", b"genuine"))))
    injected = encode_frame(Tell("a", b"injected"))
    pipe.feed(struct.pack(">IQ", len(injected), 1) + injected + bytes(TAG_SIZE))
    reader = FrameReader(pipe, opener=server.opener())
    assert await reader.receive() == Tell("a", b"genuine")
    with pytest.raises(RecordError, match="record 1 failed authentication"):
        await reader.receive()


async def test_a_stream_that_ends_inside_a_record_is_an_error() -> None:
    client, server = session()
    pipe = Pipe()
    pipe.feed(client.sealer().seal(encode_frame(Tell("a", b"cut short")))[:-3])
    await pipe.send_eof()
    with pytest.raises(RecordError, match=r"closed inside a record \(\d+ bytes"):
        await FrameReader(pipe, opener=server.opener()).receive()


# -- the quiet link's paths: a record sealed in place, one record of one frame read in place


def test_a_record_sealed_in_place_is_the_record_seal_makes() -> None:
    client, server = session()
    by_seal, in_place = client.sealer(), client.sealer()
    opener = server.opener()
    for body in (b"x", b"an ask", os.urandom(MAX_RECORD_SIZE)):
        buffer = bytearray(RECORD_HEADER_SIZE) + body
        in_place.seal_in_place(buffer)
        assert bytes(buffer) == by_seal.seal(body)
        assert opened(opener, bytes(buffer)) == body  # numbered on: 0, 1, 2


def lone_reader() -> tuple[FrameReader, RecordSealer]:
    client, server = session()
    reader = FrameReader(Pipe(), max_frame_size=1000, opener=server.opener())
    return reader, client.sealer()


def test_one_record_of_one_frame_is_decoded_in_place_and_nothing_stays_buffered() -> None:
    reader, sealer = lone_reader()
    for corr in range(3):
        ask = Ask(corr, "echo", b"ping")
        assert reader.feed_one(memoryview(sealer.seal(encode_frame(ask)))) == ask
        assert reader.next_buffered() is None
    assert reader.frames_received == 3


def test_a_read_that_is_not_one_whole_frame_takes_the_general_path_in_order() -> None:
    reader, sealer = lone_reader()
    first, second, third = (Tell(i, b"m") for i in range(3))
    two = sealer.seal(encode_frame(first) + encode_frame(second))
    assert reader.feed_one(memoryview(two)) is None  # two frames: read one by one
    assert [reader.next_buffered(), reader.next_buffered(), reader.next_buffered()] == [
        first, second, None]
    record = sealer.seal(encode_frame(third))
    assert reader.feed_one(memoryview(record[:5])) is None  # a part: kept for the rest
    assert reader.feed_one(memoryview(record[5:])) is None
    assert reader.next_buffered() == third


def test_a_forged_lone_record_is_refused_before_anything_in_it_is_decoded() -> None:
    reader, sealer = lone_reader()
    record = bytearray(sealer.seal(encode_frame(Tell(1, b"transfer"))))
    record[-1] ^= 0x01
    with pytest.raises(RecordError, match=r"record 0 failed authentication"):
        reader.feed_one(memoryview(record))
    assert reader.frames_received == 0


def test_a_malformed_lone_frame_is_consumed_and_an_oversized_one_closes() -> None:
    reader, sealer = lone_reader()
    junk = struct.pack(">I", 3) + b"\xc1\xc1\xc1"  # 0xc1: never valid msgpack
    with pytest.raises(FrameDecodeError, match=r"malformed frame of 3 bytes"):
        reader.feed_one(memoryview(sealer.seal(junk)))
    ask = Ask(7, 1, b"next")
    assert reader.feed_one(memoryview(sealer.seal(encode_frame(ask)))) == ask
    oversized = struct.pack(">I", 1001) + bytes(1001)
    assert reader.feed_one(memoryview(sealer.seal(oversized))) is None
    with pytest.raises(FrameError, match=r"frame of 1001 bytes, over the 1000-byte limit"):
        reader.next_buffered()
