"""The system's exchanges, by name; bindings drop when their actors stop.

A local actor's bindings drop when its cell terminates (a termination hook). A remote
actor's drop when the cluster says it stopped: each remote ref bound is watched by a
`StopWatcher`, whose `Terminated` (also sent when the actor's node goes down) unbinds
it everywhere. The cluster also calls `forget_node` as soon as
a node goes down, so no publish routes to a dead node in between.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from actors import ActorRef
from actors.routing import Exchange, ExchangeKind
from runtime._engine.watcher import StopWatcher

if TYPE_CHECKING:
    from runtime._directory.site import Site

__all__ = ("Exchanges",)


class Exchanges:
    def __init__(self, site: Site) -> None:
        self._site = site
        self._exchanges: dict[str, Exchange] = {}
        self._remote = StopWatcher(site.spawn_top, self.forget)

    def get(
        self, name: str, kind: ExchangeKind | None, alternate: str | None = None
    ) -> Exchange:
        exchange = self._exchanges.get(name)
        if exchange is not None:
            if kind is not None and exchange.kind != kind:
                raise ValueError(
                    f"exchange {name!r} exists as a {exchange.kind} exchange; ask for it "
                    f"with kind={exchange.kind!r} or pick another name (asked: {kind!r})"
                )
            if alternate is not None and (
                exchange.alternate is None or exchange.alternate.name != alternate
            ):
                now = "none" if exchange.alternate is None else repr(exchange.alternate.name)
                raise ValueError(
                    f"exchange {name!r} exists with alternate {now}, not {alternate!r}; "
                    "an exchange's alternate is fixed when it is created"
                )
            return exchange
        if kind is None:
            kind = "direct"
        fallback = None
        if alternate is not None:
            fallback = self._exchanges.get(alternate)
            if fallback is None:
                raise ValueError(
                    f"alternate exchange {alternate!r} of {name!r} does not exist; create "
                    f"it first with system.exchange({alternate!r}, kind)"
                )
        exchange = Exchange(
            name, kind, alternate=fallback, dead_letter=self._site.dead_letter,
            on_bind=self._bound,
        )
        self._exchanges[name] = exchange
        return exchange

    def forget(self, ref: ActorRef[Any]) -> None:
        """`ref`'s actor stopped: drop its bindings in every exchange."""
        for exchange in self._exchanges.values():
            exchange.unbind_all(ref)

    def forget_node(self, node: str) -> None:
        """`node` went down: drop the bindings of its actors in every exchange."""
        for exchange in self._exchanges.values():
            exchange.unbind_node(node)

    def _bound(self, ref: ActorRef[Any]) -> None:
        # A local actor's bindings drop when its cell terminates; a remote one is
        # watched, which costs one Watch frame per remote actor bound.
        if not self._site.is_local(ref):
            self._remote.watch(ref)

    def __iter__(self) -> Iterator[Exchange]:
        return iter(self._exchanges.values())

