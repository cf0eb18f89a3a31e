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
  first, by a running count per worker: while workers drain, each message reads the
  mailbox it would go to (all of them when that one is not empty); in a burst of
  tells, in which nothing drains, rounds of 8 messages per worker are placed by the
  counts alone between full reads (see `_SmallestMailbox`). A worker whose mailbox
  cannot be read (on another node) counts as busier than any local one; a worker busy
  with its last message has an empty mailbox and counts as idle.
"""

from __future__ import annotations

import itertools
import operator
import random
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, TypeVar, get_args
from zlib import crc32

from actors._ref import ActorRef, tell_picked
from actors.routing._hashring import BUCKET_BITS, HashRing, key_position
from actors.routing._validate import invalid_choice

__all__ = ("ROUTINGS", "PoolRef", "Routing", "check_routing")

Routing = Literal["round_robin", "random", "broadcast", "consistent_hash", "smallest_mailbox"]
ROUTINGS: tuple[str, ...] = get_args(Routing)

M = TypeVar("M", contravariant=True)
T = TypeVar("T")

_UNKNOWN_SIZE = 1 << 62  # the mailbox size of a worker whose mailbox cannot be read
_Tell = Callable[[Any, "ActorRef[Any] | None"], None]  # a worker's bound `tell`


def _worker_of(tell: _Tell) -> ActorRef[Any]:
    """The worker whose bound `tell` a routing picked."""
    worker: ActorRef[Any] = tell.__self__  # type: ignore[attr-defined]
    return worker


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
    the fresh workers. Each routing is a subclass, because a pool's `tell` is as hot
    as a plain one: where the pick does not look at the message (round_robin, random,
    smallest_mailbox), `tell` is not a method but a slot holding the function
    `actors.lowlevel.tell_picked` made for its pick, which for local workers costs one
    Python frame, as a plain tell does; elsewhere it is one short method.

    >>> # pool = system.spawn_pool(Resizer, size=4, routing="round_robin")
    >>> # pool.tell(image); await pool.ask(image, timeout=2.0)
    """

    __slots__ = ("_key", "_next", "_pool", "_routing", "_tells", "_workers")

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
        # The workers' bound tells, for routings that call them by a pick of their own
        # (broadcast, consistent_hash): looking `tell` up on the worker per message
        # costs about a third of a plain tell.
        self._tells: tuple[_Tell, ...] = tuple(worker.tell for worker in workers)
        # Workers in turn, one C call per tell (round_robin; broadcast's asks).
        self._next = itertools.cycle(workers).__next__
        self._prepare()

    def _tell_through(self, pick: Callable[[], ActorRef[Any]]) -> None:
        """Make `tell` the function that tells the worker `pick()` returns (a C call:
        an iterator's `__next__`): `lowlevel.tell_picked`, stored in the subclass's
        `tell` slot so that ``pool.tell(m)`` calls it without a frame of ours."""
        self.tell = tell_picked(self._workers, pick)  # type: ignore[method-assign,assignment]

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
    __slots__ = ("tell",)  # see `_tell_through`

    def _prepare(self) -> None:
        self._tell_through(self._next)


class _Broadcast(PoolRef[Any]):
    """A tell reaches every worker; an ask (or `pick`) goes to one, in turn."""

    __slots__ = ()

    def tell(self, message: Any, sender: ActorRef[Any] | None = None) -> None:
        for tell in self._tells:
            tell(message, sender)

    async def send(self, message: Any) -> None:
        for worker in self._workers:
            await worker.send(message)


class _Random(PoolRef[Any]):
    """Each message to a worker drawn at random, uniformly, independently of the others."""

    __slots__ = ("_draw", "tell")  # `tell`: see `_tell_through`

    def _prepare(self) -> None:
        # Not bound to workers yet: fail as round_robin does (StopIteration).
        self._draw = _random_workers(self._workers) if self._workers else self._next
        self._tell_through(self._draw)  # one C call to pick, as round_robin

    def pick(self, message: Any) -> ActorRef[Any]:
        return self._draw()


