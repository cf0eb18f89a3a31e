"""Pools: several workers behind one ref, routed in the caller.

`system.spawn_pool(Worker, size=4, routing=...)` starts the workers under a pool
supervisor (a crashed worker is replaced, its ref stays valid) and returns a `PoolRef`.
Each `tell` or `ask` on it picks a worker right in the caller, so a pool costs no extra
hop through a router's mailbox; an `ask` answers from the worker that got it.

Routing: ``round_robin``; ``random``; ``broadcast`` (every worker; an ask goes to one);
``consistent_hash`` (``key=`` maps a message to a key: the same key reaches the same
worker while the pool's size is unchanged, and a resize moves about 1/n of the keys);
``smallest_mailbox`` (the worker with the fewest waiting messages, local workers only).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, get_args

from actors._actor import Actor
from actors._ref import ActorRef
from actors.routing._hashring import HashRing

__all__ = ("PoolActor", "PoolRef", "Routing")

Routing = Literal["round_robin", "random", "broadcast", "consistent_hash", "smallest_mailbox"]
ROUTINGS: tuple[str, ...] = get_args(Routing)


def check_routing(routing: str, key: Callable[[Any], Any] | None, size: int) -> None:
    if routing not in ROUTINGS:
        raise ValueError(f"pool routing must be one of {', '.join(map(repr, ROUTINGS))}; "
                         f"got {routing!r}")
    if routing == "consistent_hash" and key is None:
        raise ValueError("routing='consistent_hash' needs key=, a function from message to key")
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"a pool's size must be a positive int, got {size!r}")


class PoolActor(Actor[Any]):
    """The pool's supervisor: starts `size` workers and replaces any that fails."""

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

    def receive(self, message: Any) -> Any:
        return None

    # Restart a failed worker in place: its ref (held by the PoolRef) stays valid.
    def _on_child_failed(self, child: ActorRef[Any], error: BaseException) -> None:
        self.context._teardown_child(child, error)

    def _on_child_torn_down(self, child: ActorRef[Any]) -> None:
        self.context._recreate_child(child, None)

    def _describe(self) -> dict[str, Any]:
        return {"kind": "pool", "strategy": "one_for_one"}


class PoolRef(ActorRef[Any]):
    """One ref for a pool of workers; routing happens here, in the caller."""

    __slots__ = ("_counter", "_key", "_pool", "_ring", "_routing", "_workers")

    def __init__(
        self,
        pool: ActorRef[Any],
        workers: Sequence[ActorRef[Any]],
        routing: Routing,
        key: Callable[[Any], Any] | None = None,
    ) -> None:
        self._pool = pool
        self._workers = list(workers)
        self._routing = routing
        self._key = key
        self._counter = 0
        self._ring: HashRing[ActorRef[Any]] | None = None
        if routing == "consistent_hash":
            self._ring = HashRing()
            for worker in self._workers:
                self._ring.add(worker)

    @property
    def workers(self) -> list[ActorRef[Any]]:
        """The workers' refs, in start order (they survive restarts)."""
        return list(self._workers)

    def pick(self, message: Any) -> ActorRef[Any]:
        """The worker `message` goes to (for broadcast: the one an ask goes to)."""
        routing = self._routing
        workers = self._workers
        if routing == "round_robin" or routing == "broadcast":
            self._counter += 1
            return workers[self._counter % len(workers)]
        if routing == "random":
            return random.choice(workers)
        if routing == "consistent_hash":
            assert self._ring is not None and self._key is not None
            return self._ring.lookup(self._key(message))
        return min(workers, key=_mailbox_size)

    def tell(self, message: Any, sender: ActorRef[Any] | None = None) -> None:
        if self._routing == "broadcast":
            for worker in self._workers:
                worker.tell(message, sender)
        else:
            self.pick(message).tell(message, sender)

    def tell_many(self, messages: Iterable[Any]) -> None:
        for message in messages:
            self.tell(message)

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


def _mailbox_size(ref: ActorRef[Any]) -> int:
    size = getattr(ref, "mailbox_size", None)
    return int(size) if size is not None else 1 << 30
