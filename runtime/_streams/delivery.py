"""Delivery of stream entries to one subscriber: `Subscription`.

A lone subscription is two numbers: `_next`, the next offset to tell, and `_done`,
the first offset not committed; it may run `max_in_flight` ahead of `_done`. A group
member's state (what it was told and not committed) is kept here too, but the group
(`runtime._streams.groups`) decides what it is told.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from actors import ActorRef, StreamEntry
from runtime._streams.host import ThreadCount

__all__ = ("GroupView", "Services", "StreamView", "Subscription", "check_offset")


class Services(Protocol):
    """What a stream and its subscribers need of `Streams`."""

    @property
    def closed(self) -> bool: ...
    @property
    def max_in_flight(self) -> int: ...
    @property
    def gate(self) -> ThreadCount | None:
        """Not None while the streams run: then an append needs `check_usable` only
        while ``gate.threads`` (a worker thread might be the caller)."""
        ...
    def check_usable(self, what: str) -> None: ...
    def call_later(self, delay: float, fn: Callable[[], object]) -> Any: ...
    def track(self, subscription: Subscription) -> None: ...
    def untrack(self, subscription: Subscription) -> None: ...


class StreamView(Protocol):
    """What a subscription (and a group) needs of its `Stream`."""

    @property
    def name(self) -> str: ...
    @property
    def streams(self) -> Services: ...
    @property
    def start(self) -> int: ...
    def __len__(self) -> int: ...
    def read(self, start: int, stop: int, limit: int) -> list[StreamEntry]: ...
    def entry(self, offset: int) -> StreamEntry | None: ...
    def ended(self, subscription: Subscription) -> None: ...
    def offsets_changed(self) -> None: ...


class GroupView(Protocol):
    """What a member's subscription needs of its `Group`."""

    @property
    def done(self) -> int: ...
    def commit(self, member: Subscription, offset: int) -> None: ...
    def seek(self, offset: int) -> None: ...
    def hand_back(self, member: Subscription) -> None: ...
    def leave(self, member: Subscription) -> None: ...

log = logging.getLogger("repertory.streams")


def check_offset(stream: StreamView, offset: object, what: str) -> int:
    """`offset` if it is an offset of `stream` or its end, else an error saying which are."""
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise TypeError(f"{what} takes an int offset, got {type(offset).__qualname__}")
    start, end = stream.start, len(stream)
    if 0 <= offset < start:
        raise ValueError(
            f"{what} {offset} is no longer in stream {stream.name!r}: retention dropped "
            f"the entries below {start}; use start=\"earliest\" (the oldest kept) or an "
            f"offset from {start} to {end}"
        )
    if not start <= offset <= end:
        raise ValueError(
            f"{what} {offset} is outside stream {stream.name!r}: valid offsets are {start} "
            f"to {end} ({end} is the offset the next append gets)"
        )
    return offset


