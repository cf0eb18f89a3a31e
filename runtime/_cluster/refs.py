"""Refs to actors on other nodes, and answering asks that came over the wire."""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any, Protocol, TypeVar

from actors import ActorRef

__all__ = (
    "RemoteRef", "RemoteReplySlot", "RemoteSender", "Replier", "parse_ref_text", "ref_text",
    "target_address",
)

M = TypeVar("M", contravariant=True)


def ref_text(node: str, uid: int, name: str | None) -> str:
    """A ref as frames carry it: ``node|uid|name``."""
    return f"{node}|{uid}|{name or ''}"


def target_address(node: str, target: int | str) -> str:
    """How refs spell the address of `target` (an actor id or a name) on `node`."""
    return f"{node}/${target}" if isinstance(target, int) else f"{node}/{target}"


def parse_ref_text(text: str) -> tuple[str, int, str | None]:
    node, uid, name = text.rsplit("|", 2)
    return node, int(uid), name or None


class Teller(Protocol):
    """The calls of a link that a `RemoteRef`'s hot paths make (`runtime._wire.link_io.
    LinkWriter.tell_value` and `try_tell`)."""

    def tell_value(self, target: int | str, message: object) -> bool: ...
    def tell(self, target: int | str, payload: bytes) -> bool: ...


class RemoteSender(Protocol):
    """What a `RemoteRef` needs: the cluster's remote delivery.

    `links` is the link table (peer node -> link), `plain` and `payload_limit` are
    those of its message codec (see `runtime._wire.codec.Codec.plain`); `tell` owns
    every rule of a remote tell, and the ref's hot path hands it every case it does not
    finish itself.
    """

    @property
    def links(self) -> Mapping[str, Teller]: ...
    @property
    def plain(self) -> Mapping[type, Callable[[Any], bytes]]: ...
    @property
    def payload_limit(self) -> int: ...

    def tell(self, ref: RemoteRef[Any], message: Any, sender: ActorRef[Any] | None) -> None: ...
    def tell_many(self, ref: RemoteRef[Any], messages: list[Any]) -> None: ...
    async def send(self, ref: RemoteRef[Any], message: Any) -> None: ...
    async def call(
        self, node: str, target: int | str, message: Any, timeout: float | None,
        ref: RemoteRef[Any] | None = None,
    ) -> Any: ...
    def is_linked(self, node: str) -> bool: ...


class RemoteRef(ActorRef[M]):
    """A ref to an actor on another node; messages travel over the link to it.

    Order is kept per sender-receiver pair (one link per pair of nodes). A `tell` to a
    node that is not linked goes to dead letters; an `ask` fails at once with
    `NodeDownError`, and when the node goes down while it waits.
    """

    __slots__ = ("_delivery", "_limit", "_links", "_name", "_node", "_plain", "_uid")

    def __init__(self, delivery: RemoteSender, node: str, uid: int, name: str | None) -> None:
        self._delivery = delivery
        self._node = node
        self._uid = uid
        self._name = name
        # For `tell`'s hot path: read here once, not through the delivery per message.
        self._links = delivery.links
        self._plain = delivery.plain
        self._limit = delivery.payload_limit

    @property
    def node(self) -> str:
        return self._node

    @property
    def uid(self) -> int:
        return self._uid

    def tell(self, message: M, sender: ActorRef[Any] | None = None) -> None:
        # The hot paths, kept flat on purpose (measured: the calls between here and the
        # link were a third of a remote tell's cost on the sending node). With no sender,
        # to a linked node: a fixed-size value (an int, float, bool or None) is the
        # link's in one call, encoded with its batch (`tell_value`); another plain value
        # (a str or bytes: one msgspec call encodes it, to the bytes `Codec.encode`
        # gives) is encoded here. Every other case, and any failure here (a value
        # msgspec refuses, one over the size limit, a full link), goes to
        # `RemoteDelivery.tell`, which owns the rules and says why.
        if sender is None:
            link = self._links.get(self._node)
            if link is not None:
                if link.tell_value(self._uid, message):
                    return
                encode = self._plain.get(type(message))
                if encode is not None:
                    try:
                        payload = encode(message)
                    except Exception:  # the general path below raises, saying why
                        pass
                    else:
                        if len(payload) <= self._limit and link.tell(self._uid, payload):
                            return
        self._delivery.tell(self, message, sender)

    def tell_many(self, messages: Iterable[M]) -> None:
        self._delivery.tell_many(self, list(messages))

    async def send(self, message: M) -> None:
        await self._delivery.send(self, message)

    def ask(self, message: M, timeout: float | None = 5.0) -> Coroutine[Any, Any, Any]:
        # The delivery's coroutine itself, awaited by the caller: no frame of its own.
        return self._delivery.call(self._node, self._uid, message, timeout, self)

    @property
    def name(self) -> str | None:
        return self._name

    @property
    def address(self) -> str:
        return f"{self._node}/{self._name if self._name is not None else f'${self._uid}'}"

    @property
    def is_alive(self) -> bool:
        return self._delivery.is_linked(self._node)

    def _identity(self) -> tuple[str, int]:
        return (self._node, self._uid)


class Replier(Protocol):
    """Where a `RemoteReplySlot` sends its answer: the link the ask came over."""

    def reply(self, corr: int, value: Any) -> None: ...
    def reply_error(self, corr: int, error: BaseException) -> None: ...


class RemoteReplySlot:
    """The answer slot of an ask that came from another node.

    It has the shape of a local slot (`set_result`, `set_exception`, `done`), so the
    cell answers it like any ask; the answer goes back as a `Reply` frame.

    `deadline` (this node's monotonic clock) is when the asker gives up. Past it the
    slot is `done()`: the engine skips a request whose slot is done when it comes to
    it, and an answer found too late is not sent. `on_expired(skipped)` counts each:
    ``skipped`` is True when the deadline had passed before anyone looked at the slot
    (the request was not handled), False when the answer came too late.
    """

    __slots__ = ("_clock", "_corr", "_deadline", "_done", "_looked", "_on_expired", "_replier")

    def __init__(
        self,
        replier: Replier,
        corr: int,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_expired: Callable[[bool], None] | None = None,
    ) -> None:
        self._replier = replier
        self._corr = corr
        self._done = False
        self._deadline = deadline
        self._clock = clock
        self._on_expired = on_expired
        self._looked = False

    def done(self) -> bool:
        # Looked at up to three times per ask (before the handler, after it, and by
        # `set_result`): one flat method and one read of a C clock each time.
        if self._done:
            return True
        deadline = self._deadline
        if deadline is not None and self._clock() > deadline:
            self._done = True
            if self._on_expired is not None:
                self._on_expired(not self._looked)  # True: nobody had looked yet
            return True
        self._looked = True
        return False

    def set_result(self, value: Any) -> None:
        if not self.done():
            self._done = True
            self._replier.reply(self._corr, value)

    def set_exception(self, error: BaseException) -> None:
        if not self.done():
            self._done = True
            self._replier.reply_error(self._corr, error)
