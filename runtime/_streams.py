"""Streams: append-only logs with offsets, replay and consumer groups (`system.streams`).

Use a stream when consumers must be able to catch up on what they missed, replay
from an offset, or share work with each entry handled at least once even when a
consumer dies. For fire-and-forget fan-out to whoever listens now, `system.topics` or
an exchange is cheaper: nothing is kept.

The delivery engine is plain data driven by calls: `append`, `commit`, `seek`,
`subscribe` and a subscriber's death each run one delivery step for the stream,
which `tell`s every subscriber as many entries as its window allows. There is no
task per subscriber and nothing polls. The on-disk format is in `_stream_log`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actors._actor import Actor
from actors._ref import ActorRef
from actors.messages import StreamEntry, Terminated
from runtime._stream_delivery import Group, Subscription, check_offset
from runtime._stream_log import (
    DirLock,
    LogFile,
    check_stream_name,
    disk_codec,
    load_offsets,
    save_offsets,
)
from runtime._wire.codec import Codec

if TYPE_CHECKING:
    from runtime._engine.timers import TimerHandle
    from runtime._system import ActorSystem

__all__ = ("Stream", "Streams", "Subscription")

log = logging.getLogger("repertory.streams")


class Streams:
    """The system's streams, by name: ``system.streams.stream("orders")``.

    With ``ActorSystem(..., data_dir=...)`` each stream is a file under
    ``data_dir/streams/`` and the groups' committed offsets are saved beside it, so a
    system opened again on the same directory finds both. Without `data_dir` streams
    live in memory and end with the system.

    Appends reach the operating system before `append` returns; they and the
    committed offsets are synced to disk within `flush_interval` seconds and when the
    system exits. Offsets are never saved ahead of the entries they count.
    """

    def __init__(self, system: ActorSystem) -> None:
        self._system = system
        self._streams: dict[str, Stream] = {}
        self._by_ref: dict[ActorRef[Any], list[Subscription]] = {}
        self._directory: Path | None = None
        self._lock: DirLock | None = None
        self._codec: Codec | None = None
        self._unsaved: set[Stream] = set()
        self._flush_timer: TimerHandle | None = None
        self._watcher: ActorRef[Any] | None = None
        self._closed = False
        #: Seconds between an append or commit and its fsync.
        self.flush_interval = 0.05
        #: The window of `subscribe` when it is not given: uncommitted entries in flight.
        self.max_in_flight = 100

    def stream(self, name: str) -> Stream:
        """The stream called `name`, created (or read back from `data_dir`) on first use.

        Names are 1-200 letters, digits, ``_``, ``.`` and ``-`` (they name files).
        """
        stream = self._streams.get(name)
        if stream is None:
            check_stream_name(name)
            self.check_usable(f"stream {name!r}")
            stream = self._streams[name] = self._open(name)
        return stream

    def names(self) -> list[str]:
        """The streams in use, in the order they were first asked for."""
        return list(self._streams)

    def _open(self, name: str) -> Stream:
        if self._system.data_dir is None:
            return Stream(self, name, [], None, {})
        directory = self._storage()
        file, messages = LogFile.open(directory / f"{name}.log", self._disk_codec())
        try:
            saved = load_offsets(directory / f"{name}.offsets.json")
        except BaseException:
            file.close()
            raise
        return Stream(self, name, messages, file, saved)

    def _storage(self) -> Path:
        if self._directory is None:
            assert self._system.data_dir is not None
            directory = Path(self._system.data_dir) / "streams"
            directory.mkdir(parents=True, exist_ok=True)
            self._lock = DirLock(directory)
            self._directory = directory
        return self._directory

    def _disk_codec(self) -> Codec:
        if self._codec is None:
            self._codec = disk_codec(self._system)
        return self._codec

    # -- what streams and subscriptions call -------------------------------------------

    def check_usable(self, what: str) -> None:
        system = self._system
        if not hasattr(system, "timers"):  # set when the system is entered
            raise RuntimeError(
                f"{what} of system {system.name} cannot be used yet: the system is not "
                "running; use streams inside `async with ActorSystem(...)`"
            )
        if self._closed:
            raise RuntimeError(
                f"{what} of system {system.node} is closed: the system has shut down; "
                "use streams inside its `async with`"
            )
        if system.threads and system.on_foreign_thread():
            raise RuntimeError(
                f"{what} was used from a worker thread (a blocking=True handler); "
                "streams are not thread-safe: tell an ordinary actor to do it"
            )

    def track(self, subscription: Subscription) -> None:
        """Remember whom `subscription` belongs to, so it ends when its actor stops."""
        ref = subscription.ref._unwrap()
        self._by_ref.setdefault(ref, []).append(subscription)
        if self._system.local_cell(ref) is None:
            # A local actor's subscriptions end when its cell terminates (`forget`); a
            # remote one is watched, and its Terminated (also sent when its node goes
            # down) ends them.
            if self._watcher is None or not self._watcher.is_alive:
                self._watcher = self._system.spawn(_RemoteSubscriberWatcher, self)
            self._watcher.tell(ref)

    def untrack(self, subscription: Subscription) -> None:
        ref = subscription.ref._unwrap()
        subscriptions = self._by_ref.get(ref)
        if subscriptions is not None and subscription in subscriptions:
            subscriptions.remove(subscription)
            if not subscriptions:
                del self._by_ref[ref]

    def forget(self, ref: ActorRef[Any]) -> None:
        """`ref`'s actor stopped: end its subscriptions; a group hands its uncommitted
        entries to the other members."""
        if not self._by_ref or self._closed:
            return
        for subscription in list(self._by_ref.get(ref, ())):
            subscription.cancel()

    def unsaved(self, stream: Stream) -> None:
        """`stream` has appends or offsets to sync: flush within `flush_interval`."""
        if stream.file is None:
            return
        self._unsaved.add(stream)
        if self._flush_timer is None:
            self._flush_timer = self._system.timers.call_later(self.flush_interval, self._flush)

    def _flush(self) -> None:
        self._flush_timer = None
        pending, self._unsaved = self._unsaved, set()
        for stream in pending:
            try:
                stream.save()
            except OSError:
                log.exception("stream %r: cannot sync to disk; trying again in 1 s", stream.name)
                self._unsaved.add(stream)
        if self._unsaved and not self._closed:
            self._flush_timer = self._system.timers.call_later(1.0, self._flush)

    def sync(self) -> None:
        """Sync every stream's appends, then its committed offsets, to disk now.

        They are synced within `flush_interval` seconds anyway; call this where a
        program needs them on disk at a known point. Raises `OSError` if a write fails.
        """
        self.check_usable("streams")
        for stream in list(self._unsaved):
            stream.save()
            self._unsaved.discard(stream)

    def close(self) -> None:
        """Sync and close every stream (the system calls this on exit); idempotent.

        Raises the first `OSError` met, after closing every file anyway.
        """
        if self._closed:
            return
        self._closed = True
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        failures: list[OSError] = []
        for stream in self._streams.values():
            try:
                stream.save()
            except OSError as error:
                log.error("stream %r: cannot sync to disk on close: %s", stream.name, error)
                failures.append(error)
            finally:
                stream.close_file()
        if self._lock is not None:
            self._lock.release()
        if failures:
            raise failures[0]


class Stream:
    """An append-only log of messages, numbered by offset from 0.

    `append(message)` returns the new entry's offset at once; offsets are dense and
    follow append order. `subscribe(ref, ...)` has `ref` told ``StreamEntry(stream,
    offset, message)`` messages:

    - without a group, every entry from its start on, in offset order, each once
      (and again after a `seek` back);
    - with ``group="name"``, each entry goes to one live member of the group (round
      robin), and stays owed until a `commit` covers it: if its member stops or
      cancels first, it goes to another member (at-least-once).

    Each subscriber has at most `max_in_flight` delivered, uncommitted entries;
    delivery resumes as it commits, so a slow consumer is never flooded.

    >>> # orders = system.streams.stream("orders")
    >>> # orders.append({"id": 1})                      -> 0
    >>> # sub = orders.subscribe(worker, group="billing", start="earliest")
    >>> # ... worker gets StreamEntry("orders", 0, {"id": 1}); then sub.commit(0)
    """

    def __init__(
        self, streams: Streams, name: str, messages: list[Any], file: LogFile | None,
        saved: dict[str, int],
    ) -> None:
        self.name = name
        self.streams = streams
        self.file = file
        self.messages = messages
        self.solos: list[Subscription] = []
        self.groups: dict[str, Group] = {}
        self.subscribed: dict[tuple[ActorRef[Any], str | None], Subscription] = {}
        self._offsets_changed = False
        for group, position in saved.items():
            if position > len(messages):
                log.warning(
                    "stream %r: group %r was saved at offset %d but the log ends at %d "
                    "(entries lost in a machine crash); it resumes at %d",
                    name, group, position, len(messages), len(messages),
                )
                position = len(messages)
            self.groups[group] = Group(self, group, position)

    def append(self, message: Any) -> int:
        """Add `message` and return its offset; delivery to subscribers starts at once.

        With `data_dir`, the message is encoded first: one that cannot be stored
        raises `SerializationError` and gets no offset.
        """
        self.streams.check_usable(f"stream {self.name!r}")
        if self.file is not None:
            self.file.append(message)
            self.streams.unsaved(self)
        offset = len(self.messages)
        self.messages.append(message)
        self.deliver()
        return offset

    def subscribe(
        self,
        ref: ActorRef[Any],
        group: str | None = None,
        start: str | int = "latest",
        *,
        max_in_flight: int | None = None,
    ) -> Subscription:
        """Have `ref` told this stream's entries; returns the `Subscription` to commit on.

        `start` is ``"latest"`` (entries appended from now on), ``"earliest"`` (the
        whole log) or an offset. For a group, `start` counts only when the group is new:
        a group that exists (here, or saved under `data_dir`) resumes after its last
        commit. A `ref` that is not alive gets an inactive subscription.

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
        key = (ref, group)
        existing = self.subscribed.get(key)
        if existing is not None:
            existing.redeliver()
            return existing
        subscription = Subscription(self, ref, group, window)
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
        """The offset through which `group` has committed, or None if through none."""
        found = self.groups.get(group)
        if found is None:
            known = ", ".join(map(repr, self.groups)) or "none"
            raise KeyError(f"stream {self.name!r} has no group {group!r} (groups: {known})")
        return found.done - 1 if found.done > 0 else None

    def __len__(self) -> int:
        """Entries appended so far: the offset the next append gets."""
        return len(self.messages)

    def __repr__(self) -> str:
        return f"<Stream {self.name} entries={len(self.messages)}>"

    # -- the engine ----------------------------------------------------------------------

    def _start_offset(self, start: object) -> int:
        if start == "latest":
            return len(self.messages)
        if start == "earliest":
            return 0
        if isinstance(start, int) and not isinstance(start, bool):
            return check_offset(self, start, "start=")
        raise ValueError(
            f"start= takes 'latest', 'earliest' or an offset (an int from 0 to "
            f"{len(self.messages)}); got {start!r}"
        )

    def _window(self, max_in_flight: int | None) -> int:
        window = self.streams.max_in_flight if max_in_flight is None else max_in_flight
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"max_in_flight must be an int >= 1, got {max_in_flight!r}")
        return window

    def entry(self, offset: int) -> StreamEntry:
        return StreamEntry(self.name, offset, self.messages[offset])

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
        self.streams.unsaved(self)

    def save(self) -> None:
        """Sync the log, then the offsets (never offsets ahead of their entries)."""
        file = self.file
        if file is None:
            return
        file.sync()
        if self._offsets_changed:
            positions = {name: group.done for name, group in self.groups.items()}
            save_offsets(file.path.with_name(f"{self.name}.offsets.json"), positions)
            self._offsets_changed = False

    def close_file(self) -> None:
        if self.file is not None:
            self.file.close()


class _RemoteSubscriberWatcher(Actor[Any]):
    """Watches remote subscribers; ends their subscriptions when they stop."""

    def __init__(self, streams: Streams) -> None:
        self.streams = streams
        self.watched: set[ActorRef[Any]] = set()

    def receive(self, message: Any) -> None:
        if isinstance(message, Terminated):
            self.watched.discard(message.ref)
            self.streams.forget(message.ref)
        elif isinstance(message, ActorRef) and message not in self.watched:
            self.watched.add(message)
            self.context.watch(message)
