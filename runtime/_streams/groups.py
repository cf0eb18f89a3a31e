"""Consumer groups: one committed offset shared by members, each entry to one of them.

A group keeps one position for all its members: `next` (the next new offset to hand
out), `done` (every offset below it committed: the group's watermark, the number
that is saved), `owner` (offset -> the member it was told to, until committed) and
`retry` (offsets whose member left, or let `ack_timeout` pass, before committing;
handed out again first). A member's commit covers the entries it was told; the
watermark moves once every entry below it is covered, whoever held it. Offsets that
hold nothing (dropped by retention, damaged and skipped) count as covered.
"""

from __future__ import annotations

import heapq
import logging
import time
from typing import Any

from actors import StreamEntry
from runtime._streams.delivery import StreamView, Subscription

__all__ = ("Group",)

log = logging.getLogger("repertory.streams")


class Group:
    """A consumer group: one committed offset, each entry to one live member."""

    def __init__(self, stream: StreamView, name: str, position: int) -> None:
        self.stream = stream
        self.name = name
        self.next = position
        self.done = position
        self.members: list[Subscription] = []
        self.turn = 0  # the member the round robin tries first
        self.owner: dict[int, Subscription] = {}
        self.acked: set[int] = set()  # committed offsets above the watermark
        self.retry: list[int] = []  # a heap: oldest first
        self._timer: Any = None  # the ack_timeout check, while one is due
        # Offsets taken back by ack_timeout -> the member that sat on them: another
        # member gets them, if one has room.
        self.avoid: dict[int, Subscription] = {}

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

    def hand_back(self, member: Subscription, offsets: list[int] | None = None) -> None:
        """Owe `member`'s uncommitted entries (or those of `offsets`) to the group
        again, oldest first."""
        taken = list(member._sent) if offsets is None else offsets
        for offset in taken:
            del member._sent[offset]
            del self.owner[offset]
            heapq.heappush(self.retry, offset)
        self.pump()

    def pump(self) -> None:
        """Hand out owed entries (redeliveries first) round robin, within each window."""
        stream = self.stream
        if self.done < stream.start:
            self._behind(stream.start)
        batches: dict[Subscription, list[StreamEntry]] = {}
        now = time.monotonic()
        while self.retry:
            member = self._pick(self.avoid.pop(self.retry[0], None))
            if member is None:
                break
            offset = heapq.heappop(self.retry)
            entry = stream.entry(offset)
            if entry is None:  # gone since (retention): nothing left to owe
                self._covered([offset])
                continue
            self._assign(member, entry, now, batches)
        free = sum(max(0, m.max_in_flight - len(m._sent)) for m in self.members
                   if m.ref.is_alive)
        end = len(stream)
        if free and self.next < end:
            entries = stream.read(self.next, end, free)
            reached = entries[-1].offset + 1 if len(entries) == free else end
            holes = _holes(self.next, reached, entries)
            self.next = reached
            for entry in entries:
                member = self._pick()
                assert member is not None  # `free` counted the room there is
                self._assign(member, entry, now, batches)
            if holes:
                self._covered(holes)
        # Told only once every batch is assigned, and failures handled after every
        # tell: a member that fails hands its entries on, and that must not overtake a
        # batch not yet told to another member.
        failed = [member for member, batch in batches.items() if not member.send(batch)]
        for member in failed:
            member.cancel()
        if self._timer is None and any(
            m._sent and m.ack_timeout is not None for m in self.members
        ):
            self._arm(now)

    def _assign(
        self, member: Subscription, entry: StreamEntry, now: float,
        batches: dict[Subscription, list[StreamEntry]],
    ) -> None:
        offset = entry.offset
        self.owner[offset] = member
        member._sent[offset] = now
        member._last_sent = max(member._last_sent, offset)
        batches.setdefault(member, []).append(entry)

    def _pick(self, avoid: Subscription | None = None) -> Subscription | None:
        """The next member in turn with room (other than `avoid`, if another has)."""
        members = self.members
        count = len(members)
        fallback = None
        for step in range(count):
            index = (self.turn + step) % count
            member = members[index]
            if len(member._sent) < member.max_in_flight and member.ref.is_alive:
                if member is avoid:
                    fallback = index
                    continue
                self.turn = (index + 1) % count
                return member
        if fallback is not None:
            self.turn = (fallback + 1) % count
            return members[fallback]
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
        self._covered(covered)
        self.pump()

    def _covered(self, offsets: list[int]) -> None:
        """`offsets` need no delivery any more: move the watermark past them."""
        self.acked.update(offsets)
        done = self.done
        while done in self.acked:
            self.acked.remove(done)
            done += 1
        if done != self.done:
            self.done = done
            self.stream.offsets_changed()

    def seek(self, offset: int) -> None:
        self.owner.clear()
        self.avoid.clear()
        self.acked.clear()
        self.retry.clear()
        for member in self.members:
            member._sent.clear()
        self.next = self.done = offset
        self.stream.offsets_changed()
        self.pump()

    def _behind(self, start: int) -> None:
        log.warning(
            "stream %r: group %r was at offset %d, below the oldest entry kept (%d): "
            "retention dropped %d entries it had not committed; it goes on from %d",
            self.stream.name, self.name, self.done, start, start - self.done, start,
        )
        for offset in [o for o in self.owner if o < start]:
            del self.owner[offset]._sent[offset]
            del self.owner[offset]
        self.retry = [offset for offset in self.retry if offset >= start]
        heapq.heapify(self.retry)
        self.acked = {offset for offset in self.acked if offset >= start}
        self.done = start
        self.next = max(self.next, start)
        self.stream.offsets_changed()

    # -- ack_timeout -----------------------------------------------------------------------

    def _arm(self, now: float) -> None:
        deadlines = [
            told + member.ack_timeout
            for member in self.members if member.ack_timeout is not None
            for told in member._sent.values()
        ]
        if deadlines:
            delay = max(0.0, min(deadlines) - now)
            self._timer = self.stream.streams.call_later(delay, self._expire)

    def _expire(self) -> None:
        """Take back what members held past their `ack_timeout`, and hand it out again."""
        self._timer = None
        if self.stream.streams.closed:
            return
        now = time.monotonic()
        for member in list(self.members):
            if member.ack_timeout is None:
                continue
            late = [o for o, told in member._sent.items() if now - told >= member.ack_timeout]
            if late:
                log.info(
                    "stream %r: group %r takes back %d entries (from offset %d) that %s "
                    "neither committed nor gave back within ack_timeout=%gs",
                    self.stream.name, self.name, len(late), min(late), member.ref.address,
                    member.ack_timeout,
                )
                self.avoid.update(dict.fromkeys(late, member))
                self.hand_back(member, late)
        if self._timer is None:
            self._arm(now)


def _holes(start: int, stop: int, entries: list[StreamEntry]) -> list[int]:
    """The offsets in ``[start, stop)`` that `entries` (in order) do not hold."""
    if len(entries) == stop - start:
        return []
    present = {entry.offset for entry in entries}
    return [offset for offset in range(start, stop) if offset not in present]
