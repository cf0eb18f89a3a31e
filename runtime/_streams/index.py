"""The sparse offset index of one segment: where to start reading for any offset.

An index file holds 24-byte entries, big-endian::

    offset (8)  position (8)  chunk crc32 (4)  entry crc32 (4)

An entry says that the record of `offset` starts at byte `position` of the segment,
and that the bytes between the previous entry's position and this one (a chunk) have
the CRC-32 `chunk crc`. The first entry is at position 0; one more is added each time
a chunk grows past `INTERVAL` bytes, and a full segment gets a last one at its end.
So finding an offset costs a binary search and reading at most one chunk, and
checking a segment costs one CRC per chunk, at the speed of zlib.

The index is derived data: an entry whose own CRC fails, or that points past the
segment's end, ends the index there, and the segment is scanned to rebuild it.
Index files are never synced on their own; recovery checks them against the data.
"""

from __future__ import annotations

import bisect
import os
import struct
import zlib
from pathlib import Path
from typing import NamedTuple

__all__ = ("INTERVAL", "Entry", "Index")

#: Bytes of records between index entries (a chunk), at least.
INTERVAL = 16 * 1024
_ENTRY = struct.Struct(">QQI")
_ENTRY_SIZE = _ENTRY.size + 4


class Entry(NamedTuple):
    offset: int
    position: int
    chunk_crc: int


class Index:
    """The entries of one segment's index, in memory and in their file."""

    def __init__(self, path: Path, entries: list[Entry]) -> None:
        self.path = path
        self.offsets = [entry.offset for entry in entries]
        self.positions = [entry.position for entry in entries]
        self.crcs = [entry.chunk_crc for entry in entries]
        self._fd = -1

    @staticmethod
    def read(path: Path) -> tuple[list[Entry], int]:
        """The entries of the index at `path` that check out, in order, and the highest
        offset any readable entry names (-1 if none); an empty list if there is none."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return [], -1
        entries: list[Entry] = []
        highest = -1
        for start in range(0, len(data) - _ENTRY_SIZE + 1, _ENTRY_SIZE):
            body = data[start : start + _ENTRY.size]
            (crc,) = struct.unpack_from(">I", data, start + _ENTRY.size)
            if zlib.crc32(body) != crc:
                break
            entry = Entry(*_ENTRY.unpack(body))
            highest = max(highest, entry.offset)
            if entries and (entry.offset < entries[-1].offset
                            or entry.position <= entries[-1].position):
                break
            entries.append(entry)
        return entries, highest

    def open_for_append(self) -> None:
        """Rewrite the file with the entries held, then keep it open for `add`."""
        temp = self.path.with_name(self.path.name + ".tmp")
        data = b"".join(
            _pack(Entry(*entry))
            for entry in zip(self.offsets, self.positions, self.crcs, strict=True)
        )
        temp.write_bytes(data)
        os.replace(temp, self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def add(self, entry: Entry) -> None:
        self.offsets.append(entry.offset)
        self.positions.append(entry.position)
        self.crcs.append(entry.chunk_crc)
        if self._fd >= 0:
            os.write(self._fd, _pack(entry))

    def find(self, offset: int) -> tuple[int, int]:
        """(position, offset) of the last entry at or before `offset`."""
        at = max(0, bisect.bisect_right(self.offsets, offset) - 1)
        return self.positions[at], self.offsets[at]

    @property
    def last_position(self) -> int:
        return self.positions[-1]

    def sync(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)


def _pack(entry: Entry) -> bytes:
    body = _ENTRY.pack(*entry)
    return body + struct.pack(">I", zlib.crc32(body))
