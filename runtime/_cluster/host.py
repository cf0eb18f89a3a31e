"""What the cluster needs of the system that runs it: one protocol, `ClusterHost`.

The cluster sits below `runtime._system` and never imports it. The system hands the
cluster an object of this shape; a reader of `runtime._cluster` learns the whole
contract between the two here. Calls the other way (an actor stopped, a ref left
this node) are the cluster's public methods, registered by the system as hooks.
"""

from __future__ import annotations

from collections.abc import Callable, Sized
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from actors import ActorRef
    from actors.mailbox import Mailbox
    from runtime._engine.kernel import Kernel

__all__ = ("ClusterHost", "LocalActor")


class LocalActor(Protocol):
    """An actor of this node, as the cluster handles it (the engine's cell)."""

    @property
    def uid(self) -> int: ...
    @property
    def name(self) -> str | None: ...
    @property
    def label(self) -> str:
        """Its address, ``node/name`` or ``node/$uid``."""
        ...
    @property
    def ref(self) -> ActorRef[Any]: ...
    @property
    def alive(self) -> bool: ...
    @property
    def unavailable(self) -> bool:
        """A non-critical actor that is down: asks to it fail at once."""
        ...
    @property
    def stop_reason(self) -> BaseException | None: ...

    @property
    def mailbox_spec(self) -> Mailbox | None:
        """Its bounded mailbox's spec, or None for an unbounded one."""
        ...
    @property
    def mailbox(self) -> Sized | None:
        """What waits in its mailbox (None when nothing ever did)."""
        ...

    def post(self, item: Any) -> None:
        """Deliver a mailbox item (a message or an envelope) as `tell` would."""
        ...

    async def post_waiting(self, item: Any) -> None:
        """`post`, waiting for room in a full bounded mailbox instead of overflowing."""
        ...

    def reject(self, item: Any, reason: str) -> None:
        """Fail an item's ask, or dead-letter it, with `reason`."""
        ...


class ClusterHost(Protocol):
    """The system, as the cluster sees it."""

    @property
    def kernel(self) -> Kernel:
        """The running system's kernel (read once the system has been entered)."""
        ...

    def local_cell(self, ref: ActorRef[Any]) -> LocalActor | None:
        """The cell behind `ref` when it is an actor of this node, else None."""
        ...

    def whereis(self, name: str) -> ActorRef[Any] | None:
        """The actor registered as `name` on this node (local or cluster-wide name)."""
        ...

    def dead_letter(self, message: Any, recipient: str, reason: str) -> None:
        """Record a message that will not be delivered (counted and published)."""
        ...

    def spawn_for_peer(
        self, factory: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
        name: str | None, uid: int, then: Callable[[BaseException | None], None],
    ) -> LocalActor:
        """Start an actor another node asked for, under the root, with the id it chose;
        `then(None)` once it has run `on_start`, `then(error)` if it could not."""
        ...

    def stop(self, ref: ActorRef[Any]) -> object:
        """Ask a local actor to stop (as `system.stop`)."""
        ...

    def snapshot(self) -> list[Any]:
        """Every live actor of this node, as `system.snapshot()` lists them."""
        ...

    def local_topics(self) -> list[str]:
        """Topics with subscribers on this node."""
        ...

    def publish_local(self, topic: str, message: Any) -> int:
        """Deliver a message published on another node to this node's subscribers."""
        ...
