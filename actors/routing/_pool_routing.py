"""Pool routing: the `PoolRef` that picks a worker in the caller, one subclass per routing.

Use it through a `Pool` spec (`system.spawn(Pool(Worker, size=4, routing=...))`,
`system.spawn_pool(...)`, a supervisor's `Child(Pool(...))`), whose spawn returns a
`PoolRef`; the spec and the pool actor that supervises the workers live in
`actors.routing._pool`.
Each `tell` or `ask` on the ref picks a worker right in the caller, so a pool costs no
extra hop through a router's mailbox; an `ask` answers from the worker that got it.

Routings:

- ``round_robin``: each worker in turn;
- ``random``: a worker picked at random, uniformly and independently per message;
- ``broadcast``: a `tell` reaches every worker; an `ask` goes to one (in turn) and is
  answered once;
- ``consistent_hash``: ``key=`` maps a message to a key; the same key reaches the same
  worker while the pool's size is unchanged (a pool keeps its size; the ring under it,
  `HashRing`, moves about 1/n of the keys when it gains a member);
- ``smallest_mailbox``: the worker with the fewest waiting messages, an empty one
  first, by a running count per worker that the chosen worker's mailbox confirms on
  every message (all are read when it is not empty, except within a burst of tells,
  where nothing drains: see `_SmallestMailbox`); a worker whose mailbox cannot be read
  (on another node) counts as busier than any local one. A worker busy with its last
  message has an empty mailbox and counts as idle.
"""

from __future__ import annotations

import itertools
import random
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, TypeVar, get_args
from zlib import crc32

from actors._ref import ActorRef
from actors.routing._hashring import BUCKET_BITS, HashRing, key_position
from actors.routing._validate import invalid_choice

__all__ = ("ROUTINGS", "PoolRef", "Routing", "check_routing")

Routing = Literal["round_robin", "random", "broadcast", "consistent_hash", "smallest_mailbox"]
ROUTINGS: tuple[str, ...] = get_args(Routing)

M = TypeVar("M", contravariant=True)

_UNKNOWN_SIZE = 1 << 62  # the mailbox size of a worker whose mailbox cannot be read


