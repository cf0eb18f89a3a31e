"""Pools: several identical workers behind one ref, routed in the caller.

Use a pool when one actor cannot keep up and any of several identical workers may
handle a message. A `Pool(Worker, *args, size=4, routing=...)` is a spec, like a
supervisor's: `system.spawn(pool, name=...)` (or `system.spawn_pool(Worker, ...)`,
`context.spawn_pool(...)`, or a supervisor's `Child(Pool(...), name=...)`) starts the
workers under a pool actor (here) that supervises them and returns a `PoolRef`, which
routes each message in the caller (`actors.routing._pool_routing` lists the routings).

Guarantees: a worker that fails is restarted in place, so its ref and the pool's stay
valid; messages that wait in its mailbox are kept for the fresh instance. A worker that
fails again and again within a second is restarted after a growing back-off (from
`BACKOFF_INITIAL` to `BACKOFF_MAX` seconds once it used up `RESTART_BURST` quick
restarts), so a crash loop does not spin the CPU. A named pool registers its name for
the `PoolRef` (`whereis` and `lookup` return it) and names its workers ``name-1`` ..
``name-N``. Messages that reach the pool actor itself (its plain ref, as another node
knows it) are routed the same way, with one extra hop. Under a supervisor the pool is a
child like any other: when it is restarted its workers are started afresh, and the
`PoolRef` routes to the new ones. The pool counts as started (`await system.start`,
a supervisor's start order) once all its workers have run `on_start`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from actors._actor import Actor
from actors._context import ActorFactory, Context, Reply
from actors._ref import ActorRef
from actors.errors import ActorError, ActorStoppedError
from actors.lowlevel import Parent, children
from actors.routing._pool_routing import PoolRef, Routing, check_routing

if TYPE_CHECKING:
    from actors.mailbox import Mailbox

__all__ = ("BACKOFF_INITIAL", "BACKOFF_MAX", "RESTART_BURST", "Pool", "PoolActor")

M = TypeVar("M")

# A worker may restart this many times in a row, each within RESTART_WINDOW seconds of
# the last, before its restarts wait: BACKOFF_INITIAL seconds, doubling per further
# quick failure up to BACKOFF_MAX. Running RESTART_WINDOW seconds resets both.
RESTART_BURST = 10
RESTART_WINDOW = 1.0
BACKOFF_INITIAL = 0.1
BACKOFF_MAX = 5.0


class Pool(Generic[M]):
    """A pool spec: `size` workers built as ``factory(*args, **kwargs)``, one routing.

    A value, like a `Supervisor`: nothing runs until it is spawned, and it can be
    spawned more than once. Spawning it returns a `PoolRef[M]` for an `Actor[M]` worker;
    the options are checked here, listing the valid choices.

    >>> # pricers = Pool(Pricer, "eur", size=4, routing="round_robin")
    >>> # Supervisor("shop", children=[Child(pricers, name="pricers")])
    >>> # pool = system.spawn(pricers, name="pricers")   # a PoolRef[Pricer's messages]
    """

    __slots__ = ("args", "factory", "key", "kwargs", "routing", "shutdown", "size")

    def __init__(
        self,
        factory: ActorFactory[M],
        *args: Any,
        size: int = 4,
        routing: Routing = "round_robin",
        key: Callable[[Any], Any] | None = None,
        shutdown: float | None = 5.0,
        **kwargs: Any,
    ) -> None:
        if not callable(factory):
            raise TypeError(f"Pool needs an Actor class or factory, got {factory!r}")
        check_routing(routing, key, size)
        self.factory = factory
        self.args = args
        self.kwargs = kwargs
        self.size = size
        self.routing: Routing = routing
        self.key = key
        self.shutdown = shutdown

    def start_args(self) -> tuple[type[PoolActor], tuple[Any, ...]]:
        """The pool actor's class and arguments for one new pool, with a fresh
        `PoolRef` among them: how a supervisor spawns this pool as its child."""
        return PoolActor, (self, PoolRef(self.routing, self.key, self.size))

    def spawn_under(
        self, parent: Context, name: str | None, mailbox: Mailbox | None
    ) -> PoolRef[M]:
        """Start the pool under `parent` (what `spawn(pool, name=...)` calls)."""
        factory, args = self.start_args()
        parent.spawn(factory, *args, name=name, mailbox=mailbox)
        router: PoolRef[M] = args[1]
        return router

    def __repr__(self) -> str:
        label = getattr(self.factory, "__qualname__", repr(self.factory))
        return f"Pool({label}, size={self.size}, routing={self.routing!r})"


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


class PoolActor(Parent[Any]):
    """The pool's supervisor: starts the workers, restarts any that fails, and routes
    what reaches its own ref through the pool's `PoolRef`."""

    # Started once every worker has (`on_child_started` reports it).
    reports_started = True

    def __init__(self, spec: Pool[Any], router: PoolRef[Any]) -> None:
        context = self.context
        name = context.ref.name
        self.workers: list[ActorRef[Any]] = []
        try:
            for number in range(1, spec.size + 1):
                self.workers.append(children(context).spawn_child(
                    spec.factory, spec.args, spec.kwargs, mailbox=None, shutdown=spec.shutdown,
                    name=None if name is None else f"{name}-{number}",
                ))
        except BaseException:
            # A worker that cannot be built fails the pool's spawn; the others must not
            # run on without their pool.
            for worker in self.workers:
                children(context).stop_child(worker, None)
            raise
        self.worker_set = set(self.workers)
        self.started: set[ActorRef[Any]] | None = set()  # None once reported
        self.restarts: dict[ActorRef[Any], _Restarts] = {}
        router._bind(context.ref, self.workers)
        self.router = router
        if name is not None:
            # The name resolves to the routing ref, not to this actor's plain one (the
            # spawn's own registration then finds it held by an equal ref and keeps it).
            context.system.registry.register(name, router)

    def receive(self, message: Any) -> Any:
        if isinstance(message, _Recreate):
            self._recreate(message.worker)
        else:
            reply = self.context.reply_later()
            if reply.done:  # a tell
                self.router.tell(message, self.context.sender)
            else:
                self.context.spawn(_AskForwarder, self.router.pick(message), message, reply)
        return None

    def on_child_started(self, child: ActorRef[Any]) -> None:
        started = self.started
        if started is not None and child in self.worker_set:
            started.add(child)
            if len(started) == len(self.workers):
                self.started = None
                children(self.context).report_started()

    # Restart a failed worker in place: its ref (held by the PoolRef) stays valid.
    def on_child_failed(self, child: ActorRef[Any], error: BaseException) -> None:
        if child in self.worker_set:
            children(self.context).report_failure(child, error, "restart")
            children(self.context).teardown_child(child, error)
        else:  # an ask forwarder; they catch everything, so this is a bug: stop it
            children(self.context).report_failure(child, error, "stop")
            children(self.context).stop_child(child, error)

    def on_child_torn_down(self, child: ActorRef[Any]) -> None:
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
        children(self.context).recreate_child(child, None)

    def describe(self) -> dict[str, Any]:
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
