"""Pools: several identical workers behind one ref, routed in the caller.

Use a pool when one actor cannot keep up and any of several identical workers may
handle a message. `system.spawn_pool(Worker, size=4, routing=...)` starts the workers
under a pool actor (here) that supervises them and returns a `PoolRef`, which routes
each message in the caller (`actors.routing._pool_routing` lists the routings).

Guarantees: a worker that fails is restarted in place, so its ref and the pool's stay
valid; messages that wait in its mailbox are kept for the fresh instance. A worker that
fails again and again within a second is restarted after a growing back-off (from
`BACKOFF_INITIAL` to `BACKOFF_MAX` seconds once it used up `RESTART_BURST` quick
restarts), so a crash loop does not spin the CPU. Messages that reach the pool actor
itself (its plain ref, as another node or `registry.whereis` knows it) are routed the
same way, with one extra hop.
"""

from __future__ import annotations

import time
from typing import Any

from actors._actor import Actor
from actors._context import Reply
from actors._ref import ActorRef
from actors.errors import ActorError, ActorStoppedError
from actors.routing._pool_routing import PoolRef as PoolRef
from actors.routing._pool_routing import Routing as Routing
from actors.routing._pool_routing import UseRouter
from actors.routing._pool_routing import check_routing as check_routing

__all__ = ("BACKOFF_INITIAL", "BACKOFF_MAX", "RESTART_BURST", "PoolActor", "PoolRef", "Routing",
           "check_routing")


# A worker may restart this many times in a row, each within RESTART_WINDOW seconds of
# the last, before its restarts wait: BACKOFF_INITIAL seconds, doubling per further
# quick failure up to BACKOFF_MAX. Running RESTART_WINDOW seconds resets both.
RESTART_BURST = 10
RESTART_WINDOW = 1.0
BACKOFF_INITIAL = 0.1
BACKOFF_MAX = 5.0


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
        if isinstance(message, UseRouter):
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
            self.context._teardown_child(child, error)
        else:  # an ask forwarder; they catch everything, so this is a bug: stop it
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
