"""The implementation of `actors.lowlevel` (documented there)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, cast, runtime_checkable

from actors._actor import Actor

if TYPE_CHECKING:
    from actors._context import Context
    from actors._ref import ActorRef
    from actors.mailbox import Mailbox

__all__ = ("ChildControl", "Parent", "children", "identity", "unwrap")

M = TypeVar("M")


@runtime_checkable
class ChildControl(Protocol):
    """What a parent may do to its own children; `children(self.context)` gives it.

    Each call takes effect in the child's next turn (system messages overtake its
    mail) and returns at once. A ref that is not a live child of this actor is
    ignored, so a late call after the child stopped is harmless.
    """

    def spawn_child(
        self,
        factory: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        name: str | None = None,
        mailbox: Mailbox | None = None,
        shutdown: float | None = None,
        before: ActorRef[Any] | None = None,
        start: bool = True,
        supervised: bool = True,
    ) -> ActorRef[Any]:
        """Spawn a child; with `supervised`, its start and teardown are reported to
        the `Parent` hooks. `shutdown` bounds its stop (and the stop half of its
        restart) in seconds, after which it is cancelled. With `before`, it takes
        that sibling's place in the stop order (it is stopped after it), as a
        replacement keeps its predecessor's place. With ``start=False`` its
        `on_start` waits for `start_child` (mail to it queues meanwhile)."""
        ...

    def start_child(self, ref: ActorRef[Any]) -> None:
        """Run the `on_start` of a child spawned with ``start=False``."""
        ...

    def report_started(self) -> None:
        """Tell this actor's own parent that it has started: for a `Parent` with
        ``reports_started = True`` (a supervisor, once its own children have started)."""
        ...

    def teardown_child(self, ref: ActorRef[Any], reason: BaseException | None) -> None:
        """First half of a restart: stop its children, run its `on_stop(reason)`, keep
        its mail; `Parent.on_child_torn_down` follows."""
        ...

    def recreate_child(self, ref: ActorRef[Any], reason: BaseException | None) -> None:
        """Second half of a restart, after `on_child_torn_down`: a fresh instance,
        then its `on_restart(reason)`; `Parent.on_child_started` follows."""
        ...

    def stop_child(self, ref: ActorRef[Any], reason: BaseException | None) -> None:
        """Stop a child for good with `reason` (None for a normal stop), within its
        `shutdown` bound; `Parent.on_child_terminated` follows."""
        ...

    def report_failure(self, ref: ActorRef[Any], error: BaseException, decision: str) -> None:
        """Log a child's failure once, at ERROR with its traceback, with the decision
        taken about it (``restart``, ``stop``, ``escalate`` or ``degrade``): call it
        from `Parent.on_child_failed` (the default one does)."""
        ...

    def set_available(self, ref: ActorRef[Any], available: bool) -> None:
        """While a child is unavailable, asks to it fail at once with
        `ActorUnavailableError` and tells go to dead letters (mail queued for it
        then is failed or dead-lettered at once)."""
        ...


# Context classes already checked: `isinstance` against a runtime-checkable protocol
# walks the protocol's members each time (tens of µs), and supervisors call `children`
# on every restart.
_controlling: set[type] = set()


def children(context: Context) -> ChildControl:
    """The `ChildControl` of the actor whose context this is."""
    kind = type(context)
    if kind not in _controlling:
        if not isinstance(context, ChildControl):
            raise TypeError(
                f"{kind.__qualname__} is not a runtime context with child control; "
                "pass self.context of an actor spawned by runtime.ActorSystem"
            )
        _controlling.add(kind)
    return cast(ChildControl, context)


class Parent(Actor[M]):
    """An actor that hears about its children: subclass it instead of `Actor`.

    The hooks run one at a time between the actor's messages, sync or async; raising
    in one fails the parent. Without `Parent`, a failed child is stopped with its
    error as reason; that is also what `on_child_failed` does by default.

    Class flags: ``reports_started = True`` makes the parent count as started for its
    own parent only once it calls `ChildControl.report_started()` (a supervisor whose
    children are still starting); ``stops_system_on_failure = True`` makes its failure
    at the top of the tree stop the whole system.
    """

    reports_started: ClassVar[bool] = False
    stops_system_on_failure: ClassVar[bool] = False

    def on_child_started(self, child: ActorRef[Any]) -> Awaitable[None] | None:
        """A supervised child ran its `on_start` (or `on_restart`)."""
        return None

    def on_child_failed(
        self, child: ActorRef[Any], error: BaseException
    ) -> Awaitable[None] | None:
        """A child's handler or hook raised `error`; it is suspended until the parent
        decides. By default it is stopped with `error` as reason."""
        control = children(self.context)
        control.report_failure(child, error, "stop")
        control.stop_child(child, error)
        return None

    def on_child_torn_down(self, child: ActorRef[Any]) -> Awaitable[None] | None:
        """A supervised child finished the first half of a restart (`teardown_child`)."""
        return None

    def on_child_terminated(
        self, child: ActorRef[Any], reason: BaseException | None
    ) -> Awaitable[None] | None:
        """A child stopped for good (`reason` None for a normal stop)."""
        return None

    def describe(self) -> dict[str, Any]:
        """Extra details for `system.snapshot()` and live trees (kind, strategy, ...)."""
        return {}


def unwrap(ref: ActorRef[Any]) -> ActorRef[Any]:
    """The plain ref under a wrapping one (a `PoolRef`, a `DynamicSupervisorRef`);
    `ref` itself when it wraps nothing."""
    return ref._unwrap()  # ActorRef's own hook, implemented by each kind of ref


def identity(ref: ActorRef[Any]) -> tuple[str, int]:
    """What refs compare and hash by: the node and the actor's id there."""
    return ref._identity()  # ActorRef's own hook, implemented by each kind of ref
