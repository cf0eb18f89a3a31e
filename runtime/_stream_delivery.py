"""Delivery of stream entries: `Subscription` (one subscriber) and `Group` (shared work).

A lone subscription is two numbers: `_next`, the next offset to tell, and `_done`,
the first offset not committed; it may run `max_in_flight` ahead of `_done`.

A group keeps one position for all its members: `next` (the next new offset to hand
out), `done` (every offset below it committed: the group's watermark, the number
that is saved), `owner` (offset -> the member it was told to, until committed) and
`retry` (offsets whose member left before committing, handed out again first). A
member's commit covers the entries it was told; the watermark moves once every
entry below it is covered, whoever held it.
"""

from __future__ import annotations

import heapq
import logging
from typing import TYPE_CHECKING, Any

from actors._ref import ActorRef
from actors.messages import StreamEntry

if TYPE_CHECKING:
    from runtime._streams import Stream

__all__ = ("Group", "Subscription", "check_offset")

log = logging.getLogger("repertory.streams")


def check_offset(stream: Stream, offset: object, what: str) -> int:
    """`offset` if it is an offset of `stream` or its end, else an error saying which are."""
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise TypeError(f"{what} takes an int offset, got {type(offset).__qualname__}")
    end = len(stream.messages)
    if not 0 <= offset <= end:
        raise ValueError(
            f"{what} {offset} is outside stream {stream.name!r}: valid offsets are 0 to "
            f"{end} ({end} is the offset the next append gets)"
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

    At most `max_in_flight` entries are told and not yet committed at any time.
    """

    __slots__ = (
        "_done", "_group", "_last_sent", "_next", "_sent", "active", "group",
        "max_in_flight", "ref", "stream",
    )

    def __init__(
        self, stream: Stream, ref: ActorRef[Any], group: str | None, max_in_flight: int
    ) -> None:
        self.stream = stream
        self.ref = ref
        self.group = group
        self.max_in_flight = max_in_flight
        self.active = False
        self._next = 0  # a lone subscriber's state
        self._done = 0
        self._group: Group | None = None  # a member's state
        self._sent: dict[int, None] = {}  # an ordered set: offsets told, not committed
        self._last_sent = -1

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
        end = min(len(stream.messages), self._done + self.max_in_flight)
        if end <= self._next or not self.ref.is_alive:
            return
        batch = [stream.entry(offset) for offset in range(self._next, end)]
        self._next = end
        if not self.send(batch):
            self.cancel()

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


class Group:
    """A consumer group: one committed offset, each entry to one live member."""

    def __init__(self, stream: Stream, name: str, position: int) -> None:
        self.stream = stream
        self.name = name
        self.next = position
        self.done = position
        self.members: list[Subscription] = []
        self.turn = 0  # the member the round robin tries first
        self.owner: dict[int, Subscription] = {}
        self.acked: set[int] = set()  # committed offsets above the watermark
        self.retry: list[int] = []  # a heap: oldest first

    def join(self, member: Subscription) -> None:
        member._group = self
        member.active = True
        self.members.append(member)
        self.pump()

    def leave(self, member: Subscription) -> None:
        index = self.members.index(member)
        del self.members[index]
        if index < self.turn:
            self.turn -= 1
        self.hand_back(member)

    def hand_back(self, member: Subscription) -> None:
        """Owe `member`'s uncommitted entries to the group again, oldest first."""
        for offset in member._sent:
            del self.owner[offset]
            heapq.heappush(self.retry, offset)
        member._sent.clear()
        self.pump()

    def pump(self) -> None:
        """Hand out owed entries (redeliveries first) round robin, within each window."""
        messages = self.stream.messages
        batches: dict[Subscription, list[StreamEntry]] = {}
        while self.retry or self.next < len(messages):
            member = self._pick()
            if member is None:
                break
            if self.retry:
                offset = heapq.heappop(self.retry)
            else:
                offset = self.next
                self.next += 1
            self.owner[offset] = member
            member._sent[offset] = None
            member._last_sent = max(member._last_sent, offset)
            batches.setdefault(member, []).append(self.stream.entry(offset))
        # Told only once every batch is assigned, and failures handled after every
        # tell: a member that fails hands its entries on, and that must not overtake a
        # batch not yet told to another member.
        failed = [member for member, batch in batches.items() if not member.send(batch)]
        for member in failed:
            member.cancel()

    def _pick(self) -> Subscription | None:
        members = self.members
        count = len(members)
        for step in range(count):
            index = (self.turn + step) % count
            member = members[index]
            if len(member._sent) < member.max_in_flight and member.ref.is_alive:
                self.turn = (index + 1) % count
                return member
        return None

    def commit(self, member: Subscription, offset: int) -> None:
        last = member._last_sent
        if offset > last:
            told = f"the last entry told to it is {last}" if last >= 0 else "it was told nothing"
            raise member._ahead(offset, told)
        covered = [sent for sent in member._sent if sent <= offset]
        if not covered:
            return
        for sent in covered:
            del member._sent[sent]
            del self.owner[sent]
            self.acked.add(sent)
        done = self.done
        while done in self.acked:
            self.acked.remove(done)
            done += 1
        if done != self.done:
            self.done = done
            self.stream.offsets_changed()
        self.pump()

    def seek(self, offset: int) -> None:
        self.owner.clear()
        self.acked.clear()
        self.retry.clear()
        for member in self.members:
            member._sent.clear()
        self.next = self.done = offset
        self.stream.offsets_changed()
        self.pump()
