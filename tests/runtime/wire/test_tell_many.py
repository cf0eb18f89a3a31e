"""`TellMany` carries its messages as one msgpack array (protocol 4): a batch round
trips whole and in order, a frame whose messages are not one array does not decode, a
bad item is dead-lettered alone, and `LinkWriter.tell_value` takes exactly the values
`Codec.encode` carries in fixed size, to its bytes."""

from __future__ import annotations

import pickle
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.msgpack import Ext

from actors.errors import SerializationError
from runtime._wire import codec as _codec
from runtime._wire import framing as wire
from runtime._wire.link_io import LinkWriter
from tests.runtime.wire.test_codec import make_codec, typed
from tests.runtime.wire.test_codec_plain import PLAIN_VALUES
from tests.runtime.wire.test_frames import Pipe, split

MESSAGES = st.one_of(
    PLAIN_VALUES,
    st.tuples(st.integers(-(2**63), 2**63), st.text(max_size=5)),
    st.lists(st.integers(-(2**63), 2**63), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(-(2**63), 2**63), max_size=3),
)


def encodable(codec: Any, value: Any) -> bytes | None:
    try:
        return bytes(codec.encode(value))
    except SerializationError:
        return None


def decode_frame(body: bytes) -> Any:
    return wire.session_decoder.decode(body)


def batch(codec: Any, frame: wire.TellMany) -> tuple[list[Any], list[bytes]]:
    failed: list[bytes] = []
    delivered = codec.decode_batch(frame, lambda payload, _: failed.append(payload))
    return delivered, failed


@given(st.lists(MESSAGES, max_size=20), st.integers(-(2**63), 2**63 - 1) | st.text())
def test_a_batch_round_trips_whole_and_in_order(messages: list[Any], target: Any) -> None:
    codec = make_codec()
    payloads = [p for p in (encodable(codec, m) for m in messages) if p is not None]
    frame = wire.TellMany.of(target, payloads)
    back = decode_frame(wire.encode_frame(frame)[wire.HEADER_SIZE:])
    assert back == frame
    delivered, failed = batch(codec, back)
    assert failed == []
    # Compared by repr: a NaN among the messages is never equal to itself.
    assert [repr(typed(m)) for m in delivered] == [
        repr(typed(codec.decode(p))) for p in payloads
    ]
    assert back.payloads() == payloads


@given(st.binary(max_size=64), st.integers(0, 2**32))
def test_any_messages_field_decodes_to_an_array_or_is_refused(junk: bytes, target: int) -> None:
    """A forged frame: `messages` of any bytes. Either the frame does not decode (a
    decode error: the reader refuses it), or it is one msgpack array, whose every
    item is delivered or handed to `failed`, without raising."""
    body = b"\x93" + msgspec.msgpack.encode("tm") + msgspec.msgpack.encode(target) + junk
    try:
        frame = decode_frame(body)
    except wire.DECODE_ERRORS:
        return
    assert isinstance(frame, wire.TellMany)
    items = msgspec.msgpack.decode(frame.messages, type=list[msgspec.Raw])
    delivered, failed = batch(make_codec(), frame)
    assert len(delivered) + len(failed) == len(items)


@pytest.mark.parametrize("messages", [b"\x01", b"\xa3abc", b"\x81\x01\x02", b"\xc0"])
def test_a_tell_many_whose_messages_are_not_an_array_does_not_decode(messages: bytes) -> None:
    body = msgspec.msgpack.encode(["tm", 1, msgspec.Raw(messages)])
    with pytest.raises(msgspec.ValidationError, match="messages must be one msgpack array"):
        decode_frame(body)
    with pytest.raises(ValueError, match="messages must be one msgpack array"):
        wire.TellMany(1, msgspec.Raw(messages))


def test_a_bad_item_is_dead_lettered_alone_and_the_rest_arrive_in_order() -> None:
    codec = make_codec()  # pickling off: a pickled message is refused at decoding
    pickled = msgspec.msgpack.encode(Ext(_codec._PICKLE, pickle.dumps(0)))
    good = [codec.encode(value) for value in (1, "two", (3,))]
    frame = wire.TellMany.of(1, [good[0], pickled, good[1], good[2]])
    delivered, failed = batch(codec, frame)
    assert delivered == [1, "two", (3,)]
    assert failed == [pickled]


def value_writer(max_frame_size: int) -> LinkWriter:
    # No asyncio transport: every tell it takes is queued as its own Tell frame.
    return LinkWriter(object(), max_frame_size=max_frame_size,  # type: ignore[arg-type]
                      high_water=1 << 20, backend="trio")


@pytest.mark.parametrize("max_frame_size", [1 << 20, 16])
@given(value=MESSAGES)
def test_tell_value_takes_only_fixed_size_values_encode_carries(
    max_frame_size: int, value: Any
) -> None:
    codec = make_codec(max_size=wire.payload_limit(max_frame_size))
    writer = value_writer(max_frame_size)
    took = writer.tell_value(7, value)
    if not took:
        # Left to the general path: anything not a fixed-size value, or no room.
        assert type(value) not in (int, float, bool, type(None)) or max_frame_size == 16 \
            or encodable(codec, value) is None
        return
    assert type(value) in (int, float, bool, type(None))
    (frame,) = writer.take_unsent()
    assert frame == wire.Tell(7, codec.encode(value))  # never one encode would refuse


@pytest.mark.anyio
@settings(max_examples=60, deadline=None)
@given(
    batches=st.lists(st.lists(st.integers(-(2**63), 2**63), max_size=30), min_size=1,
                     max_size=10),
    cuts=st.lists(st.integers(min_value=1, max_value=64), max_size=50),
)
async def test_tell_manys_read_from_any_split_stay_whole_while_the_reader_goes_on(
    batches: list[list[int]], cuts: list[int]
) -> None:
    """A decoded TellMany keeps its messages however the reader reuses its buffer
    after (they are copied out of it: a view would pin the buffer, or change)."""
    codec = make_codec()
    frames = [wire.TellMany.of(i, [codec.encode(v) for v in values])
              for i, values in enumerate(batches)]
    pipe = Pipe()
    for piece in split(b"".join(wire.encode_frame(frame) for frame in frames), cuts):
        pipe.feed(piece)
    await pipe.send_eof()
    got = [frame async for frame in wire.FrameReader(pipe, receive_size=17)]
    assert got == frames
    assert [batch(codec, frame)[0] for frame in got] == batches  # type: ignore[arg-type]
