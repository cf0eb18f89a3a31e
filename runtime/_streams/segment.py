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
from runtime._streams.record import HEADER_SIZE, MAGIC, Damage, pack_checked, pack_header, parse

__all__ = ("Segment", "index_path", "segment_path")

_BLOCK = 64 * 1024
_SMALL = 512  # what a cached block must still hold to be used: a typical record or two
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
        damaged: list[Damage], writable: bool,
    ) -> None:
        self.base = base
        self.path = segment_path(directory, base)
        self.index = index
        self.size = size
        self.last = last  # the highest offset held (base - 1 when empty)
        self.damaged = damaged
        self.poisoned = any(d.position >= index.last_position for d in damaged)
        flags = os.O_RDWR | os.O_CREAT if writable else os.O_RDONLY
        self.fd = os.open(self.path, flags, 0o644)
        if writable:
            os.lseek(self.fd, size, os.SEEK_SET)  # appends are plain writes from here
        #: Past this size no record is added (unless the segment is empty): the log
        #: sets its `segment_bytes` on the segment it appends to.
        self.limit = 1 << 62
        #: The size at which the next append first adds an index entry.
        self._index_due = index.last_position + INTERVAL
        self.unsynced = False
        self._cached: tuple[bytes, int] = (b"", 0)  # the last block read, and where
        self._cursor = (-1, -1)  # (last offset, next position) where a read stopped

    @classmethod
    def create(cls, directory: Path, base: int) -> Segment:
        """A new, empty segment for records from `base` on."""
        index = Index(index_path(directory, base), [Entry(base, 0, 0)])
        index.open_for_append()
        return cls(directory, base, index, size=0, last=base - 1, damaged=[], writable=True)

    def append(
        self, offset: int, payload: bytes, _crc32: Callable[..., int] = zlib.crc32,
        _write: Callable[[int, bytes], int] = os.write,
    ) -> bool:
        """Write the record of `offset` with one `write` system call (the file's
        position is kept at its end), unless it would take a non-empty segment past
        `limit` bytes: then write nothing and return False. On `OSError` any part
        written is cut off again, and nothing is added.

        This is the path of every append: a few comparisons, the record packed
        inline as `pack` does, and no object besides the record's bytes.
        """
        size = self.size
        length = len(payload)
        if size + HEADER_SIZE + length > self.limit and size:
            return False
        if size >= self._index_due:
            self._index_entry(offset)
        crc = _crc32(payload, _crc32(pack_checked(length, offset)))
        record = pack_header(MAGIC, crc, length, offset) + payload
        try:
            written = _write(self.fd, record)
            if written < HEADER_SIZE + length:
                self._write_rest(record, written)
        except BaseException:
            self._cut(size)
            raise
        self.size = size + HEADER_SIZE + length
        self.last = offset
        self.unsynced = True
        return True

    def _write_rest(self, record: bytes, written: int) -> None:
        while written < len(record):
            written += os.write(self.fd, record[written:])

    def _cut(self, size: int) -> None:
        """An append failed: back to `size` bytes, where the next record goes."""
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, size)
        with contextlib.suppress(OSError):
            os.lseek(self.fd, size, os.SEEK_SET)  # the next record overwrites any part

    def _index_entry(self, offset: int) -> None:
        """An index entry for the record of `offset`, about to be written at the end."""
        start = self.index.last_position
        # The chunk's CRC from the file (the page cache), once per chunk rather than
        # once per record: that keeps it off the append path.
        crc = zlib.crc32(os.pread(self.fd, self.size - start, start))
        self.index.add(Entry(offset, self.size, crc ^ POISON if self.poisoned else crc))
        self.poisoned = False
        self._index_due = self.size + INTERVAL

    def seal(self, sync: bool) -> None:
        """The segment is full: a last index entry marks its end; no more appends."""
        self._index_entry(self.last + 1)
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
        # Where the last read stopped, if it is on the way: reads that follow each
        # other (delivery, a replay) then parse each record once, not a chunk each.
        cursor_after, cursor_position = self._cursor
        if position <= cursor_position < self.size and after <= cursor_after < start:
            position, after = cursor_position, cursor_after
        want = _BLOCK
        while position < self.size:
            block, origin = self._block(position, want)
            want, at, end = _BLOCK, position - origin, len(block)
            while at < end:
                record = parse(block, at, end)
                if record is None:
                    if end - at < HEADER_SIZE and at > position - origin:
                        break  # the header runs past this block: read from here
                    needed = _needed(block, at)
                    if needed is not None and at + needed > end \
                            and origin + at + needed <= self.size:
                        want = needed
                        break  # whole on disk, not in this block: read from here
                    at = self._skip(origin + at, after, on_damage) - origin
                    break
                if record.offset >= stop:
                    self._cursor = (after, origin + at)
                    return found
                after = record.offset
                if record.offset >= start:
                    found.append((record.offset, block[record.payload : record.end]))
                    if len(found) >= limit:
                        self._cursor = (after, origin + record.end)
                        return found
                at = record.end
            position = origin + at
        return found

    def _block(self, position: int, want: int) -> tuple[bytes, int]:
        """Bytes of the file from `position` on (at least `want`, or to the end), and
        where they start: a block read before, if it holds them (reads of a few
        entries at a time, as delivery makes, then cost no system call)."""
        cached, origin = self._cached
        need = min(want if want != _BLOCK else _SMALL, self.size - position)
        if origin <= position and position + need <= origin + len(cached):
            return cached, origin
        block = os.pread(self.fd, min(self.size - position, max(want, _BLOCK)), position)
        self._cached = (block, position)
        return block, position

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
