"""A stream's log: entries by offset, in memory (`MemoryLog`) or in segment files
(`SegmentedLog`).

Both answer the same calls: `append`, `read(start, stop, limit)`, `start` (the
oldest offset kept), `end` (the offset the next append gets), `damaged`. Offsets
are never handed out twice: a segmented log's `end` is past every offset its files,
its index or its groups' commits ever named.
"""

from __future__ import annotations

import bisect
import logging
import os
import time
from collections import deque
from pathlib import Path
from typing import Any, Protocol

import msgspec

from actors.errors import SerializationError, StreamCorruptError
from runtime._streams.options import StreamOptions
from runtime._streams.record import Damage, scan
from runtime._streams.recovery import recover
from runtime._streams.retention import drop, expired
from runtime._streams.segment import Segment
from runtime._streams.storage import sync_directory
from runtime._wire.codec import Codec

__all__ = ("Log", "MemoryLog", "MessageCodec", "SegmentedLog")

log = logging.getLogger("repertory.streams")
#: Entries kept decoded in memory, newest first, so live delivery never reads disk.
RECENT = 4096
#: The types `Codec` encodes as plain msgpack.
_SCALARS = frozenset({int, str, float, bool, bytes, type(None)})


class MessageCodec(Protocol):
    def encode(self, message: Any) -> bytes: ...
    def decode(self, data: bytes) -> Any: ...


class Log(Protocol):
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def damaged(self) -> list[StreamCorruptError]: ...

    def append(self, message: Any) -> int: ...
    def read(self, start: int, stop: int, limit: int) -> list[tuple[int, Any]]: ...
    def sync(self) -> None: ...
    def close(self) -> None: ...
    @property
    def unsynced(self) -> bool: ...


