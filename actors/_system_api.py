"""`System`: the public API of the system an actor runs in, as `actors` sees it.

`actors` imports nothing of `runtime`, so `Context.system` is typed by this protocol;
`runtime.ActorSystem` satisfies it. It names what actors reach through
`self.context.system`; the full API is `runtime.ActorSystem`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from actors._ref import ActorRef
    from actors.routing._exchange import Exchange, ExchangeKind

__all__ = ("Names", "Publisher", "System")


class Names(Protocol):
    """The system's registry (`system.registry`)."""

    def register(self, name: str, ref: ActorRef[Any], scope: str = "local") -> None: ...
    def whereis(self, name: str) -> ActorRef[Any] | None: ...
    def unregister(self, name: str) -> None: ...


class Publisher(Protocol):
    """The system's topics (`system.topics`)."""

    def subscribe(self, topic: str, ref: ActorRef[Any]) -> None: ...
    def unsubscribe(self, topic: str, ref: ActorRef[Any]) -> None: ...
    def publish(self, topic: str, message: Any) -> int: ...


class System(Protocol):
    """What an actor may use of its system: `self.context.system`."""

    @property
    def name(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def registry(self) -> Names: ...
    @property
    def topics(self) -> Publisher: ...
    @property
    def streams(self) -> Any: ...
    @property
    def cluster(self) -> Any: ...
    @property
    def dead_letters(self) -> Any: ...
    def spawn(self, factory: Any, /, *args: Any, **kwargs: Any) -> ActorRef[Any]: ...
    def stop(self, ref: ActorRef[Any]) -> Any: ...
    def exchange(
        self, name: str, kind: ExchangeKind | None = None, *, alternate: str | None = None
    ) -> Exchange: ...
    async def lookup(
        self, name: str, node: str | None = None, *, timeout: float = 5.0
    ) -> ActorRef[Any] | None: ...
    def snapshot(self) -> list[Any]: ...
