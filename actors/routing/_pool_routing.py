"""Pool routing: the `PoolRef` that picks a worker in the caller, one subclass per routing.

Use it through a `Pool` spec (`system.spawn(Pool(Worker, size=4, routing=...))`,
`system.spawn_pool(...)`, a supervisor's `Child(Pool(...))`), whose spawn returns a
`PoolRef`; the spec and the pool actor that supervises the workers live in
`actors.routing._pool`.
Each `tell` or `ask` on the ref picks a worker right in the caller, so a pool costs no
extra hop through a router's mailbox; an `ask` answers from the worker that got it.

Routings:

- ``round_robin``: each worker in turn;
- ``random``: a worker picked at random;
- ``broadcast``: a `tell` reaches every worker; an `ask` goes to one (in turn) and is
  answered once;
- ``consistent_hash``: ``key=`` maps a message to a key; the same key reaches the same
  worker while the pool's size is unchanged (a pool keeps its size; the ring under it,
  `HashRing`, moves about 1/n of the keys when it gains a member);
- ``smallest_mailbox``: the worker with the fewest waiting messages, an empty one
  first; a worker whose mailbox cannot be read (on another node) counts as busier
  than any local one. A worker busy with its last message has an empty mailbox and
  counts as idle. It reads every mailbox when none is empty: the dearest routing.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, TypeVar, get_args

from actors._ref import ActorRef
from actors.routing._hashring import HashRing
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

    __slots__ = ("_key", "_next", "_owners", "_pool", "_ring", "_routing", "_sized", "_turn",
                 "_workers")

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
        # Cycles: workers in turn (one C call per tell), and their indices for the scan
        # of smallest_mailbox.
        self._next = itertools.cycle(workers).__next__
        self._turn = itertools.cycle(range(len(workers))).__next__
        # Whether each worker's mailbox can be read (a local one), for smallest_mailbox.
        self._sized = tuple(hasattr(worker, "mailbox_size") for worker in workers)
        self._ring: HashRing[ActorRef[Any]] | None = None
        self._owners: dict[str | int, ActorRef[Any]] = {}
        if self._routing == "consistent_hash" and workers:
            self._ring = HashRing(workers)

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
    __slots__ = ()

    # 32 random bits modulo the size: a bias of size / 2**32, and twice as fast as
    # random.choice, which matters on a path as hot as tell.
    def pick(self, message: Any) -> ActorRef[Any]:
        workers = self._workers
        return workers[_random_bits(32) % len(workers)]

    def tell(self, message: Any, sender: ActorRef[Any] | None = None) -> None:
        workers = self._workers
        workers[_random_bits(32) % len(workers)].tell(message, sender)


class _ConsistentHash(PoolRef[Any]):
    __slots__ = ()

    def pick(self, message: Any) -> ActorRef[Any]:
        assert self._ring is not None and self._key is not None
        key = self._key(message)
        # The ring hashes with blake2b, which costs more than the tell: remember the
        # owners of str and int keys (the ring never changes while the pool lives).
        # By exact type, so that True and 1.0 are not taken for 1: the ring maps them
        # by their repr, apart from 1.
        kind = type(key)
        if kind is str or kind is int:
            owner = self._owners.get(key)
            if owner is None:
                if len(self._owners) >= _MAX_OWNERS:
                    self._owners.clear()
                owner = self._owners[key] = self._ring.lookup(key)
            return owner
        return self._ring.lookup(key)


class _SmallestMailbox(PoolRef[Any]):
    __slots__ = ()

    def pick(self, message: Any) -> ActorRef[Any]:
        # Start the scan at the next worker in turn, so that equally idle workers share
        # the load instead of the first one taking everything; an empty mailbox ends it.
        workers, sized = self._workers, self._sized
        count = len(workers)
        index = self._turn()
        best, best_size = workers[index], _UNKNOWN_SIZE
        for _ in range(count):
            if sized[index]:
                worker = workers[index]
                size = worker.mailbox_size  # type: ignore[attr-defined]
                if not size:
                    return worker
                if size < best_size:
                    best, best_size = worker, size
            index += 1
            if index == count:
                index = 0
        return best


_BY_ROUTING: dict[str, type[PoolRef[Any]]] = {
    "round_robin": _RoundRobin,
    "broadcast": _Broadcast,
    "random": _Random,
    "consistent_hash": _ConsistentHash,
    "smallest_mailbox": _SmallestMailbox,
}
_random_bits = random.getrandbits
# Keys whose owner a consistent_hash pool remembers before it starts over.
_MAX_OWNERS = 4096