class Subscription:
    """One subscriber's handle on a stream: `commit`, `seek`, `cancel`.

    Entries reach `ref` as ``StreamEntry(stream, offset, message)`` tells. A lone
    subscription gets them in offset order. A group member gets its share in offset
    order, except that entries redelivered from a member that left come first.

    - `commit(offset)` marks the entries through `offset` done: for a lone subscriber
      its own position; for a group member the entries it was told, which moves the
      group's committed offset once no earlier entry is outstanding.
    - `seek(offset)` moves the position (the group's, for a member) to `offset`, back
      to replay or forward to skip; entries told before the seek may still arrive.
    - `redeliver()` tells again what was told and not committed.
    - `cancel()` ends it; a group member's uncommitted entries go to other members.
      A subscription also ends when its actor stops.

    At most `max_in_flight` entries are told and not yet committed at any time. With
    `ack_timeout` (seconds), an entry neither committed nor given back within it is
    told again (a group member's goes to the next member in turn).
    """

    __slots__ = (
        "_done", "_group", "_last_sent", "_next", "_sent", "_timer", "_timer_done",
        "ack_timeout", "active", "group", "max_in_flight", "ref", "stream",
    )

    def __init__(
        self, stream: StreamView, ref: ActorRef[Any], group: str | None, max_in_flight: int,
        ack_timeout: float | None = None,
    ) -> None:
        self.stream = stream
        self.ref = ref
        self.group = group
        self.max_in_flight = max_in_flight
        self.ack_timeout = ack_timeout
        self.active = False
        self._next = 0  # a lone subscriber's state
        self._done = 0
        self._group: GroupView | None = None  # a member's state
        self._sent: dict[int, float] = {}  # offsets told, not committed -> when told
        self._last_sent = -1
        self._timer: Any = None  # a lone subscriber's ack_timeout timer
        self._timer_done = -1

    def commit(self, offset: int) -> None:
        """Mark every entry through `offset` done; delivery resumes if it was waiting.

        Committing an offset again, or an older one, does nothing. Raises `ValueError`
        for an offset this subscription was never told.
        """
        self._check_usable("commit")
        check_offset(self.stream, offset, "commit")
        if self._group is not None:
            self._group.commit(self, offset)
            return
        if offset >= self._next:
            raise self._ahead(offset, f"it was delivered offsets below {self._next} only")
        if offset >= self._done:
            self._done = offset + 1
            self.pump()

    def seek(self, offset: int) -> None:
        """Deliver again from `offset` (0 to the stream's length); for a member, the
        whole group moves, and its committed offset becomes ``offset - 1``."""
        self._check_usable("seek")
        check_offset(self.stream, offset, "seek")
        if self._group is not None:
            self._group.seek(offset)
            return
        self._next = self._done = offset
        self.pump()

    def redeliver(self) -> None:
        """Tell again every entry told to this subscriber and not yet committed (a
        group member's may go to another member); for a consumer that lost them."""
        self._check_usable("redeliver")
        if self._group is not None:
            self._group.hand_back(self)
            return
        self._next = self._done
        self.pump()

    def cancel(self) -> None:
        """Stop delivery to this subscriber; idempotent."""
        if not self.active:
            return
        self.active = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.stream.ended(self)
        if self._group is not None:
            self._group.leave(self)

    @property
    def committed(self) -> int | None:
        """The offset through which entries are committed (the group's, for a member);
        None if through none."""
        done = self._done if self._group is None else self._group.done
        return done - 1 if done > 0 else None

    @property
    def in_flight(self) -> int:
        """Entries told to this subscriber and not yet committed."""
        if self._group is not None:
            return len(self._sent)
        return self._next - self._done

    def __repr__(self) -> str:
        group = f" group={self.group}" if self.group is not None else ""
        state = "" if self.active else " cancelled"
        return f"<Subscription {self.stream.name} {self.ref.address}{group}{state}>"

    # -- the engine ----------------------------------------------------------------------

    def start_at(self, position: int) -> None:
        self._next = self._done = position
        self.active = True

    def pump(self) -> None:
        """Tell a lone subscriber what its window allows."""
        if not self.active:
            return
        stream = self.stream
        if self._done < stream.start:
            self._behind(stream.start)
        end = min(len(stream), self._done + self.max_in_flight)
        if end <= self._next or not self.ref.is_alive:
            return
        batch = stream.read(self._next, end, end - self._next)
        self._next = end
        if batch and not self.send(batch):
            self.cancel()
        elif self.ack_timeout is not None and self._timer is None:
            self._arm()

    def _behind(self, start: int) -> None:
        log.warning(
            "stream %r: %s was at offset %d, below the oldest entry kept (%d): retention "
            "dropped %d entries it had not committed; it goes on from %d",
            self.stream.name, self.ref.address, self._done, start, start - self._done, start,
        )
        self._done = start
        self._next = max(self._next, start)

    def _arm(self) -> None:
        assert self.ack_timeout is not None
        self._timer_done = self._done
        self._timer = self.stream.streams.call_later(self.ack_timeout, self._expired)

    def _expired(self) -> None:
        """`ack_timeout` after a delivery: if nothing was committed since, tell again."""
        self._timer = None
        if not self.active or self._next <= self._done:
            return
        if self._done == self._timer_done:
            log.info(
                "stream %r: %s committed nothing within ack_timeout=%gs; telling it "
                "again from offset %d", self.stream.name, self.ref.address,
                self.ack_timeout, self._done,
            )
            self._next = self._done
            self.pump()
        if self._timer is None and self._next > self._done:
            self._arm()

    def send(self, batch: list[StreamEntry]) -> bool:
        """Tell `batch`; False (logged) if the ref refused it."""
        try:
            if len(batch) == 1:
                self.ref.tell(batch[0])
            else:
                self.ref.tell_many(batch)
        except Exception as error:
            # A tell raises only when it can never work (a message that cannot be
            # encoded for a remote subscriber, a mailbox that rejects): retrying would
            # fail the same way, so the subscription ends and says why.
            log.error(
                "stream %r: cancelled the subscription of %s: telling it entry %d failed: %s",
                self.stream.name, self.ref.address, batch[0].offset, error,
            )
            return False
        return True

    def _check_usable(self, what: str) -> None:
        self.stream.streams.check_usable(f"stream {self.stream.name!r}")
        if not self.active:
            raise RuntimeError(
                f"cannot {what}: the subscription of {self.ref.address} to stream "
                f"{self.stream.name!r} has ended (cancelled, or its actor stopped); "
                "subscribe again"
            )

    def _ahead(self, offset: int, told: str) -> ValueError:
        return ValueError(
            f"commit({offset}) on stream {self.stream.name!r} by {self.ref.address} is "
            f"ahead of what was delivered: {told}; commit the offset of an entry received"
        )
