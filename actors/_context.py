"""`Context`: an actor's view of the runtime, reached as `self.context`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeVar, overload

from actors._ref import ActorRef

if TYPE_CHECKING:
    from actors._system_api import System
    from actors.mailbox import Mailbox
    from actors.routing._pool_routing import Routing

__all__ = ("ActorFactory", "Cancel", "Context", "Handles", "Reply", "SpawnSpec")

M = TypeVar("M")
M_contra = TypeVar("M_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)


class Handles(Protocol[M_contra]):
    """What a factory given to `spawn` builds: something that receives `M` messages.

    Every `Actor[M]` is one. A protocol rather than `Actor` itself, so that this module
    (which `Actor` refers to for `self.context`) need not refer back to `Actor`.
    """

    def receive(self, message: M_contra, /) -> Any: ...


#: An `Actor[M]` class or a callable returning one: ``Counter``, ``lambda: Counter(1)``,
#: ``functools.partial(Counter, 1)``. `spawn` returns an `ActorRef[M]` for it.
ActorFactory: TypeAlias = Callable[..., Handles[M]]


class SpawnSpec(Protocol[R_co]):
    """A spec that `spawn` knows how to start: a supervision tree, a pool.

    `spawn(spec, name=..., mailbox=...)` calls ``spec.spawn_under(parent, name,
    mailbox)`` with the context of the parent to start it under, and returns what it
    returns: the ref the spec hands out (a `PoolRef[M]` for a `Pool[M]`). Write one
    for a reusable arrangement of actors of your own.
    """

    def spawn_under(self, parent: Context, name: str | None, mailbox: Mailbox | None) -> R_co:
        """Start the arrangement under `parent`; the result is what `spawn` returns."""
        ...


class Cancel:
    """Cancels a scheduled message (from `Context.send_after`); harmless to call twice."""

    __slots__ = ()

    def cancel(self) -> None:
        raise NotImplementedError

    @property
    def cancelled(self) -> bool:
        raise NotImplementedError


class Reply:
    """The answer slot of an ask, taken with `Context.reply_later()`.

    Answer exactly once, from any later handler or task: `reply.send(value)` or
    `reply.fail(error)`. Answers after the asker gave up (timeout, cancellation) are
    dropped. Only valid on the node that took it.
    """

    __slots__ = ("_actor", "_slot")

    def __init__(self, slot: Any, actor: str) -> None:
        self._slot = slot
        self._actor = actor

    @property
    def done(self) -> bool:
        """Whether the ask was answered or abandoned."""
        return self._slot is None or bool(self._slot.done())

    def send(self, value: Any) -> None:
        """Answer the ask with `value`."""
        slot = self._slot
        if slot is not None and not slot.done():
            slot.set_result(value)
        self._slot = None

    __call__ = send

    def fail(self, error: BaseException) -> None:
        """Answer the ask with an error; the asker gets `ActorCrashedError` from it."""
        from actors._failure import crashed  # local: keeps the import graph one-way

        slot = self._slot
        if slot is not None and not slot.done():
            slot.set_exception(crashed(self._actor, error))
        self._slot = None


class Context:
    """The running actor's handle on the runtime (`self.context`).

    Set before `on_start()` runs, valid until `on_stop()` returns. Only the actor's own
    handlers may call it: it is not thread-safe and not meant to be shared. Parents
    that drive their children's restarts use `actors.lowlevel.children(context)`.
    """

    __slots__ = ()

    @property
    def ref(self) -> ActorRef[Any]:
        """This actor's own ref."""
        raise NotImplementedError

    @property
    def parent(self) -> ActorRef[Any] | None:
        """The actor that spawned this one; None for actors spawned by the system."""
        raise NotImplementedError

    @property
    def system(self) -> System:
        """The `runtime.ActorSystem` this actor runs in (typed by its public API)."""
        raise NotImplementedError

    @property
    def children(self) -> Sequence[ActorRef[Any]]:
        """Live children, in the order they were spawned."""
        raise NotImplementedError

    @property
    def sender(self) -> ActorRef[Any] | None:
        """The ref passed as `sender=` with the current message, if any."""
        raise NotImplementedError

    @overload
    def spawn(
        self, factory: SpawnSpec[R_co], *, name: str | None = None,
        mailbox: Mailbox | None = None,
    ) -> R_co: ...

    @overload
    def spawn(
        self,
        factory: ActorFactory[M],
        *args: Any,
        name: str | None = None,
        mailbox: Mailbox | None = None,
        **kwargs: Any,
    ) -> ActorRef[M]: ...

    def spawn(
        self,
        factory: Any,
        *args: Any,
        name: str | None = None,
        mailbox: Mailbox | None = None,
        **kwargs: Any,
    ) -> Any:
        """Spawn a child (an actor class, a factory or a spec); it is stopped before
        this actor stops. Typed as `system.spawn` is: an `ActorRef[M]` for an
        `Actor[M]`."""
        raise NotImplementedError

    def spawn_pool(
        self,
        factory: ActorFactory[M],
        *args: Any,
        size: int = 4,
        routing: Routing = "round_robin",
        key: Callable[[Any], Any] | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> ActorRef[M]:
        """Spawn a pool of `size` workers as a child and return its routing ref (a
        `PoolRef`); the same as ``spawn(Pool(factory, *args, size=..., ...), name=...)``.
        Workers of a named pool are named ``name-1`` .. ``name-N``."""
        raise NotImplementedError

    def stop(self, ref: ActorRef[Any] | None = None) -> None:
        """Stop `ref` (by default this actor) after the message being handled."""
        raise NotImplementedError

    def watch(self, ref: ActorRef[Any]) -> None:
        """Receive `Terminated(ref, reason)` when `ref` stops (at once if it already has)."""
        raise NotImplementedError

    def unwatch(self, ref: ActorRef[Any]) -> None:
        """Stop watching `ref`; no `Terminated` for it arrives after this returns."""
        raise NotImplementedError

    def send_after(self, delay: float, message: Any, to: ActorRef[Any] | None = None) -> Cancel:
        """Tell `message` to `to` (this actor by default) after `delay` seconds.

        The timer is cancelled when this actor stops.
        """
        raise NotImplementedError

    def stash(self) -> None:
        """Set the current message aside until `unstash_all()`."""
        raise NotImplementedError

    def unstash_all(self) -> None:
        """Put stashed messages back at the front of the mailbox, in their order."""
        raise NotImplementedError

    def become(self, handler: Callable[[Any], Any]) -> None:
        """Handle the next messages with `handler` (sync or async) instead of `receive`."""
        raise NotImplementedError

    def unbecome(self) -> None:
        """Return to the handler before the last `become`."""
        raise NotImplementedError

    def reply_later(self) -> Reply:
        """Take the current ask's answer slot, to answer after this handler returns.

        The handler's return value then no longer answers the ask. For a message that
        was told, not asked, the returned `Reply` ignores what it is sent.
        """
        raise NotImplementedError
