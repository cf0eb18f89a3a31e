"""Pools: several identical workers behind one ref, routed in the caller.

Use a pool when one actor cannot keep up and any of several identical workers may
handle a message. `system.spawn_pool(Worker, size=4, routing=...)` starts the workers
under a pool actor that supervises them and returns a `PoolRef`. Each `tell` or `ask`
on it picks a worker right in the caller, so a pool costs no extra hop through a
router's mailbox; an `ask` answers from the worker that got it.

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

Guarantees: a worker that fails is restarted in place, so its ref and the pool's stay
valid; messages that wait in its mailbox are kept for the fresh instance. A worker that
fails again and again within a second is restarted after a growing back-off (from
`BACKOFF_INITIAL` to `BACKOFF_MAX` seconds once it used up `RESTART_BURST` quick
restarts), so a crash loop does not spin the CPU. Messages that reach the pool actor
itself (its plain ref, as another node or `registry.whereis` knows it) are routed the
same way, with one extra hop.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, get_args

from actors._actor import Actor
from actors._context import Reply
from actors._ref import ActorRef
from actors.errors import ActorError, ActorStoppedError
from actors.routing._hashring import HashRing
from actors.routing._validate import invalid_choice

__all__ = ("BACKOFF_INITIAL", "BACKOFF_MAX", "RESTART_BURST", "PoolActor", "PoolRef", "Routing")

Routing = Literal["round_robin", "random", "broadcast", "consistent_hash", "smallest_mailbox"]
ROUTINGS: tuple[str, ...] = get_args(Routing)

# A worker may restart this many times in a row, each within RESTART_WINDOW seconds of
# the last, before its restarts wait: BACKOFF_INITIAL seconds, doubling per further
# quick failure up to BACKOFF_MAX. Running RESTART_WINDOW seconds resets both.
RESTART_BURST = 10
RESTART_WINDOW = 1.0
BACKOFF_INITIAL = 0.1
BACKOFF_MAX = 5.0

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


class _UseRouter:
    """From the `PoolRef` to its pool actor: route what reaches you through me."""

    __slots__ = ("router",)

    def __init__(self, router: PoolRef) -> None:
        self.router = router


class _Recreate:
    """A restart whose back-off has run out."""

    __slots__ = ("worker",)

    def __init__(self, worker: ActorRef[Any]) -> None:
        self.worker = worker


class _Restarts:
    """One worker's recent restarts, for its back-off."""

    __slots__ = ("backoff", "last", "quick")

    def __init__(self) -> None:
        self.last = -RESTART_WINDOW  # when it last restarted
        self.quick = 0  # restarts in a row that came within RESTART_WINDOW of the last
        self.backoff = BACKOFF_INITIAL


class PoolActor(Actor[Any]):
    """The pool's supervisor: starts `size` workers and restarts any that fails."""

    def __init__(
        self,
        factory: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        size: int,
        shutdown: float | None = 5.0,
    ) -> None:
        self.workers: list[ActorRef[Any]] = [
            self.context._spawn_supervised(
                factory, args, kwargs, name=None, mailbox=None, shutdown=shutdown
            )
            for _ in range(size)
        ]
        self.worker_set = set(self.workers)
        self.restarts: dict[ActorRef[Any], _Restarts] = {}
        # Until the PoolRef introduces itself (its first message), round robin.
        self.router = PoolRef(self.context.ref, self.workers, "round_robin", introduce=False)

    def receive(self, message: Any) -> Any:
        if isinstance(message, _UseRouter):
            self.router = message.router
        elif isinstance(message, _Recreate):
            self._recreate(message.worker)
        else:
            reply = self.context.reply_later()
            if reply.done:  # a tell
                self.router.tell(message, self.context.sender)
            else:
                self.context.spawn(_AskForwarder, self.router.pick(message), message, reply)
        return None

    # Restart a failed worker in place: its ref (held by the PoolRef) stays valid.
    def _on_child_failed(self, child: ActorRef[Any], error: BaseException) -> None:
        if child in self.worker_set:
            self.context._report_failure(child, error, "restart")
            self.context._teardown_child(child, error)
        else:  # an ask forwarder; they catch everything, so this is a bug: stop it
            self.context._report_failure(child, error, "stop")
            self.context._stop_child(child, error)

    def _on_child_torn_down(self, child: ActorRef[Any]) -> None:
        state = self.restarts.get(child)
        if state is None:
            state = self.restarts[child] = _Restarts()
        if time.monotonic() - state.last < RESTART_WINDOW:
            state.quick += 1
        else:
            state.quick, state.backoff = 0, BACKOFF_INITIAL
        if state.quick < RESTART_BURST:
            self._recreate(child)
            return
        delay, state.backoff = state.backoff, min(state.backoff * 2, BACKOFF_MAX)
        self.context.send_after(delay, _Recreate(child))

    def _recreate(self, child: ActorRef[Any]) -> None:
        self.restarts[child].last = time.monotonic()
        self.context._recreate_child(child, None)

    def _describe(self) -> dict[str, Any]:
        return {"kind": "pool", "strategy": "one_for_one"}


class _AskForwarder(Actor[None]):
    """Answers an ask that reached the pool actor with the answer of one worker."""

    def __init__(self, worker: ActorRef[Any], message: Any, reply: Reply) -> None:
        self.worker = worker
        self.message = message
        self.reply = reply

    async def on_start(self) -> None:
        try:
            # No deadline here: the asker has its own and abandons the answer at it.
            self.reply.send(await self.worker.ask(self.message, timeout=None))
        except ActorError as error:
            self._fail(error)  # the worker's own error, not one about this forwarder
        except Exception as error:
            self.reply.fail(error)
        except BaseException:  # cancelled: the pool is stopping
            self._fail(ActorStoppedError(self.worker.address, "(its pool stopped)"))
            raise
        finally:
            self.context.stop()

    def _fail(self, error: ActorError) -> None:
        slot = self.reply._slot
        if slot is not None and not slot.done():
            slot.set_exception(error)
        self.reply._slot = None

    def receive(self, message: None) -> None:
        return None