class MemoryLog:
    """Entries in a list, for a system without `data_dir`."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.start = 0
        self.end = 0
        self.damaged: list[StreamCorruptError] = []
        self.unsynced = False

    def append(self, message: Any) -> int:
        self.messages.append(message)
        self.end += 1
        return self.end - 1

    def read(self, start: int, stop: int, limit: int) -> list[tuple[int, Any]]:
        stop = min(stop, self.end, start + limit)
        return [(offset, self.messages[offset]) for offset in range(start, stop)]

    def sync(self) -> None:
        return None

    def close(self) -> None:
        return None


class SegmentedLog:
    """A directory of segment files; see `runtime._streams.segment` for one of them."""

    def __init__(
        self, name: str, directory: Path, codec: MessageCodec, options: StreamOptions,
        segments: list[Segment], end: int, damaged: list[StreamCorruptError],
    ) -> None:
        self.name = name
        self.directory = directory
        self.codec = codec
        self.options = options
        self.segments = segments
        self.bases = [segment.base for segment in segments]
        self.end = end
        self.damaged = damaged
        self.recent: deque[Any] = deque(maxlen=RECENT)
        # Bound once: `append` runs per entry.
        self._encode = codec.encode
        # Scalars the codec writes as plain msgpack, with no size limit: encoded here
        # to the very same bytes, without the codec's generic path.
        plain = isinstance(codec, Codec) and codec.max_size is None
        self._plain_types = _SCALARS if plain else frozenset()
        self._plain = msgspec.msgpack.Encoder().encode
        self._remember = self.recent.append
        self.segment_bytes = options.segment_bytes
        segments[-1].limit = self.segment_bytes
        self.always = options.fsync == "always"

    @classmethod
    def open(
        cls, name: str, directory: Path, codec: MessageCodec, options: StreamOptions,
        floor: int,
    ) -> SegmentedLog:
        """The log in `directory` (created if missing), checked; `floor` is an offset the
        next append must not go below (what the groups committed).

        Raises `StreamCorruptError` for the first damage found, unless
        ``options.on_corruption == "skip"``: then each is logged and kept in `damaged`.
        """
        directory.mkdir(parents=True, exist_ok=True)
        bases = sorted(int(path.stem) for path in directory.glob("*.seg") if path.stem.isdigit())
        segments: list[Segment] = []
        damaged: list[StreamCorruptError] = []
        highest = floor - 1
        try:
            for at, base in enumerate(bases):
                newest = at == len(bases) - 1
                found = recover(
                    directory, base, newest=newest, next_base=None if newest else bases[at + 1]
                )
                segments.append(found.segment)
                damaged += [d.error(name, str(found.segment.path)) for d in found.damaged]
                highest = max(highest, found.highest)
            if damaged and options.on_corruption == "raise":
                raise damaged[0]
        except BaseException:
            for segment in segments:
                segment.close()
            raise
        for error in damaged:
            log.warning("%s; skipped (on_corruption='skip')", error)
        end = max(highest + 1, floor, segments[-1].last + 1 if segments else 0)
        if not segments:
            segments.append(Segment.create(directory, end))
            sync_directory(directory)
        self = cls(name, directory, codec, options, segments, end, damaged)
        self.apply_retention()
        return self

    @property
    def start(self) -> int:
        return self.bases[0]

    @property
    def recent_start(self) -> int:
        return self.end - len(self.recent)

    @property
    def unsynced(self) -> bool:
        return self.segments[-1].unsynced

    def append(self, message: Any) -> int:
        """Write `message` as the next entry; returns its offset. Encoding errors raise
        `SerializationError` before anything is written."""
        if type(message) in self._plain_types:
            try:
                payload = self._plain(message)
            except Exception:
                payload = self._encode(message)  # raises the SerializationError
        else:
            payload = self._encode(message)
        offset = self.end
        segment = self.segments[-1]
        if not segment.append(offset, payload):
            segment = self._roll()
            segment.append(offset, payload)
        self.end = offset + 1
        if self.always:
            os.fdatasync(segment.fd)
            segment.unsynced = False
        self._remember(message)
        return offset

    def _roll(self) -> Segment:
        syncing = self.options.fsync != "never"
        self.segments[-1].seal(syncing)
        segment = Segment.create(self.directory, self.end)
        if syncing:
            sync_directory(self.directory)
        segment.limit = self.segment_bytes
        self.segments.append(segment)
        self.bases.append(segment.base)
        self.apply_retention()
        return segment

    def apply_retention(self, now: float | None = None) -> int:
        """Delete the old segments past the retention limits; returns how many."""
        options = self.options
        if options.retention_bytes is None and options.retention_age is None:
            return 0
        count = expired(self.segments, options.retention_bytes, options.retention_age,
                        time.time() if now is None else now)
        for segment in self.segments[:count]:
            drop(segment)
        if count:
            del self.segments[:count]
            del self.bases[:count]
            self.damaged = [e for e in self.damaged if e.offsets[0] >= self.start]
            log.info("stream %r: retention dropped %d segment(s); it now starts at offset %d",
                     self.name, count, self.start)
        return count

    def read(self, start: int, stop: int, limit: int) -> list[tuple[int, Any]]:
        """Up to `limit` entries with ``start <= offset < stop``, in order; offsets that
        hold nothing (dropped, damaged and skipped) are left out."""
        start = max(start, self.start)
        stop = min(stop, self.end)
        if start >= stop or limit <= 0:
            return []
        if start >= self.recent_start:
            first = start - self.recent_start
            count = min(stop - start, limit)
            recent = self.recent
            return [(start + at, recent[first + at]) for at in range(count)]
        found: list[tuple[int, Any]] = []
        at = max(0, bisect.bisect_right(self.bases, start) - 1)
        for segment in self.segments[at:]:
            if segment.base >= stop or len(found) >= limit:
                break
            for offset, payload in segment.read(start, stop, limit - len(found), self._damage):
                found.append((offset, self._decode(offset, payload, segment)))
        return found

    def _decode(self, offset: int, payload: bytes, segment: Segment) -> Any:
        try:
            return self.codec.decode(payload)
        except SerializationError as error:
            # A whole record with a good checksum: not damage. Most often a message
            # class that can no longer be imported.
            raise SerializationError(
                f"entry {offset} of stream {self.name!r} ({segment.path})",
                f"{error.detail}; make its message type importable again",
            ) from error

    def _damage(self, segment: Segment, position: int, after: int) -> int:
        """Damage met while reading (it appeared after the stream was opened)."""
        data = os.pread(segment.fd, segment.size - position, position)
        _, _, found = scan(data, 0, len(data), after)
        first = found[0] if found else Damage(0, 1, after + 1, after)
        at = self.segments.index(segment)
        bound = self.bases[at + 1] - 1 if at + 1 < len(self.segments) else segment.last
        damage = Damage(position, position + first.end, first.first,
                        first.last if first.last is not None else bound)
        error = damage.error(self.name, str(segment.path))
        if self.options.on_corruption == "raise":
            raise error
        log.warning("%s; skipped (on_corruption='skip')", error)
        segment.damaged.append(damage)
        self.damaged.append(error)
        return damage.end

    def sync(self) -> None:
        """Make every entry appended so far survive a power loss."""
        self.segments[-1].sync()

    def close(self) -> None:
        for segment in self.segments:
            segment.close()
