"""`Host`: everything a cell may ask of the system it runs in.

The engine imports nothing above it; the system passes an object satisfying this
protocol to every cell it builds (`runtime._host.SystemHost`). Reading this class is
reading the engine's whole contract with the layers above. It is generic in the cell
type, so that this module needs no cell (`Host[CellState]` is what cells hold).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from actors import ActorRef
    from actors.lowlevel import System
    from actors.mailbox import Mailbox
    from runtime._engine.crashes import CrashLog
    from runtime._engine.dispatch import Dispatcher, Runnable
    from runtime._engine.kernel import Kernel
    from runtime._engine.timers import Timers

__all__ = ("Host",)

C = TypeVar("C", bound="Runnable")


class Host(Protocol[C]):
    """What a cell asks of its system: names, time, the ready queue, and what lies
    beyond this node. Every method is called on the event loop's thread."""

    @property
    def node(self) -> str:
        """This node's name; a cell's address is ``node/name-or-id``."""
        ...

    @property
    def system(self) -> System:
        """The public system an actor sees as `self.context.system`."""
        ...

    @property
    def kernel(self) -> Kernel: ...

    @property
    def dispatcher(self) -> Dispatcher[C]: ...

    @property
    def timers(self) -> Timers: ...

    @property
    def crashes(self) -> CrashLog:
        """Where failures are reported, once each, with the decision about them."""
        ...

    def dead_letter(self, message: Any, recipient: str, reason: str) -> None:
        """A message that reached no actor: count and publish it."""
        ...

    def dead_letters_many(self, messages: list[Any], recipient: str, reason: str) -> None:
        """Many messages that reached no actor (a stopping actor's queue), in bulk:
        all counted, one log line, only the last few kept and published."""
        ...

    def forget(self, cell: C) -> None:
        """`cell` terminated: drop its names, subscriptions, bindings, remote watches."""
        ...

    def local_cell(self, ref: ActorRef[Any]) -> C | None:
        """The cell of `ref` when it is an actor of this system, else None."""
        ...

    def start_cell(
        self,
        parent: C | None,
        factory: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None,
        mailbox: Mailbox | None,
        *,
        supervised: bool = False,
        start: bool = True,
    ) -> C:
        """Build, name and (unless ``start=False``) start an actor under `parent`;
        raises `NameTakenError`, or `RuntimeError` when the system or the parent is
        stopping."""
        ...

    def spawn_child(
        self,
        parent: C,
        factory: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        name: str | None = None,
        mailbox: Mailbox | None = None,
    ) -> ActorRef[Any]:
        """`Context.spawn`: an actor, or a `lowlevel.Spawnable` spec, under `parent`."""
        ...

    def stop_remote(self, ref: ActorRef[Any]) -> None:
        """Ask an actor of another node to stop."""
        ...

    def watch_remote(self, watcher: C, ref: ActorRef[Any]) -> None:
        """Tell `watcher` `Terminated` when the remote `ref` stops or its node goes down."""
        ...

    def unwatch_remote(self, watcher: C, ref: ActorRef[Any]) -> None: ...