class PoolRef(ActorRef[Any]):
    """One ref for a pool of workers; routing happens here, in the caller.

    It compares equal to the pool actor's ref, and travels to other nodes as that ref
    (the pool actor then routes what it gets, one hop more). Refs come from
    `system.spawn_pool`; each routing is a subclass whose `tell` is one short method,
    because a pool's `tell` is as hot as a plain one.

    >>> # pool = system.spawn_pool(Resizer, size=4, routing="round_robin")
    >>> # pool.tell(image); await pool.ask(image, timeout=2.0)
    """

    __slots__ = ("_key", "_next", "_owners", "_pool", "_ring", "_routing", "_sized", "_turn",
                 "_workers")

    def __new__(
        cls,
        pool: ActorRef[Any],
        workers: Sequence[ActorRef[Any]],
        routing: Routing,
        key: Callable[[Any], Any] | None = None,
        *,
        introduce: bool = True,
    ) -> PoolRef:
        if cls is PoolRef:
            cls = _BY_ROUTING.get(routing, PoolRef)  # an unknown one fails in __init__
        return super().__new__(cls)

    def __init__(
        self,
        pool: ActorRef[Any],
        workers: Sequence[ActorRef[Any]],
        routing: Routing,
        key: Callable[[Any], Any] | None = None,
        *,
        introduce: bool = True,
    ) -> None:
        check_routing(routing, key, len(workers))
        self._pool = pool
        self._workers = tuple(workers)
        self._routing = routing
        self._key = key
        # Cycles: workers in turn (one C call per tell), and their indices for the scan
        # of smallest_mailbox.
        self._next = itertools.cycle(self._workers).__next__
        self._turn = itertools.cycle(range(len(self._workers))).__next__
        # Whether each worker's mailbox can be read (a local one), for smallest_mailbox.
        self._sized = tuple(hasattr(worker, "mailbox_size") for worker in self._workers)
        self._ring: HashRing[ActorRef[Any]] | None = None
        self._owners: dict[str | int, ActorRef[Any]] = {}
        if routing == "consistent_hash":
            self._ring = HashRing(self._workers)
        if introduce:
            pool.tell(_UseRouter(self))

    @property
    def workers(self) -> list[ActorRef[Any]]:
        """The workers' refs, in start order (they survive restarts)."""
        return list(self._workers)

    @property
    def routing(self) -> Routing:
        return self._routing

    def pick(self, message: Any) -> ActorRef[Any]:
        """The worker `message` goes to (for broadcast: the one an ask goes to)."""
        return self._next()

    def tell(self, message: Any, sender: ActorRef[Any] | None = None) -> None:
        self.pick(message).tell(message, sender)

    def tell_many(self, messages: Iterable[Any]) -> None:
        tell = self.tell
        for message in messages:
            tell(message)

    async def send(self, message: Any) -> None:
        await self.pick(message).send(message)

    async def ask(self, message: Any, timeout: float | None = 5.0) -> Any:
        return await self.pick(message).ask(message, timeout)

    @property
    def name(self) -> str | None:
        return self._pool.name

    @property
    def address(self) -> str:
        return self._pool.address

    @property
    def is_alive(self) -> bool:
        return self._pool.is_alive

    def _identity(self) -> tuple[str, int]:
        return self._pool._identity()

    def _unwrap(self) -> ActorRef[Any]:
        return self._pool._unwrap()

    def __repr__(self) -> str:
        return f"<PoolRef {self.address} {self._routing} x{len(self._workers)}>"


class _RoundRobin(PoolRef):
    __slots__ = ()

    def tell(self, message: Any, sender: ActorRef[Any] | None = None) -> None:
        self._next().tell(message, sender)  # one Python frame over a plain tell


class _Broadcast(PoolRef):
    """A tell reaches every worker; an ask (or `pick`) goes to one, in turn."""

    __slots__ = ()

    def tell(self, message: Any, sender: ActorRef[Any] | None = None) -> None:
        for worker in self._workers:
            worker.tell(message, sender)

    async def send(self, message: Any) -> None:
        for worker in self._workers:
            await worker.send(message)


class _Random(PoolRef):
    __slots__ = ()

    # 32 random bits modulo the size: a bias of size / 2**32, and twice as fast as
    # random.choice, which matters on a path as hot as tell.
    def pick(self, message: Any) -> ActorRef[Any]:
        workers = self._workers
        return workers[_random_bits(32) % len(workers)]

    def tell(self, message: Any, sender: ActorRef[Any] | None = None) -> None:
        workers = self._workers
        workers[_random_bits(32) % len(workers)].tell(message, sender)


class _ConsistentHash(PoolRef):
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


class _SmallestMailbox(PoolRef):
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


_BY_ROUTING: dict[str, type[PoolRef]] = {
    "round_robin": _RoundRobin,
    "broadcast": _Broadcast,
    "random": _Random,
    "consistent_hash": _ConsistentHash,
    "smallest_mailbox": _SmallestMailbox,
}
_random_bits = random.getrandbits
# Keys whose owner a consistent_hash pool remembers before it starts over.
_MAX_OWNERS = 4096
