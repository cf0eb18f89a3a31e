"""`Streams`: the system's streams by name (``system.streams``), their files and syncing.

Use a stream when consumers must be able to catch up on what they missed, replay
from an offset, or share work with each entry handled at least once even when a
consumer dies. For fire-and-forget fan-out to whoever listens now, `system.topics` or
an exchange is cheaper: nothing is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from actors import ActorRef
from runtime._streams.delivery import Subscription
from runtime._streams.host import StreamHost, ThreadCount
from runtime._streams.log import Log, MemoryLog, SegmentedLog
from runtime._streams.options import Fsync, OnCorruption, StreamOptions
from runtime._streams.remote import COORDINATOR, RemoteStream, StreamCoordinator, Watcher
from runtime._streams.storage import DirLock, check_stream_name, disk_codec, load_offsets
from runtime._streams.stream import Stream
from runtime._wire.codec import Codec

__all__ = ("Streams",)

log = logging.getLogger("repertory.streams")


class Streams:
    """The system's streams, by name: ``system.streams.stream("orders")``.

    With ``ActorSystem(..., data_dir=...)`` each stream is a directory of segment
    files under ``data_dir/streams/<name>/`` and the groups' committed offsets are
    saved beside them, so a system opened again on the same directory finds both.
    Without `data_dir` streams live in memory and end with the system.

    Appends reach the operating system before `append` returns, under every `fsync`
    policy; ``"always"`` syncs each before it returns, ``"interval"`` within
    `flush_interval` seconds, ``"never"`` leaves it to the OS. Offsets are saved within
    `flush_interval` and never ahead of the entries they count.
    """

    def __init__(
        self, host: StreamHost, *, fsync: Fsync = "interval", flush_interval: float = 0.05,
    ) -> None:
        self._host = host
        self.defaults = StreamOptions(fsync=fsync, flush_interval=flush_interval)
        self._streams: dict[str, Stream] = {}
        self._by_ref: dict[ActorRef[Any], list[Subscription]] = {}
        self._directory: Path | None = None
        self._lock: DirLock | None = None
        self._codec: Codec | None = None
        self._watcher: ActorRef[Any] | None = None
        self._running = False
        self._serving = False  # whether the coordinator for remote consumers runs
        self.closed = False
        #: The kernel while the system runs (see `Services.gate`), else None.
        self.gate: ThreadCount | None = None
        #: The window of `subscribe` when it is not given: uncommitted entries in flight.
        self.max_in_flight = 100

    @property
    def flush_interval(self) -> float:
        """Seconds between an append or commit and its sync, for streams opened from now."""
        return self.defaults.flush_interval

    @flush_interval.setter
    def flush_interval(self, seconds: float) -> None:
        self.defaults = self.defaults.with_changes(flush_interval=seconds)

    # -- lifetime ------------------------------------------------------------------------

    def open(self) -> None:
        """The system opens: take the `data_dir` lock (`RuntimeError` naming the process
        that holds it)."""
        data_dir = self._host.data_dir
        if data_dir is not None:
            directory = Path(data_dir) / "streams"
            directory.mkdir(parents=True, exist_ok=True)
            self._lock = DirLock(directory)
            self._directory = directory
        self._running = True

    def serve(self) -> None:
        """The system runs. (The actor that remote consumers talk to starts with the
        first stream a node opens: a node without streams shows no such actor.)"""
        self._serving = False
        self.gate = self._host.kernel

    def close(self) -> None:
        """Sync and close every stream (the system calls this on exit); idempotent.

        Raises the first `OSError` met, after closing every file anyway.
        """
        if self.closed:
            return
        self.closed = True
        self.gate = None
        failures: list[OSError] = []
        for stream in self._streams.values():
            try:
                stream.save(force=True)
            except OSError as error:
                log.error("stream %r: cannot sync to disk on close: %s", stream.name, error)
                failures.append(error)
            finally:
                stream.close()
        if self._lock is not None:
            self._lock.release()
        if failures:
            raise failures[0]

    # -- the API -------------------------------------------------------------------------

    def stream(
        self,
        name: str,
        *,
        fsync: Fsync | None = None,
        flush_interval: float | None = None,
        segment_bytes: int | None = None,
        retention_bytes: int | None = None,
        retention_age: float | None = None,
        on_corruption: OnCorruption | None = None,
    ) -> Stream:
        """The stream called `name`, created (or read back from `data_dir`) on first use.

        Names are 1-200 letters, digits, ``_``, ``.`` and ``-`` (they name files). The
        options (see docs/streams.md) default to the system's; they are taken on first
        use, and asking again with different ones raises `ValueError`. Opening a stream
        whose files are damaged raises `StreamCorruptError`, unless
        ``on_corruption="skip"``.
        """
        asked = {
            "fsync": fsync, "flush_interval": flush_interval, "segment_bytes": segment_bytes,
            "retention_bytes": retention_bytes, "retention_age": retention_age,
            "on_corruption": on_corruption,
        }
        found = self._streams.get(name)
        if found is not None:
            differences = found.options.differences(**asked)
            if differences:
                raise ValueError(
                    f"stream {name!r} is open already with other options: "
                    f"{', '.join(differences)}; give options on first use only"
                )
            return found
        check_stream_name(name)
        self.check_usable(f"stream {name!r}")
        options = self.defaults.with_changes(**asked)
        stream = self._streams[name] = self._open(name, options)
        if not self._serving and self._host.clustered:
            self._serving = True
            self._host.spawn(StreamCoordinator, self, name=COORDINATOR)
        return stream

    async def remote(self, name: str, node: str, *, timeout: float = 5.0) -> RemoteStream:
        """The stream `name` of another `node`, to subscribe to and commit on from here.

        Raises `LookupError` when `node` serves no streams: it is not reachable within
        `timeout` seconds, or it has not opened a stream yet (a node serves its streams
        to other nodes from the first ``system.streams.stream(...)`` on it).
        """
        check_stream_name(name)
        self.check_usable(f"stream {name!r} of {node}")
        coordinator = await self._host.lookup(COORDINATOR, node, timeout=timeout)
        if coordinator is None:
            raise LookupError(
                f"node {node} serves no streams (no {COORDINATOR!r} actor there): check "
                "the node's name, and open the stream there first (a node serves its "
                "streams from its first system.streams.stream(name))"
            )
        return RemoteStream(name, node, coordinator)

    def names(self) -> list[str]:
        """The streams in use, in the order they were first asked for."""
        return list(self._streams)

    def sync(self) -> None:
        """Sync every stream's appends, then its committed offsets, to disk now, and
        apply retention. Raises `OSError` if a write fails."""
        self.check_usable("streams")
        for stream in self._streams.values():
            stream.save(force=True)
            if isinstance(stream.log, SegmentedLog):
                stream.log.apply_retention()
                stream.deliver()

    # -- what streams and subscriptions call -------------------------------------------

    def _open(self, name: str, options: StreamOptions) -> Stream:
        if self._directory is None:
            return Stream(self, name, MemoryLog(), options, {}, None)
        directory = self._directory / name
        offsets_path = directory / "offsets.json"
        saved = load_offsets(offsets_path)
        if self._codec is None:
            self._codec = disk_codec(self._host)
        floor = max(saved.values(), default=0)
        entries: Log = SegmentedLog.open(name, directory, self._codec, options, floor)
        return Stream(self, name, entries, options, saved, offsets_path)

    def check_usable(self, what: str) -> None:
        host = self._host
        if self._running and not self.closed and not host.threads:
            return  # the common case, first: this runs on every append
        if not self._running:
            raise RuntimeError(
                f"{what} of system {host.name} cannot be used yet: the system is not "
                "running; use streams inside `async with ActorSystem(...)`"
            )
        if self.closed:
            raise RuntimeError(
                f"{what} of system {host.node} is closed: the system has shut down; "
                "use streams inside its `async with`"
            )
        if host.threads and host.on_foreign_thread():
            raise RuntimeError(
                f"{what} was used from a worker thread (a blocking=True handler); "
                "streams are not thread-safe: tell an ordinary actor to do it"
            )

    def call_later(self, delay: float, fn: Callable[[], object]) -> Any:
        return self._host.timers.call_later(delay, fn)

    def track(self, subscription: Subscription) -> None:
        """Remember whom `subscription` belongs to, so it ends when its actor stops."""
        ref = self._host.plain_ref(subscription.ref)
        self._by_ref.setdefault(ref, []).append(subscription)
        if not self._host.is_local(ref):
            # A local actor's subscriptions end when its cell terminates (`forget`); a
            # remote one is watched, and its Terminated (also sent when its node goes
            # down) ends them.
            if self._watcher is None or not self._watcher.is_alive:
                self._watcher = self._host.spawn(Watcher, self)
            self._watcher.tell(ref)

    def untrack(self, subscription: Subscription) -> None:
        ref = self._host.plain_ref(subscription.ref)
        subscriptions = self._by_ref.get(ref)
        if subscriptions is not None and subscription in subscriptions:
            subscriptions.remove(subscription)
            if not subscriptions:
                del self._by_ref[ref]

    def forget(self, ref: ActorRef[Any]) -> None:
        """`ref`'s actor stopped: end its subscriptions; a group hands its uncommitted
        entries to the other members."""
        if not self._by_ref or self.closed:
            return
        for subscription in list(self._by_ref.get(ref, ())):
            subscription.cancel()

    def subscription(self, stream: str, ref: ActorRef[Any], group: str | None) -> Subscription:
        """The live subscription of `ref` (to `group`) on `stream`, for the coordinator."""
        found = self._streams.get(stream)
        subscription = None if found is None else found.subscribed.get((ref, group))
        if subscription is None:
            joined = f" in group {group!r}" if group is not None else ""
            raise LookupError(
                f"{ref.address} has no subscription{joined} to stream {stream!r} on "
                f"{self._host.node}; subscribe first (or again, after its node came back)"
            )
        return subscription
