"""The record format of segment files, and how to find a record again after damage.

A record is a 20-byte header then the payload (the message, encoded by the runtime's
codec)::

    magic (4 bytes)  crc32 (4)  length (4)  offset (8)  payload (length bytes)

all big-endian. The CRC-32 covers length, offset and payload, so a record is either
whole and what was written, or it is rejected. The magic and the offset inside each
record are what make damage local: after a damaged record, a reader looks for the
next magic whose record checks out and carries a higher offset, and carries on there
with every later entry at its own offset.
"""

from __future__ import annotations

import mmap
import struct
import zlib
from collections.abc import Callable
from typing import NamedTuple

from actors.errors import StreamCorruptError

__all__ = (
    "HEADER_SIZE", "MAGIC", "Buffer", "Damage", "Record", "pack", "pack_checked", "pack_header",
    "parse", "resync", "scan",
)

MAGIC = b"\xe7RPS"
_HEADER = struct.Struct(">4sIIQ")  # magic, crc32, payload length, offset
_CHECKED = struct.Struct(">IQ")  # what the CRC covers before the payload
HEADER_SIZE = _HEADER.size
#: `pack`'s two steps, bound once for the append path (`Segment.append`), which packs
#: records inline: ``pack_header(MAGIC, crc32(payload, crc32(pack_checked(length,
#: offset))), length, offset) + payload`` is `pack(offset, payload)`.
pack_header = _HEADER.pack
pack_checked = _CHECKED.pack
_MAX_PAYLOAD = 1 << 31
#: What records are read from: bytes read from a file, or the file mapped.
Buffer = bytes | mmap.mmap


class Record(NamedTuple):
    """A record that checks out: its offset and where its payload starts and it ends."""

    offset: int
    payload: int
    end: int


class Damage(NamedTuple):
    """Bytes ``[position, end)`` of a segment that hold no valid record.

    `first` is the first offset they may have held; `last` the last (inclusive), or
    None when no valid record follows them up to where the scan stopped.
    """

    position: int
    end: int
    first: int
    last: int | None

    def error(self, stream: str, path: str, last: int | None = None) -> StreamCorruptError:
        """The report of this damage; `last` stands in for an unknown `self.last`."""
        final = self.last if self.last is not None else last
        return StreamCorruptError(
            stream, path, self.position,
            (self.first, final if final is not None else self.first - 1),
            self.end - self.position,
        )


def pack(
    offset: int, payload: bytes,
    _header: Callable[..., bytes] = _HEADER.pack, _checked: Callable[..., bytes] = _CHECKED.pack,
    _crc32: Callable[..., int] = zlib.crc32,
) -> bytes:
    """The bytes of one record. (It runs on every append: one header pack, a CRC
    carried from the header's checked bytes over the payload, one concatenation;
    the defaults are bound once, not looked up per call.)"""
    length = len(payload)
    crc = _crc32(payload, _crc32(_checked(length, offset)))
    return _header(MAGIC, crc, length, offset) + payload


def parse(buffer: Buffer, position: int, limit: int) -> Record | None:
    """The record at `position` if it is whole before `limit` and checks out, else None."""
    if limit - position < HEADER_SIZE:
        return None
    magic, crc, length, offset = _HEADER.unpack_from(buffer, position)
    end = position + HEADER_SIZE + length
    if magic != MAGIC or length == 0 or length > _MAX_PAYLOAD or end > limit:
        return None
    view = memoryview(buffer)
    checked = zlib.crc32(view[position + 8 : end])
    if checked != crc:
        return None
    return Record(offset, position + HEADER_SIZE, end)


def resync(
    buffer: Buffer, start: int, limit: int, after: int
) -> tuple[int, Record] | None:
    """The first valid record at or past `start` (before `limit`) whose offset is above
    `after`, with its position; None if there is none."""
    find = buffer.find
    position = start
    while True:
        position = find(MAGIC, position, limit)
        if position < 0:
            return None
        record = parse(buffer, position, limit)
        if record is not None and record.offset > after:
            return position, record
        position += 1


def scan(
    buffer: Buffer, start: int, limit: int, after: int
) -> tuple[int, int, list[Damage]]:
    """Walk the records in ``[start, limit)``, whose offsets must be above `after`.

    Returns the last good offset (`after` if none), the end of the last good record
    and the damaged stretches, in order. Offsets must rise; a record that checks out
    but does not rise is counted as damage too (it cannot be this log's).
    """
    position = start
    last_end = start
    damages: list[Damage] = []
    while position < limit:
        record = parse(buffer, position, limit)
        if record is not None and record.offset > after:
            after, position = record.offset, record.end
            last_end = position
            continue
        found = resync(buffer, position + 1, limit, after)
        if found is None:
            damages.append(Damage(position, limit, after + 1, None))
            break
        resume, record = found
        damages.append(Damage(position, resume, after + 1, record.offset - 1))
        position = resume
    return after, last_end, damages
