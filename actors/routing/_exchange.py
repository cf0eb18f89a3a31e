"""Exchanges: named routers that decide which actors a published message reaches.

Use an exchange when publishers should not know their consumers (AMQP's model: actors
are the queues, an exchange holds bindings). For one known consumer, tell its ref: that
is cheaper. Get exchanges from `system.exchange(name, kind)`; the kinds route by
RabbitMQ's rules:

- ``direct``: the binding key equals the routing key (exact, case-sensitive);
- ``fanout``: every bound actor, whatever the key;
- ``topic``: AMQP patterns, words split on ``.``, ``*`` one word, ``#`` zero or more
  (``#`` matches ``""``, ``*`` does not, ``a.#`` matches ``a``, ``#.*`` is one or more
  words); matching scales with the words of a key, not the number of bindings;
- ``headers``: a binding is a dict matched against the message headers. ``x-match``
  ``all`` (the default) needs every binding key, ``any`` one of them; keys starting with
  ``x-`` are not compared, unless the mode is ``all-with-x`` or ``any-with-x``. Values
  compare as RabbitMQ's do: ``True`` is not ``1``, ``"a"`` is ``b"a"``.

Guarantees:

- One copy per actor per publish, however many of its bindings match.
- Bindings are a set: binding the same ``(ref, key)`` twice binds once. Two headers
  bindings are the same when their tables are equal as AMQP tables (key order does not
  matter; ``{"a": True}`` and ``{"a": 1}`` differ, as they route differently).
- Bindings drop when their actor stops, and those of a node's actors when that node
  goes down. Remote refs bind like local ones.
- What no binding takes goes to the `alternate` exchange if there is one, else raises
  `UnroutableError` with ``mandatory=True``, else goes to dead letters.
- `publish` never waits. An actor whose bounded mailbox rejects the message is not
  counted as reached, and the others still get it.

Not thread-safe: bind and publish from the system's event loop (from actors' handlers
or the task that runs the system).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Mapping
from typing import Any, Literal, get_args

from actors._ref import ActorRef
from actors.errors import MailboxFullError, UnroutableError
from actors.routing._headers import headers_match, parse_x_match
from actors.routing._topic import TopicTrie
from actors.routing._validate import invalid_choice

__all__ = ("Exchange", "ExchangeKind", "headers_identity")

ExchangeKind = Literal["direct", "fanout", "topic", "headers"]
KINDS: tuple[str, ...] = get_args(ExchangeKind)

Ref = ActorRef[Any]
_NO_REFS: tuple[Ref, ...] = ()


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
        on_bind: Callable[[Ref], None] | None = None,
    ) -> None:
        if kind not in KINDS:
            raise invalid_choice("exchange kind", kind, KINDS)
        self.name = name
        self.kind: ExchangeKind = kind
        self.alternate = alternate
        self._dead_letter = dead_letter
        # Called when a ref gets its first binding here (the system watches remote refs).
        self._on_bind = on_bind
        self._direct: dict[str, dict[Ref, None]] = {}
        self._fanout: dict[Ref, None] = {}
        # Only a topic exchange has a trie; `publish` tests it first (its hot path).
        self._topic: TopicTrie[Ref] | None = TopicTrie() if kind == "topic" else None
        # A headers binding's identity -> (the table as bound, the refs bound by it).
        self._headers: dict[Hashable, tuple[dict[str, Any], dict[Ref, None]]] = {}
        # Every ref's bindings, identity -> key as given, so they can all be dropped
        # when the actor stops and listed by `bindings()`.
        self._bound: dict[Ref, dict[Hashable, str | dict[str, Any]]] = {}

    # -- bindings ------------------------------------------------------------------------

    def bind(self, ref: Ref, key: str | Mapping[str, Any] = "") -> None:
        """Route to `ref` what matches `key` (a dict of headers for a headers exchange).

        Raises TypeError for a key of the wrong type and ValueError for a bad
        ``x-match``, now rather than at publish time. A ref that has already stopped
        is not bound: nothing would ever unbind it.
        """
        identity, given = self._check_key(key)
        if not ref.is_alive:
            return
        if self._topic is not None:
            assert isinstance(identity, str)
            self._topic.add(identity, ref)
        elif self.kind == "direct":
            assert isinstance(identity, str)
            self._direct.setdefault(identity, {})[ref] = None
        elif self.kind == "fanout":
            self._fanout[ref] = None
        else:
            assert isinstance(given, dict)
            self._headers.setdefault(identity, (given, {}))[1][ref] = None
        keys = self._bound.get(ref)
        if keys is None:
            keys = self._bound[ref] = {}
            if self._on_bind is not None:
                self._on_bind(ref)
        keys.setdefault(identity, given)

    def unbind(self, ref: Ref, key: str | Mapping[str, Any] = "") -> None:
        """Remove one binding (nothing happens if it was not there)."""
        identity, _ = self._check_key(key)
        keys = self._bound.get(ref)
        if keys is None or keys.pop(identity, None) is None:
            return
        if not keys:
            del self._bound[ref]
        elif self.kind == "fanout":
            return  # its other bindings (under other keys) still route everything to it
        self._drop(ref, identity)

    def unbind_all(self, ref: Ref) -> int:
        """Drop every binding of `ref` (its actor stopped); returns how many there were."""
        keys = self._bound.pop(ref, None)
        if not keys:
            return 0
        if self._topic is not None:
            self._topic.remove_value(ref)  # the trie knows the ref's patterns
        else:
            for identity in keys:
                self._drop(ref, identity)
        return len(keys)

    def unbind_node(self, node: str) -> int:
        """Drop every binding of the actors of `node` (it went down); returns how many
        actors lost theirs."""
        gone = [ref for ref in self._bound if ref._identity()[0] == node]
        for ref in gone:
            self.unbind_all(ref)
        return len(gone)

    def bindings(self) -> list[tuple[Ref, Any]]:
        """Every (ref, key) bound, in binding order per actor."""
        return [(ref, key) for ref, keys in self._bound.items() for key in keys.values()]

    def _check_key(self, key: object) -> tuple[Hashable, str | dict[str, Any]]:
        """The binding's identity (what makes two bindings the same) and its key."""
        if self.kind == "headers":
            if not isinstance(key, Mapping):
                raise TypeError(
                    f"headers exchange {self.name!r} binds a dict of headers, got {key!r}"
                )
            for name in key:
                if not isinstance(name, str):
                    raise TypeError(
                        f"headers exchange {self.name!r}: header names are str, got {name!r}"
                    )
            parse_x_match(key)
            table = dict(key)
            return headers_identity(table), table
        if not isinstance(key, str):
            raise TypeError(f"{self.kind} exchange {self.name!r} binds a str key, got {key!r}")
        return key, key

    def _drop(self, ref: Ref, identity: Hashable) -> None:
        if self._topic is not None:
            assert isinstance(identity, str)
            self._topic.remove(identity, ref)
        elif self.kind == "fanout":
            self._fanout.pop(ref, None)
        elif self.kind == "direct":
            assert isinstance(identity, str)
            refs = self._direct.get(identity)
            if refs is not None:
                refs.pop(ref, None)
                if not refs:
                    del self._direct[identity]
        else:
            entry = self._headers.get(identity)
            if entry is not None:
                entry[1].pop(ref, None)
                if not entry[1]:
                    del self._headers[identity]

    # -- routing -------------------------------------------------------------------------

    def route(self, key: str, headers: Mapping[str, Any] | None = None) -> list[Ref]:
        """The actors `key` (and `headers`) reach here, each once, without sending."""
        return list(self._targets(key, headers))

    def _targets(self, key: str, headers: Mapping[str, Any] | None) -> Collection[Ref]:
        # Returns the live collection, not a copy: `publish` only iterates it, and a
        # `tell` never runs a handler nor changes bindings before it returns.
        if self._topic is not None:
            return self._topic.match(key)
        if self.kind == "direct":
            return self._direct.get(key, _NO_REFS)
        if self.kind == "fanout":
            return self._fanout
        reached: dict[Ref, None] = {}
        for table, refs in self._headers.values():
            if headers_match(table, headers):
                reached.update(refs)
        return reached

    def publish(
        self,
        key: str,
        message: Any,
        headers: Mapping[str, Any] | None = None,
        mandatory: bool = False,
    ) -> int:
        """Tell `message` to every actor `key` reaches; returns how many it reached.

        Unroutable: to the alternate exchange, else `UnroutableError` when `mandatory`,
        else dead letters (and 0).
        """
        topic = self._topic
        targets = topic.match(key) if topic is not None else self._targets(key, headers)
        if not targets:
            return self._unroutable(key, message, headers, mandatory)
        reached = len(targets)
        for ref in targets:
            try:
                ref.tell(message)
            except MailboxFullError as error:
                # A full mailbox that rejects refuses this copy only; the others go out.
                reached -= 1
                if self._dead_letter is not None:
                    self._dead_letter(message, ref.address, f"exchange {self.name}: {error}")
        return reached

    def _unroutable(
        self, key: str, message: Any, headers: Mapping[str, Any] | None, mandatory: bool
    ) -> int:
        alternate = self.alternate
        seen = {id(self)}  # exchanges built by hand could name each other in a loop
        while alternate is not None and id(alternate) not in seen:
            seen.add(id(alternate))
            targets = alternate._targets(key, headers)
            if targets:
                return alternate.publish(key, message, headers)
            alternate = alternate.alternate
        if mandatory:
            raise UnroutableError(self.name, key)
        if self._dead_letter is not None:
            self._dead_letter(message, f"exchange {self.name}", f"unroutable key {key!r}")
        return 0

    def __repr__(self) -> str:
        return f"<Exchange {self.name!r} {self.kind}, {len(self._bound)} actors bound>"


def headers_identity(table: Mapping[str, Any]) -> Hashable:
    """What makes two headers bindings the same binding: their tables as AMQP tables.

    Key order does not matter; values compare by AMQP type, so ``True`` is not ``1``
    nor ``1.0`` (Python's ``==`` says all three are equal, RabbitMQ does not), an
    integer is not a float, and ``str`` is the ``bytes`` of its UTF-8 (both are long
    strings). Nested tables and arrays compare the same way.
    """
    return frozenset((name, _typed(value)) for name, value in table.items())


def _typed(value: object) -> Hashable:
    if value is None or isinstance(value, bool):
        return (type(value).__name__, value)
    if isinstance(value, str):
        return ("longstr", value.encode("utf-8"))
    if isinstance(value, bytes | bytearray):
        return ("longstr", bytes(value))
    if isinstance(value, int):
        return ("int", int(value))
    if isinstance(value, float):
        return ("float", value)
    if isinstance(value, Mapping):
        return ("table", frozenset((repr(k), _typed(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return ("array", tuple(_typed(item) for item in value))
    try:
        hash(value)
    except TypeError:
        return (type(value).__qualname__, repr(value))
    return (type(value).__qualname__, value)
