"""Encoding one frame: the length prefix, the shared encoder and decoder, the limits.

Shared by the reader (`runtime._wire.framing`), the batching writer
(`runtime._wire.writer`) and the asyncio fast path (`runtime._wire.link_io`).
"""

from __future__ import annotations

import struct

import msgspec

from runtime._wire.errors import FrameError
from runtime._wire.frames import Frame, SessionFrame

__all__ = (
    "DECODE_ERRORS",
    "DEFAULT_HIGH_WATER",
    "DEFAULT_MAX_FRAME_SIZE",
    "HEADER",
    "HEADER_SIZE",
    "PROTOCOL_VERSION",
    "RECEIVE_SIZE",
    "append_frame",
    "check_limit",
    "encode_frame",
    "encoder",
    "payload_limit",
    "session_decoder",
)

# 2: records after the handshake carry tags (runtime._wire.records).
# 3: SendMany, the sends of one loop turn to one target in one frame; a credit window
#    of 256 sends (runtime._cluster.credits).
# 4: a TellMany carries its messages as one msgpack array (encoded and decoded in one
#    call per batch), not as a list of separately encoded byte strings.
PROTOCOL_VERSION = 4
DEFAULT_MAX_FRAME_SIZE = 64 * 1024 * 1024
DEFAULT_HIGH_WATER = 1024 * 1024
HEADER = struct.Struct(">I")
HEADER_SIZE = HEADER.size
LENGTH_LIMIT = 2**32 - 1  # what 4 length bytes can say
RECEIVE_SIZE = 65536


# What decoding hostile bytes may raise: msgspec raises UnicodeDecodeError (a
# ValueError), not DecodeError, for invalid UTF-8 in a str field.
DECODE_ERRORS = (msgspec.DecodeError, ValueError)

# Reused: building an Encoder or Decoder costs far more than one frame.
encoder = msgspec.msgpack.Encoder()
session_decoder: msgspec.msgpack.Decoder[SessionFrame] = msgspec.msgpack.Decoder(SessionFrame)


def payload_limit(max_frame_size: int) -> int:
    """The largest encoded message that fits a frame of `max_frame_size` bytes with
    room to spare for the frame's other fields (target, sender, correlation)."""
    return max_frame_size - min(64 * 1024, max_frame_size // 4)


def encode_frame(frame: Frame, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> bytes:
    """Return `frame` as wire bytes: length prefix and body.

    Raises `FrameError` if the body would exceed `max_frame_size`.
    """
    buffer = bytearray()
    append_frame(buffer, frame, max_frame_size)
    return bytes(buffer)


def append_frame(buffer: bytearray, frame: Frame, max_frame_size: int) -> int:
    """Encode `frame` at the end of `buffer` with its prefix; return the bytes added.

    On error `buffer` is left as it was, so frames queued before stay intact.
    """
    start = len(buffer)
    buffer += b"\0\0\0\0"  # the prefix, filled in once the body's length is known
    try:
        encoder.encode_into(frame, buffer, -1)
    except BaseException:
        del buffer[start:]
        raise
    size = len(buffer) - start - HEADER_SIZE
    if size > max_frame_size:
        del buffer[start:]
        raise FrameError(
            f"a {type(frame).__name__} frame of {size} bytes exceeds the {max_frame_size}-byte"
            " frame limit; send smaller messages or raise max_frame_size= on both nodes"
        )
    HEADER.pack_into(buffer, start, size)
    return size + HEADER_SIZE


def check_limit(max_frame_size: int) -> None:
    if not 1 <= max_frame_size <= LENGTH_LIMIT:
        raise ValueError(
            f"max_frame_size must be between 1 and {LENGTH_LIMIT} bytes, got {max_frame_size}"
        )
