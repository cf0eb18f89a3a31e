"""The system's exchanges, by name; bindings drop when their actors stop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors._ref import ActorRef
from actors.routing._exchange import Exchange, ExchangeKind

if TYPE_CHECKING:
    from runtime._system import ActorSystem

__all__ = ("Exchanges",)


class Exchanges:
    def __init__(self, system: ActorSystem) -> None:
        self._system = system
        self._exchanges: dict[str, Exchange] = {}

    def get(self, name: str, kind: ExchangeKind, alternate: str | None = None) -> Exchange:
        exchange = self._exchanges.get(name)
        if exchange is not None:
            if exchange.kind != kind:
                raise ValueError(
                    f"exchange {name!r} exists as a {exchange.kind} exchange; ask for it "
                    f"with kind={exchange.kind!r} or pick another name (asked: {kind!r})"
                )
            if alternate is not None and (
                exchange.alternate is None or exchange.alternate.name != alternate
            ):
                raise ValueError(f"exchange {name!r} exists with another alternate exchange")
            return exchange
        fallback = None
        if alternate is not None:
            fallback = self._exchanges.get(alternate)
            if fallback is None:
                raise ValueError(
                    f"alternate exchange {alternate!r} does not exist; create it first"
                )
        exchange = Exchange(name, kind, alternate=fallback, dead_letter=self._system.dead_letter)
        self._exchanges[name] = exchange
        return exchange

    def forget(self, ref: ActorRef[Any]) -> None:
        for exchange in self._exchanges.values():
            exchange.unbind_all(ref)

    def __iter__(self) -> Any:
        return iter(self._exchanges.values())