def check_routing(routing: str, key: Callable[[Any], Any] | None, size: int) -> None:
    """Reject a bad pool configuration before anything starts, listing the choices."""
    if routing not in ROUTINGS:
        raise invalid_choice("pool routing", routing, ROUTINGS)
    if routing == "consistent_hash" and key is None:
        raise ValueError(
            "routing='consistent_hash' needs key=, a function from a message to its key "
            "(e.g. key=lambda order: order.cart_id)"
        )
    if key is not None and routing != "consistent_hash":
        raise ValueError(f"key= is only used by routing='consistent_hash'; got {routing!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"a pool's size must be a positive int (1, 2, ...); got {size!r}")


class PoolRef(ActorRef[M]):
    """One ref for a pool of workers; routing happens here, in the caller.

    It compares equal to the pool actor's ref, and travels to other nodes as that ref
    (the pool actor then routes what it gets, one hop more). Refs come from spawning a
    `Pool` (`system.spawn_pool`, `spawn(Pool(...))`, a supervisor's `Child(Pool(...))`);
    a named pool's name resolves to this ref. When its pool restarts, the ref routes to
    the fresh workers. Each routing is a subclass whose `tell` is one short method,
    because a pool's `tell` is as hot as a plain one.

    >>> # pool = system.spawn_pool(Resizer, size=4, routing="round_robin")
    >>> # pool.tell(image); await pool.ask(image, timeout=2.0)
    """

    __slots__ = ("_key", "_next", "_pool", "_routing", "_workers")

    def __new__(
        cls, routing: Routing, key: Callable[[Any], Any] | None = None, size: int = 1
    ) -> PoolRef[M]:
        if cls is PoolRef:
            cls = _BY_ROUTING.get(routing, PoolRef)  # an unknown one fails in __init__
        return super().__new__(cls)

    def __init__(
        self, routing: Routing, key: Callable[[Any], Any] | None = None, size: int = 1
    ) -> None:
        check_routing(routing, key, size)
        self._routing = routing
        self._key = key
        self._pool: ActorRef[Any] | None = None
        self._route_to(())

    def _bind(self, pool: ActorRef[Any], workers: Sequence[ActorRef[Any]]) -> None:
        """Route to `workers` of the pool actor `pool` (again after the pool restarted)."""
        self._pool = pool
        self._route_to(tuple(workers))

    def _route_to(self, workers: tuple[ActorRef[Any], ...]) -> None:
        self._workers = workers
        # Workers in turn, one C call per tell (round_robin; broadcast's asks).
        self._next = itertools.cycle(workers).__next__
        self._prepare()

    def _prepare(self) -> None:
        """Set up what this routing keeps for `self._workers` (a subclass's own slots);
        called again when the pool restarts with fresh workers."""

    @property
    def _actor(self) -> ActorRef[Any]:
        pool = self._pool
        if pool is None:
            raise RuntimeError("this PoolRef's pool has not been spawned")
        return pool

    @property
    def workers(self) -> list[ActorRef[Any]]:
        """The workers' refs, in start order (they survive the workers' restarts)."""
        return list(self._workers)

    @property
    def routing(self) -> Routing:
        return self._routing

    def pick(self, message: Any) -> ActorRef[Any]:
        """The worker `message` goes to (for broadcast: the one an ask goes to)."""
        return self._next()

    def tell(self, message: M, sender: ActorRef[Any] | None = None) -> None:
        self.pick(message).tell(message, sender)

    def tell_many(self, messages: Iterable[M]) -> None:
        tell = self.tell
        for message in messages:
            tell(message)

    async def send(self, message: M) -> None:
        await self.pick(message).send(message)

    async def ask(self, message: M, timeout: float | None = 5.0) -> Any:
        return await self.pick(message).ask(message, timeout)

    @property
    def name(self) -> str | None:
        return self._actor.name

    @property
    def address(self) -> str:
        return self._actor.address

    @property
    def is_alive(self) -> bool:
        return self._actor.is_alive

    def _identity(self) -> tuple[str, int]:
        return self._actor._identity()

    def _unwrap(self) -> ActorRef[Any]:
        return self._actor._unwrap()

    def __repr__(self) -> str:
        return f"<PoolRef {self.address} {self._routing} x{len(self._workers)}>"


class _RoundRobin(PoolRef[Any]):
    __slots__ = ()

    def tell(self, message: Any, sender: ActorRef[Any] | None = None) -> None:
        self._next().tell(message, sender)  # one Python frame over a plain tell


class _Broadcast(PoolRef[Any]):
    """A tell reaches every worker; an ask (or `pick`) goes to one, in turn."""

    __slots__ = ()

    def tell(self, message: Any, sender: ActorRef[Any] | None = None) -> None:
        for worker in self._workers:
            worker.tell(message, sender)

    async def send(self, message: Any) -> None:
        for worker in self._workers:
            await worker.send(message)


class _Random(PoolRef[Any]):
    """Each message to a worker drawn at random, uniformly, independently of the others."""

    __slots__ = ("_draw",)

    def _prepare(self) -> None:
        # Not bound to workers yet: fail as round_robin does (StopIteration).
        self._draw = _random_workers(self._workers) if self._workers else self._next

    def pick(self, message: Any) -> ActorRef[Any]:
        return self._draw()

    def tell(self, message: Any, sender: ActorRef[Any] | None = None) -> None:
        self._draw().tell(message, sender)  # one C call to pick, as round_robin


def _random_workers(workers: tuple[ActorRef[Any], ...]) -> Callable[[], ActorRef[Any]]:
    """A function returning a worker drawn at random on each call, at the cost of one
    C call: it steps through batches of random bytes, each byte mapped to a worker
    by `bytes.translate` (bytes past the largest multiple of the pool's size are
    dropped, so every worker is equally likely), drawn from `random` as needed."""
    count = len(workers)
    if count > 256:  # one byte cannot name each worker: draw bits instead
        bits = random.getrandbits
        return lambda: workers[bits(32) % count]  # a bias of count / 2**32
    usable = 256 - 256 % count
    table = bytes(b % count for b in range(256))
    drop = bytes(range(usable, 256))

    def batch(_: object) -> list[ActorRef[Any]]:
        drawn = random.randbytes(_DRAW_BATCH).translate(table, drop)
        return list(map(workers.__getitem__, drawn))

    return itertools.chain.from_iterable(map(batch, itertools.repeat(None))).__next__


class _ConsistentHash(PoolRef[Any]):
    """A message goes to the ring's owner of its key: a CRC-32 and one table lookup per
    message, whatever the number of distinct keys (the ring never changes while the
    pool lives, so its tables are made once). The table (`HashRing.buckets`) names
    the owner of each of 16,384 arcs of the ring; a key in one of the few arcs that
    hold a member's point takes the binary search instead."""

    __slots__ = ("_arc_owners", "_arcs", "_owners", "_points")

    def _prepare(self) -> None:
        self._points: list[int] = []
        self._owners: list[ActorRef[Any]] = []
        # Not bound yet (or more workers than the table names): the binary search.
        self._arcs = _NO_ARCS
        self._arc_owners: tuple[ActorRef[Any] | None, ...] = (None,)
        if self._workers:
            ring = HashRing(self._workers)
            self._points, self._owners = ring.table()
            if len(self._workers) <= 255:
                self._arcs, self._arc_owners = ring.buckets()

    def pick(self, message: Any) -> ActorRef[Any]:
        assert self._key is not None
        position = key_position(self._key(message))
        owner = self._arc_owners[self._arcs[position >> _ARC_SHIFT]]
        if owner is None:
            owner = self._owners[bisect_left(self._points, position)]
        return owner

    def tell(self, message: Any, sender: ActorRef[Any] | None = None) -> None:
        # `pick`, inlined with `key_position`'s str case: a pool's tell is as hot as
        # a plain one.
        key = self._key(message)  # type: ignore[misc]
        position = crc32(key.encode()) if type(key) is str else key_position(key)
        owner = self._arc_owners[self._arcs[position >> _ARC_SHIFT]]
        if owner is None:
            owner = self._owners[bisect_left(self._points, position)]
        owner.tell(message, sender)


class _SmallestMailbox(PoolRef[Any]):
    """The worker with the fewest waiting messages, by a running count checked on use.

    The pool keeps a count per worker: what it last read from the mailbox plus what it
    sent since. Each message reads the mailbox of the worker with the smallest count
    (the first such): if it is empty, or holds just what the count says while the
    last full read is trusted, the message goes there; otherwise the pool reads every
    mailbox and takes the smallest. A full read that finds no mailbox drained since the
    one before (no worker ran: a burst of tells) is trusted for `_TRUST_ROUNDS` rounds
    of messages; one that finds a drained mailbox is not, so under asks and light load
    every pick that finds no empty mailbox reads them all. A worker whose mailbox
    cannot be read (on another node) counts as busier than any local one.
    """

    __slots__ = ("_counts", "_readable", "_trusted")

    def _prepare(self) -> None:
        self._readable = tuple(hasattr(worker, "mailbox_size") for worker in self._workers)
        self._counts = [0 if readable else _UNKNOWN_SIZE for readable in self._readable]
        self._trusted = 0  # picks left that may trust the counts

    def pick(self, message: Any) -> ActorRef[Any]:
        counts = self._counts
        index = counts.index(min(counts))
        if self._readable[index]:
            size = self._workers[index].mailbox_size  # type: ignore[attr-defined]
            if size != counts[index] or (size and self._trusted <= 0):
                index = self._reread()
            elif size:
                self._trusted -= 1
        counts[index] += 1
        return self._workers[index]

    def tell(self, message: Any, sender: ActorRef[Any] | None = None) -> None:
        # `pick`, inlined: a pool's tell is as hot as a plain one. `_reread` keeps
        # the rule for when the counts are trusted.
        counts = self._counts
        index = counts.index(min(counts))
        workers = self._workers
        if self._readable[index]:
            size = workers[index].mailbox_size  # type: ignore[attr-defined]
            if size != counts[index] or (size and self._trusted <= 0):
                index = self._reread()
            elif size:
                self._trusted -= 1
        counts[index] += 1
        workers[index].tell(message, sender)

    def _reread(self) -> int:
        """Read every mailbox into the counts (in place: callers hold the list); the
        index of the smallest."""
        counts = self._counts
        fresh = [worker.mailbox_size if readable else count  # type: ignore[attr-defined]
                 for worker, readable, count in zip(self._workers, self._readable, counts,
                                                    strict=True)]
        drained = any(now < before for now, before in zip(fresh, counts, strict=True))
        self._trusted = 0 if drained else _TRUST_ROUNDS * len(fresh)
        counts[:] = fresh
        return fresh.index(min(fresh))


_BY_ROUTING: dict[str, type[PoolRef[Any]]] = {
    "round_robin": _RoundRobin,
    "broadcast": _Broadcast,
    "random": _Random,
    "consistent_hash": _ConsistentHash,
    "smallest_mailbox": _SmallestMailbox,
}
_ARC_SHIFT = 32 - BUCKET_BITS  # a ring position's arc in `HashRing.buckets`' table
_NO_ARCS = bytes(1 << BUCKET_BITS)  # every arc to the binary search
# Random bytes a random pool draws at a time (each picks a worker, or is dropped).
_DRAW_BATCH = 4096
# Rounds of messages (a message per worker) for which smallest_mailbox trusts its counts
# after a full read that found nothing drained.
_TRUST_ROUNDS = 4
