"""`Actor`: the class users subclass to write an actor."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

if TYPE_CHECKING:
    from actors._context import Context

__all__ = ("Actor",)

M = TypeVar("M")


class Actor(Generic[M]):
    """An actor: private state plus a `receive` that handles one message at a time.

    Subclass it, keep state in ordinary attributes, and handle messages in
    `receive(message)`, written as ``def`` or ``async def``. Whatever `receive` returns
    answers an `ask`; a `tell` ignores it. Messages are handled one at a time, in the
    order they arrived (per sender); an async `receive` holds the actor until it
    returns, while other actors keep running.

    If `receive` raises, the actor fails: its parent decides what happens (a supervisor
    restarts it; any other parent stops it with the exception as reason, and watchers
    get `Terminated` carrying it). An ask whose handler raised gets `ActorCrashedError`.

    Hooks, each sync or async: `on_start()` runs before the first message (messages
    sent before queue up), `on_stop(reason)` after the last one, `on_restart(reason)` on
    the fresh instance a supervisor builds after a failure (by default it calls
    `on_start()`). Framework state lives behind `self.context` (a `Context`), set before
    `__init__` runs when the actor is spawned from its class.

    Set ``blocking = True`` on a class whose sync `receive` makes blocking calls: it
    then runs in a worker thread, so it does not stall the other actors.

    Example::

        import anyio
        from actors import Actor
        from runtime import ActorSystem

        class Counter(Actor[int | str]):
            def __init__(self, start: int = 0) -> None:
                self.count = start

            def receive(self, message: int | str) -> int | None:
                match message:
                    case int(n):
                        self.count += n
                    case "get":
                        return self.count
                return None

        async def main() -> None:
            async with ActorSystem("demo") as system:
                counter = system.spawn(Counter, 10, name="counter")
                counter.tell(5)
                assert await counter.ask("get", timeout=1.0) == 15

        anyio.run(main)
    """

    blocking: ClassVar[bool] = False
    context: Context

    def receive(self, message: M) -> Any:
        """Handle one message; the return value answers an ask."""
        raise NotImplementedError(
            f"{type(self).__qualname__} must define receive(self, message) to handle messages"
        )

    def on_start(self) -> Awaitable[None] | None:
        """Runs once before the first message; raising here fails the actor."""
        return None

    def on_stop(self, reason: BaseException | None) -> Awaitable[None] | None:
        """Runs after the last message; `reason` is None for a normal stop."""
        return None

    def on_restart(self, reason: BaseException) -> Awaitable[None] | None:
        """Runs on the fresh instance after a failure (`reason`); calls `on_start()`."""
        return self.on_start()
