"""`Stream`: one append-only log with offsets, its subscribers and its groups.

The delivery engine is plain data driven by calls: `append`, `commit`, `seek`,
`subscribe`, a subscriber's death and an `ack_timeout` each run one delivery step,
which `tell`s every subscriber as many entries as its window allows. There is no
task per subscriber and nothing polls. The log itself is in `runtime._streams.log`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from actors import ActorRef, StreamEntry
from actors.errors import StreamCorruptError
from runtime._streams.delivery import Services, Subscription, check_offset
from runtime._streams.groups import Group
from runtime._streams.log import Log
from runtime._streams.options import StreamOptions
from runtime._streams.storage import save_offsets

__all__ = ("Stream",)

log = logging.getLogger("repertory.streams")


class Stream:
    """An append-only log of messages, numbered by offset from 0.

    `append(message)` returns the new entry's offset at once; offsets follow append
    order and are never handed out twice. `subscribe(ref, ...)` has `ref` told
    ``StreamEntry(stream, offset, message)`` messages:

    - without a group, every entry from its start on, in offset order, each once
      (and again after a `seek` back);
    - with ``group="name"``, each entry goes to one live member of the group (round
      robin), and stays owed until a `commit` covers it: if its member stops, cancels,
      or (with `ack_timeout`) sits on it too long, it goes to a member again.

    Each subscriber has at most `max_in_flight` delivered, uncommitted entries;
    delivery resumes as it commits, so a slow consumer is never flooded.

    >>> # orders = system.streams.stream("orders")
    >>> # orders.append({"id": 1})                      -> 0
    >>> # sub = orders.subscribe(worker, group="billing", start="earliest")
    >>> # ... worker gets StreamEntry("orders", 0, {"id": 1}); then sub.commit(0)
    """

    def __init__(
        self, streams: Services, name: str, entries: Log, options: StreamOptions,
        saved: dict[str, int], offsets_path: Path | None,
    ) -> None:
        self.name = name
        self.streams = streams
        self.log = entries
        self.options = options
        self.offsets_path = offsets_path
        self.solos: list[Subscription] = []
        self.groups: dict[str, Group] = {}
        self.subscribed: dict[tuple[ActorRef[Any], str | None], Subscription] = {}
        self._offsets_changed = False
        self._timer: Any = None
        self.interval = options.fsync == "interval" and offsets_path is not None
        for group, position in saved.items():
            self.groups[group] = Group(self, group, position)

    # -- the API -------------------------------------------------------------------------

    def append(self, message: Any) -> int:
        """Add `message` and return its offset; delivery to subscribers starts at once.

        With `data_dir`, the message is encoded and written to the operating system
        before this returns (and synced first, under ``fsync="always"``): a `kill -9`
        right after cannot take it. One that cannot be stored raises
        `SerializationError` and gets no offset.
        """
        gate = self.streams.gate
        if gate is None or gate.threads:
            self.streams.check_usable(f"stream {self.name!r}")
        offset = self.log.append(message)
        if self.interval and self._timer is None:
            self._dirty()
        if self.solos or self.groups:
            self.deliver()
        return offset

    def subscribe(
        self,
        ref: ActorRef[Any],
        group: str | None = None,
        start: str | int = "latest",
        *,
        max_in_flight: int | None = None,
        ack_timeout: float | None = None,
    ) -> Subscription:
        """Have `ref` told this stream's entries; returns the `Subscription` to commit on.

        `start` is ``"latest"`` (entries appended from now on), ``"earliest"`` (the
        oldest entry kept) or an offset. For a group, `start` counts only when the group
        is new: a group that exists (here, or saved under `data_dir`) resumes after its
        last commit. A `ref` that is not alive gets an inactive subscription.

        With `ack_timeout` (seconds), an entry told to `ref` and neither committed nor
        given back within it is told again (for a member: to the next member in turn).

        Subscribing `ref` again (the same group, or again without one) returns its
        subscription and redelivers what it was told and has not committed. So an
        actor that subscribes in `on_start` gets back, after a crash and restart,
        the entry its crash interrupted (entries still in its mailbox come twice).
        """
        self.streams.check_usable(f"stream {self.name!r}")
        if not isinstance(ref, ActorRef):
            raise TypeError(f"subscribe takes an ActorRef, got {type(ref).__qualname__}")
        if group is not None and (not isinstance(group, str) or not group):
            raise ValueError(f"group= takes a non-empty str or None, got {group!r}")
        position = self._start_offset(start)
        window = self._window(max_in_flight)
        if ack_timeout is not None and (
            isinstance(ack_timeout, bool) or not isinstance(ack_timeout, (int, float))
            or ack_timeout <= 0
        ):
            raise ValueError(f"ack_timeout= takes seconds > 0 or None, got {ack_timeout!r}")
        key = (ref, group)
        existing = self.subscribed.get(key)
        if existing is not None:
            existing.redeliver()
            return existing
        subscription = Subscription(self, ref, group, window, ack_timeout)
        if not ref.is_alive:
            return subscription
        self.subscribed[key] = subscription
        self.streams.track(subscription)
        if group is None:
            subscription.start_at(position)
            self.solos.append(subscription)
            subscription.pump()
        else:
            shared = self.groups.get(group)
            if shared is None:
                shared = self.groups[group] = Group(self, group, position)
                self.offsets_changed()
            shared.join(subscription)
        return subscription

    def committed(self, group: str) -> int | None:
        """The offset through which `group` has committed; None if through none, or if
        there is no such group (yet)."""
        found = self.groups.get(group)
        if found is None:
            return None
        return found.done - 1 if found.done > 0 else None

    @property
    def start(self) -> int:
        """The oldest offset kept (above 0 once retention has dropped segments)."""
        return self.log.start

    @property
    def damaged(self) -> list[StreamCorruptError]:
        """The damage skipped (with ``on_corruption="skip"``), each as the error it
        would have raised: file, byte position, offsets. Empty when there is none."""
        return list(self.log.damaged)

    def __len__(self) -> int:
        """The offset the next append gets (the count of entries ever appended)."""
        return self.log.end

    def __repr__(self) -> str:
        return f"<Stream {self.name} entries={self.start}..{self.log.end}>"

    # -- the engine ----------------------------------------------------------------------

    def _start_offset(self, start: object) -> int:
        if start == "latest":
            return self.log.end
        if start == "earliest":
            return self.log.start
        if isinstance(start, int) and not isinstance(start, bool):
            return check_offset(self, start, "start=")
        raise ValueError(
            f"start= takes 'latest', 'earliest' or an offset (an int from {self.start} to "
            f"{self.log.end}); got {start!r}"
        )

    def _window(self, max_in_flight: int | None) -> int:
        window = self.streams.max_in_flight if max_in_flight is None else max_in_flight
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"max_in_flight must be an int >= 1, got {max_in_flight!r}")
        return window

    def read(self, start: int, stop: int, limit: int) -> list[StreamEntry]:
        """Up to `limit` entries from `start` (before `stop`); missing offsets left out."""
        name = self.name
        return [StreamEntry(name, offset, message)
                for offset, message in self.log.read(start, stop, limit)]

    def entry(self, offset: int) -> StreamEntry | None:
        found = self.log.read(offset, offset + 1, 1)
        return StreamEntry(self.name, offset, found[0][1]) if found else None

    def deliver(self) -> None:
        """One delivery step: tell every subscriber what its window allows."""
        for solo in list(self.solos):
            solo.pump()
        for group in list(self.groups.values()):
            if group.members:
                group.pump()

    def ended(self, subscription: Subscription) -> None:
        self.subscribed.pop((subscription.ref, subscription.group), None)
        if subscription in self.solos:
            self.solos.remove(subscription)
        self.streams.untrack(subscription)

    def offsets_changed(self) -> None:
        self._offsets_changed = True
        self._dirty()

    # -- syncing -------------------------------------------------------------------------

    def _dirty(self) -> None:
        """Something is to sync: do it within `flush_interval`."""
        if self.offsets_path is None or self._timer is not None or self.streams.closed:
            return
        self._timer = self.streams.call_later(self.options.flush_interval, self._flush)

    def _flush(self) -> None:
        self._timer = None
        try:
            self.save()
        except OSError:
            log.exception("stream %r: cannot sync to disk; trying again in 1 s", self.name)
            if not self.streams.closed:
                self._timer = self.streams.call_later(1.0, self._flush)

    def save(self, *, force: bool = False) -> None:
        """Sync the log (unless ``fsync="never"``), then save the offsets: never offsets
        ahead of the entries they count. `force` syncs whatever the policy."""
        if self.offsets_path is None:
            return
        syncing = force or self.options.fsync != "never"
        if syncing:
            self.log.sync()
        if self._offsets_changed:
            positions = {name: group.done for name, group in self.groups.items()}
            save_offsets(self.offsets_path, positions, sync=syncing)
            self._offsets_changed = False

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.log.close()
