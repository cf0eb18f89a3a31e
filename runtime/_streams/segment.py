"""One segment file of a stream: records from a base offset on, and its index.

A segment is named by the offset of its first record, ``00000000000000001234.seg``,
with its index beside it (``.idx``). Only the newest segment of a stream is written;
the others are full ("sealed") and only read. Reading starts at the index entry at or
before the wanted offset, so it costs a seek and at most one chunk of records.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from collections.abc import Callable
from pathlib import Path

from runtime._streams.index import INTERVAL, Entry, Index
from runtime._streams.record import HEADER_SIZE, MAGIC, Damage, pack, parse

__all__ = ("Segment", "index_path", "segment_path")

_BLOCK = 64 * 1024
#: A chunk whose bytes hold damage gets this mixed into its CRC, so every later open
#: finds the chunk bad and scans it again, instead of trusting damaged bytes.
POISON = 0xFFFFFFFF


def segment_path(directory: Path, base: int) -> Path:
    return directory / f"{base:020d}.seg"


def index_path(directory: Path, base: int) -> Path:
    return directory / f"{base:020d}.idx"


class Segment:
    """An open segment: appends (the newest only) and reads of offset ranges."""

    def __init__(
        self, directory: Path, base: int, index: Index, *, size: int, last: int,
        chunk_crc: int, damaged: list[Damage], writable: bool,
    ) -> None:
        self.base = base
        self.path = segment_path(directory, base)
        self.index = index
        self.size = size
        self.last = last  # the highest offset held (base - 1 when empty)
        self.chunk_crc = chunk_crc  # CRC of the bytes after the last index entry
        self.damaged = damaged
        self.poisoned = any(d.position >= index.last_position for d in damaged)
        flags = os.O_RDWR | os.O_CREAT if writable else os.O_RDONLY
        self.fd = os.open(self.path, flags, 0o644)
        self.unsynced = False

    @classmethod
    def create(cls, directory: Path, base: int) -> Segment:
        """A new, empty segment for records from `base` on."""
        index = Index(index_path(directory, base), [Entry(base, 0, 0)])
        index.open_for_append()
        return cls(directory, base, index, size=0, last=base - 1, chunk_crc=0, damaged=[],
                   writable=True)

    def append(self, offset: int, payload: bytes) -> int:
        """Write one record; returns its size. On `OSError` any part written is cut off
        again, and nothing is added."""
        if self.size - self.index.last_position >= INTERVAL:
            crc = self.chunk_crc ^ POISON if self.poisoned else self.chunk_crc
            self.index.add(Entry(offset, self.size, crc))
            self.chunk_crc, self.poisoned = 0, False
        record = pack(offset, payload)
        try:
            written = os.pwrite(self.fd, record, self.size)
            while written < len(record):
                written += os.pwrite(self.fd, record[written:], self.size + written)
        except BaseException:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, self.size)
            raise
        self.chunk_crc = zlib.crc32(record, self.chunk_crc)
        self.size += len(record)
        self.last = offset
        self.unsynced = True
        return len(record)

    def seal(self, sync: bool) -> None:
        """The segment is full: a last index entry marks its end; no more appends."""
        crc = self.chunk_crc ^ POISON if self.poisoned else self.chunk_crc
        self.index.add(Entry(self.last + 1, self.size, crc))
        if sync:
            self.sync()
            self.index.sync()
        self.index.close()

    def sync(self) -> None:
        if self.unsynced:
            os.fsync(self.fd)
            self.unsynced = False

    def close(self) -> None:
        self.index.close()
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def read(
        self, start: int, stop: int, limit: int,
        on_damage: Callable[[Segment, int, int], int],
    ) -> list[tuple[int, bytes]]:
        """Up to `limit` (offset, payload) pairs with ``start <= offset < stop``, in order.

        A record that fails its checksum where no known damage starts is passed to
        `on_damage(segment, position, after)` (`after`: the offset of the last good
        record before it), which raises or returns where to go on.
        """
        found: list[tuple[int, bytes]] = []
        position, after = self.index.find(start)
        after -= 1
        want = _BLOCK
        while position < self.size:
            block = os.pread(self.fd, min(self.size - position, max(want, _BLOCK)), position)
            want, at = _BLOCK, 0
            while at < len(block):
                record = parse(block, at, len(block))
                if record is None:
                    if len(block) - at < HEADER_SIZE and at > 0:
                        break  # the header runs past this block: read from here
                    needed = _needed(block, at)
                    if needed is not None and at + needed > len(block) \
                            and position + at + needed <= self.size:
                        want = needed if at == 0 else _BLOCK
                        break  # whole on disk, not in this block: read from here
                    position = self._skip(position + at, after, on_damage)
                    at = -1
                    break
                if record.offset >= stop:
                    return found
                after = record.offset
                if record.offset >= start:
                    found.append((record.offset, block[record.payload : record.end]))
                    if len(found) >= limit:
                        return found
                at = record.end
            if at >= 0:
                position += at
        return found

    def _skip(
        self, position: int, after: int, on_damage: Callable[[Segment, int, int], int]
    ) -> int:
        for damage in self.damaged:
            if damage.position <= position < damage.end:
                return damage.end
        return on_damage(self, position, after)


def _needed(block: bytes, at: int) -> int | None:
    """The size of the record starting at `at` by its header, if the header is whole."""
    if len(block) - at < HEADER_SIZE or block[at : at + 4] != MAGIC:
        return None
    return HEADER_SIZE + int.from_bytes(block[at + 8 : at + 12], "big")