def _random_workers(workers: tuple[T, ...]) -> Callable[[], T]:
    """A function returning one of `workers` drawn at random on each call, at the cost
    of one
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

    def batch(_: object) -> Sequence[T]:
        drawn = random.randbytes(_DRAW_BATCH).translate(table, drop)
        if len(drawn) < 2:  # itemgetter of one index gives the item, not a tuple
            return [workers[index] for index in drawn]
        # One C loop over the indices: a third of the cost of map(workers.__getitem__)
        # per message (65 vs 165 ns on a loaded machine), which calls a slot per byte.
        picked: tuple[T, ...] = operator.itemgetter(*drawn)(workers)
        return picked

    return itertools.chain.from_iterable(map(batch, itertools.repeat(None))).__next__


class _ConsistentHash(PoolRef[Any]):
    """A message goes to the ring's owner of its key: a CRC-32 and one table lookup per
    message, whatever the number of distinct keys (the ring never changes while the
    pool lives, so its tables are made once). The table (`HashRing.buckets`) names
    the owner of each of 16,384 arcs of the ring in a byte (16 KB, which stays in
    cache where a tuple of the owners' tells per arc, 128 KB, measured slower); a key
    in one of the few arcs that hold a member's point takes the binary search instead."""

    __slots__ = ("_arc_tells", "_arcs", "_point_tells", "_points")

    def _prepare(self) -> None:
        # Not bound yet (or more workers than the table names): the binary search.
        self._points: list[int] = []
        self._point_tells: list[_Tell] = []
        self._arcs = _NO_ARCS
        self._arc_tells: tuple[_Tell | None, ...] = (None,)
        if self._workers:
            ring = HashRing(self._workers)
            tell_of = dict(zip(self._workers, self._tells, strict=True))
            self._points, owners = ring.table()
            self._point_tells = [tell_of[owner] for owner in owners]
            if len(self._workers) <= 255:
                self._arcs, members = ring.buckets()
                self._arc_tells = tuple(None if member is None else tell_of[member]
                                        for member in members)

    def pick(self, message: Any) -> ActorRef[Any]:
        assert self._key is not None
        position = key_position(self._key(message))
        tell = self._arc_tells[self._arcs[position >> _ARC_SHIFT]]
        if tell is None:
            tell = self._point_tells[bisect_left(self._points, position)]
        return _worker_of(tell)

    def tell(self, message: Any, sender: ActorRef[Any] | None = None) -> None:
        # `pick`, inlined with `key_position`'s str case: a pool's tell is as hot as
        # a plain one. The key function is read into a local first (see
        # `_RoundRobin.tell`).
        key_of = self._key
        key = key_of(message)  # type: ignore[misc]
        position = crc32(key.encode()) if type(key) is str else key_position(key)
        tell = self._arc_tells[self._arcs[position >> _ARC_SHIFT]]
        if tell is None:
            tell = self._point_tells[bisect_left(self._points, position)]
        tell(message, sender)


class _SmallestMailbox(PoolRef[Any]):
    """The worker with the fewest waiting messages (ties: the first in order), by a
    running count per worker: what the pool last read from its mailbox plus what it
    sent there since. A worker whose mailbox cannot be read (on another node) counts
    as busier than any local one.

    Two modes, chosen by the last full read of every mailbox:

    - draining (some mailbox shrank since the read before, as under asks and light
      load; also the mode a pool starts in): each message reads the mailbox of the
      worker with the smallest count and goes there if it is empty; otherwise every
      mailbox is read and the smallest takes it. Exact at the moment of the message.
    - burst (nothing shrank: no worker ran between the tells): the pool places a
      round of `_ROUND_PER_WORKER` messages per worker by the counts alone, filling
      the emptiest first exactly as one message at a time would, and reads every
      mailbox again when the round is used up. So at most one round is placed by
      counts older than the caller's last pause, and a message costs one C call, as
      with round_robin, instead of a mailbox read (a property: a Python frame).

    The rounds come from `_round`, chained so that `_step()` is that one C call.
    """

    __slots__ = ("_counts", "_draining", "_local", "_readable", "_step", "tell")

    def _prepare(self) -> None:
        self._readable = tuple(hasattr(worker, "mailbox_size") for worker in self._workers)
        self._local = all(self._readable)
        self._counts = [0 if readable else _UNKNOWN_SIZE for readable in self._readable]
        self._draining = True  # until a full read finds a burst
        # Not bound to workers yet: fail as round_robin does (StopIteration).
        rounds = map(self._round, itertools.repeat(None))
        self._step: Callable[[], ActorRef[Any]] = (
            itertools.chain.from_iterable(rounds).__next__ if self._workers else self._next
        )
        self._tell_through(self._step)  # `tell`: see `_tell_through`

    def pick(self, message: Any) -> ActorRef[Any]:
        return self._step()

    def _round(self, _: object) -> Sequence[ActorRef[Any]]:
        """The workers the next messages go to, in order: one when draining, else a
        round planned from a fresh read of every mailbox."""
        counts, workers = self._counts, self._workers
        if self._draining:
            index = counts.index(min(counts))
            if self._readable[index] and not workers[index].mailbox_size:  # type: ignore[attr-defined]
                # Empty: none has fewer. Counted as sent, so that idle workers share.
                counts[index] += 1
                return (workers[index],)
        if self._local:
            fresh = list(map(_mailbox_size, workers))
        else:
            fresh = [worker.mailbox_size if readable else count  # type: ignore[attr-defined]
                     for worker, readable, count in zip(workers, self._readable, counts,
                                                        strict=True)]
        # A mailbox shrank: workers ran since the last read. (Compared whole first:
        # in a burst the lists are equal, and that test is one C call.)
        self._draining = fresh != counts and any(map(operator.lt, fresh, counts))
        self._counts = fresh
        if self._draining:
            index = fresh.index(min(fresh))
            fresh[index] += 1
            return (workers[index],)
        return self._plan()

    def _plan(self) -> Sequence[ActorRef[Any]]:
        """The next round: where tells go if nothing drains meanwhile, emptiest first
        (ties: the first), counted into `_counts`. It brings every count up to the
        highest and then `_ROUND_PER_WORKER` above it, so that the next round starts
        level and is the plain turn of the workers, unless that is more than two
        rounds' worth (a worker far behind): then just one round's worth."""
        counts, workers = self._counts, self._workers
        if counts.count(counts[0]) == len(counts):  # the steady state of a burst
            self._counts = [counts[0] + _ROUND_PER_WORKER] * len(workers)
            return workers * _ROUND_PER_WORKER  # each in turn
        low, high = min(counts), max(counts)
        messages = _ROUND_PER_WORKER * len(workers)
        behind = high * len(counts) - sum(counts)
        if behind <= messages:
            messages += behind
        # Level by level: the workers at the lowest count, in order, get one each, as
        # one message at a time to the first smallest would.
        picks: list[ActorRef[Any]] = []
        level = low
        while True:
            for index, count in enumerate(counts):
                if count == level:
                    counts[index] = level + 1
                    picks.append(workers[index])
                    if len(picks) == messages:
                        return picks
            level += 1


_BY_ROUTING: dict[str, type[PoolRef[Any]]] = {
    "round_robin": _RoundRobin,
    "broadcast": _Broadcast,
    "random": _Random,
    "consistent_hash": _ConsistentHash,
    "smallest_mailbox": _SmallestMailbox,
}
_ARC_SHIFT = 32 - BUCKET_BITS  # a ring position's arc in `HashRing.buckets`' table
_NO_ARCS = bytes(1 << BUCKET_BITS)  # every arc to the binary search
_mailbox_size = operator.attrgetter("mailbox_size")
# Random bytes a random pool draws at a time (each picks a worker, or is dropped).
_DRAW_BATCH = 4096
# Messages per worker that smallest_mailbox places by its counts alone during a burst,
# between two reads of every mailbox: it bounds what a pause of the caller's goes
# unnoticed for. A round's reads and plan cost about 20 C calls; with 8 per worker
# that is under one per message (measured: 4 left the pool tell 1.6x round_robin's
# cost, 8 1.4x and 16 1.2x on a loaded 2-core machine).
_ROUND_PER_WORKER = 8
