"""Opening a segment: check it against its index, find damage, cut a torn tail.

Each chunk between two index entries is checked with one CRC (zlib's speed: the whole
log is read, but no record is decoded). Only a chunk whose CRC fails, and the records
after the last index entry (the tail), are walked record by record.

What is found is sorted into two kinds:

- a **torn tail**: in the newest segment only, bytes after the last valid record that
  hold no valid record up to the end of the file. A crash in the middle of a write
  leaves exactly that. They are cut off, and kept beside the segment in a new
  ``<segment>.<position>.dropped`` file (never one that exists: nothing moved aside is
  ever overwritten).
- **damage**: any other stretch that fails its checksum. It is returned; whether it
  stops the open or is skipped is the stream's `on_corruption`.
"""

from __future__ import annotations

import logging
import mmap
import os
import zlib
from pathlib import Path
from typing import NamedTuple

from runtime._streams.index import Entry, Index
from runtime._streams.record import Buffer, Damage, scan
from runtime._streams.segment import Segment, index_path, segment_path

__all__ = ("Recovered", "recover")

log = logging.getLogger("repertory.streams")


class Recovered(NamedTuple):
    segment: Segment
    damaged: list[Damage]  # what is not a torn tail, each with its last offset known
    highest: int  # the highest offset any record or index entry of it ever named


def recover(
    directory: Path, base: int, *, newest: bool, next_base: int | None
) -> Recovered:
    """Open the segment of `base`, checked; the newest one is opened for appends."""
    path = segment_path(directory, base)
    size = path.stat().st_size
    entries, highest = Index.read(index_path(directory, base))
    trusted = _trusted(entries, base, size)
    rebuilt = len(trusted) != len(entries)
    with _mapped(path, size) as buffer:
        checked = _check(buffer, trusted, size, newest)
        entries, damages, last, _ = checked
        torn = damages.pop() if newest and damages and damages[-1].last is None else None
        if torn is not None:
            _cut(path, buffer, torn.position, size, torn.first)
            size = torn.position
            entries = [entry for entry in entries if entry.position <= size]
    # A damaged stretch that runs to a sealed segment's end covers offsets up to the
    # next segment's base (or the end entry's offset).
    bound = entries[-1].offset - 1 if entries[-1].position == size else None
    if next_base is not None:
        bound = next_base - 1
    damages = [
        d if d.last is not None else d._replace(last=bound if bound is not None else d.first - 1)
        for d in damages
    ]
    index = Index(index_path(directory, base), entries)
    if newest:
        index.open_for_append()  # rewritten: drops entries past a cut tail
    elif rebuilt or torn is not None:
        index.open_for_append()
        index.close()
    segment = Segment(
        directory, base, index, size=size, last=last, damaged=damages, writable=newest,
    )
    highest = max(highest, last, bound if bound is not None else -1)
    return Recovered(segment, damages, highest)


def _trusted(entries: list[Entry], base: int, size: int) -> list[Entry]:
    """The index entries that can be believed: from (base, 0) on, within the file."""
    if not entries or entries[0].offset != base or entries[0].position != 0:
        return [Entry(base, 0, 0)]
    return [entry for entry in entries if entry.position <= size]


def _check(
    buffer: Buffer, entries: list[Entry], size: int, newest: bool
) -> tuple[list[Entry], list[Damage], int, int]:
    """(entries still valid, damage found, last good offset, end of the last good record)."""
    damages: list[Damage] = []
    view = memoryview(buffer)
    for index in range(1, len(entries)):
        start, end = entries[index - 1].position, entries[index].position
        if zlib.crc32(view[start:end]) == entries[index].chunk_crc:
            continue
        after = entries[index - 1].offset - 1
        if newest:
            # In the newest segment damage may be a torn tail, whatever the index says:
            # walk from here to the end of the file.
            last, good_end, found = scan(buffer, start, size, after)
            view.release()
            return entries[:index], damages + found, last, good_end
        _, _, found = scan(buffer, start, end, after)
        bound = entries[index].offset - 1
        damages += [d if d.last is not None else d._replace(last=bound) for d in found]
    view.release()
    tail = entries[-1]
    last, good_end, found = scan(buffer, tail.position, size, tail.offset - 1)
    if not found and tail.position == size:
        last = tail.offset - 1  # an end entry, or one written just before a crash
    return entries, damages + found, last, good_end


class _mapped:
    """The file at `path`, mapped read-only (an empty bytes for an empty file)."""

    def __init__(self, path: Path, size: int) -> None:
        self.path, self.size = path, size
        self.map: mmap.mmap | None = None

    def __enter__(self) -> Buffer:
        if self.size == 0:
            return b""
        with self.path.open("rb") as file:
            self.map = mmap.mmap(file.fileno(), self.size, access=mmap.ACCESS_READ)
        return self.map

    def __exit__(self, *exc: object) -> None:
        if self.map is not None:
            self.map.close()


def _cut(path: Path, buffer: Buffer, position: int, size: int, first: int) -> None:
    """Move bytes ``[position, size)`` of `path` aside to a new file, then cut them."""
    keep = _new_file(path, position, buffer[position:size])
    fd = os.open(path, os.O_RDWR)
    try:
        os.ftruncate(fd, position)
        os.fsync(fd)
    finally:
        os.close(fd)
    log.warning(
        "stream segment %s: dropped %d bytes at position %d, after the entry at offset "
        "%d (a record cut short by a crash mid-write; no entry in them was acknowledged "
        "unless a power loss took an unsynced write); the dropped bytes are in %s",
        path, size - position, position, first - 1, keep,
    )


def _new_file(path: Path, position: int, data: bytes) -> Path:
    """Write `data` to a file beside `path` that did not exist before."""
    attempt = 0
    while True:
        suffix = f".{attempt}" if attempt else ""
        keep = path.with_name(f"{path.name}.{position}{suffix}.dropped")
        try:
            fd = os.open(keep, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            attempt += 1
            continue
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return keep
