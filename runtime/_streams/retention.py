"""Retention: which whole old segments a stream lets go, by size and by age.

Only whole segments go, oldest first, and never the newest one (appends go there), so a
stream keeps at least its newest segment whatever the limits. Offsets keep counting:
the stream's start moves up to the base of its oldest segment left.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from runtime._streams.segment import Segment, index_path

__all__ = ("drop", "expired")


def expired(
    segments: Sequence[Segment], max_bytes: int | None, max_age: float | None, now: float
) -> int:
    """How many of the oldest `segments` are past `max_bytes` (the total size) or
    `max_age` (seconds since their last write)."""
    count = 0
    if max_bytes is not None:
        total = sum(segment.size for segment in segments)
        while count < len(segments) - 1 and total > max_bytes:
            total -= segments[count].size
            count += 1
    if max_age is not None:
        while count < len(segments) - 1 and _written(segments[count]) < now - max_age:
            count += 1
    return count


def drop(segment: Segment) -> None:
    """Close `segment` and delete its file and index."""
    segment.close()
    segment.path.unlink(missing_ok=True)
    index_path(segment.path.parent, segment.base).unlink(missing_ok=True)


def _written(segment: Segment) -> float:
    return os.stat(segment.path).st_mtime
