"""Exchanges: named routers that decide which actors a published message reaches.

Actors are the queues; an exchange holds bindings and routes by RabbitMQ's rules:

- ``direct``: the binding key equals the routing key (exact, case-sensitive);
- ``fanout``: every bound actor, whatever the key;
- ``topic``: AMQP patterns, words split on ``.``, ``*`` one word, ``#`` zero or more;
- ``headers``: a binding is a dict matched against the message headers, with
  ``x-match`` ``all`` (the default) or ``any``.

An actor bound by several matching bindings gets one copy. What no binding takes goes
to the `alternate` exchange if there is one, else to dead letters (or raises
`UnroutableError` with ``mandatory=True``). Get exchanges from `system.exchange(name,
kind)`; bindings drop when their actor stops.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, get_args

from actors._ref import ActorRef
from actors.errors import UnroutableError
from actors.routing._headers import headers_match
from actors.routing._topic import TopicTrie

__all__ = ("Exchange", "ExchangeKind")

ExchangeKind = Literal["direct", "fanout", "topic", "headers"]
KINDS: tuple[str, ...] = get_args(ExchangeKind)

Ref = ActorRef[Any]


class Exchange:
    """A router of one kind. Publishing is synchronous and never waits.

    >>> # orders = system.exchange("orders", "topic")
    >>> # orders.bind(audit, "order.#")
    >>> # orders.publish("order.eu.paid", event)  -> 1
    """

    def __init__(
        self,
        name: str,
        kind: ExchangeKind,
        *,
        alternate: Exchange | None = None,
        dead_letter: Callable[[Any, str, str], None] | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(
                f"exchange kind must be one of {', '.join(map(repr, KINDS))}; got {kind!r}"
            )
        self.name = name
        self.kind: ExchangeKind = kind
        self.alternate = alternate
        self._dead_letter = dead_letter
        self._direct: dict[str, dict[Ref, None]] = {}
        self._fanout: dict[Ref, None] = {}
        self._topic: TopicTrie[Ref] = TopicTrie()
        self._headers: list[tuple[dict[str, Any], Ref]] = []
        # Every (ref, key) bound, so bindings can be dropped when an actor stops.
        self._bound: dict[Ref, list[Any]] = {}

    def bind(self, ref: Ref, key: str | Mapping[str, Any] = "") -> None:
        """Route to `ref` what matches `key` (a dict of headers for a headers exchange)."""
        if self.kind == "headers":
            if not isinstance(key, Mapping):
                raise TypeError(f"headers exchange {self.name!r} binds a dict, got {key!r}")
            binding = dict(key)
            headers_match(binding, {})  # validates x-match now, not at publish time
            if (binding, ref) in self._headers:
                return
            self._headers.append((binding, ref))
        else:
            if not isinstance(key, str):
                raise TypeError(f"{self.kind} exchange {self.name!r} binds a str key, got {key!r}")
            if self.kind == "direct":
                self._direct.setdefault(key, {})[ref] = None
            elif self.kind == "fanout":
                self._fanout[ref] = None
            else:
                self._topic.add(key, ref)
        keys = self._bound.setdefault(ref, [])
        if key not in keys:
            keys.append(key if isinstance(key, str) else dict(key))

    def unbind(self, ref: Ref, key: str | Mapping[str, Any] = "") -> None:
        """Remove one binding (nothing happens if it was not there)."""
        if self.kind == "headers":
            binding = dict(key) if isinstance(key, Mapping) else {}
            if (binding, ref) in self._headers:
                self._headers.remove((binding, ref))
        elif self.kind == "direct":
            refs = self._direct.get(key)  # type: ignore[arg-type]
            if refs is not None:
                refs.pop(ref, None)
                if not refs:
                    del self._direct[key]  # type: ignore[arg-type]
        elif self.kind == "fanout":
            self._fanout.pop(ref, None)
        else:
            self._topic.remove(key, ref)  # type: ignore[arg-type]
        keys = self._bound.get(ref)
        if keys is not None:
            normal = key if isinstance(key, str) else dict(key)
            if normal in keys:
                keys.remove(normal)
            if not keys:
                del self._bound[ref]

    def unbind_all(self, ref: Ref) -> None:
        """Drop every binding of `ref` (its actor stopped)."""
        for key in list(self._bound.get(ref, ())):
            self.unbind(ref, key)

    def route(self, key: str, headers: Mapping[str, Any] | None = None) -> list[Ref]:
        """The actors `key` (and `headers`) reach here, each once, without sending."""
        if self.kind == "direct":
            return list(self._direct.get(key, ()))
        if self.kind == "fanout":
            return list(self._fanout)
        if self.kind == "topic":
            return list(self._topic.match(key))
        reached: dict[Ref, None] = {}
        for binding, ref in self._headers:
            if ref not in reached and headers_match(binding, headers):
                reached[ref] = None
        return list(reached)

    def publish(
        self,
        key: str,
        message: Any,
        headers: Mapping[str, Any] | None = None,
        mandatory: bool = False,
    ) -> int:
        """Tell `message` to every actor `key` reaches; returns how many.

        Unroutable: to the alternate exchange, else `UnroutableError` when `mandatory`,
        else dead letters (and 0).
        """
        targets = self.route(key, headers)
        if not targets:
            if self.alternate is not None:
                return self.alternate.publish(key, message, headers, mandatory)
            if mandatory:
                raise UnroutableError(self.name, key)
            if self._dead_letter is not None:
                self._dead_letter(message, f"exchange {self.name}", f"unroutable key {key!r}")
            return 0
        for ref in targets:
            ref.tell(message)
        return len(targets)

    def bindings(self) -> list[tuple[Ref, Any]]:
        """Every (ref, key) bound, in binding order per actor."""
        return [(ref, key) for ref, keys in self._bound.items() for key in keys]

    def __repr__(self) -> str:
        return f"<Exchange {self.name!r} {self.kind}, {len(self._bound)} actors bound>"
