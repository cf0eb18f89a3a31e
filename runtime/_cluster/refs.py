"""Refs to actors on other nodes, and answering asks that came over the wire."""

from __future__ import annotations

import json
import traceback
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from actors import ActorRef
from actors import errors as actor_errors
from actors.errors import (
    ActorCrashedError,
    ActorError,
    NodeDownError,
)
from runtime._wire.framing import RemoteError

if TYPE_CHECKING:
    from runtime._cluster.link import Link
    from runtime._cluster.remote import ClusterRemote

__all__ = (
    "RemoteRef", "RemoteReplySlot", "error_from_wire", "error_to_wire", "ref_text",
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


class RemoteRef(ActorRef[M]):
    """A ref to an actor on another node; messages travel over the link to it.

    Order is kept per sender-receiver pair (one link per pair of nodes). A `tell` to a
    node that is not linked goes to dead letters; an `ask` fails at once with
    `NodeDownError`, and when the node goes down while it waits.
    """

    __slots__ = ("_cluster", "_name", "_node", "_uid")

    def __init__(self, cluster: ClusterRemote, node: str, uid: int, name: str | None) -> None:
        self._cluster = cluster
        self._node = node
        self._uid = uid
        self._name = name

    @property
    def node(self) -> str:
        return self._node

    @property
    def uid(self) -> int:
        return self._uid

    def tell(self, message: M, sender: ActorRef[Any] | None = None) -> None:
        self._cluster.tell(self, message, sender)

    def tell_many(self, messages: Iterable[M]) -> None:
        self._cluster.tell_many(self, list(messages))

    async def send(self, message: M) -> None:
        # The link applies back-pressure on its own: past its high-water mark the
        # writer makes room before the frame is queued.
        await self._cluster.send(self, message)

    async def ask(self, message: M, timeout: float | None = 5.0) -> Any:
        return await self._cluster.ask(self, message, timeout)

    @property
    def name(self) -> str | None:
        return self._name

    @property
    def address(self) -> str:
        return f"{self._node}/{self._name if self._name is not None else f'${self._uid}'}"

    @property
    def is_alive(self) -> bool:
        return self._cluster.is_linked(self._node)

    def _identity(self) -> tuple[str, int]:
        return (self._node, self._uid)


class RemoteReplySlot:
    """The answer slot of an ask that came from another node.

    It has the shape of a local slot (`set_result`, `set_exception`, `done`), so the
    cell answers it like any ask; the answer goes back as a `Reply` frame.
    """

    __slots__ = ("_corr", "_done", "_link")

    def __init__(self, link: Link, corr: int) -> None:
        self._link = link
        self._corr = corr
        self._done = False

    def done(self) -> bool:
        return self._done

    def set_result(self, value: Any) -> None:
        if not self._done:
            self._done = True
            self._link.reply(self._corr, value)

    def set_exception(self, error: BaseException) -> None:
        if not self._done:
            self._done = True
            self._link.reply_error(self._corr, error_to_wire(error))


def error_to_wire(error: BaseException) -> RemoteError:
    """An error as a `Reply` carries it; `ActorError`s keep their class and fields."""
    if isinstance(error, ActorError) and type(error).__module__ == "actors.errors":
        try:
            return RemoteError(type(error).__name__, json.dumps(list(error.args)))
        except (TypeError, ValueError):
            pass
    text = "".join(traceback.format_exception(error))
    return RemoteError(type(error).__qualname__, str(error), text)


def error_from_wire(actor: str, error: RemoteError) -> Exception:
    """The exception an asker sees for a remote error."""
    cls = getattr(actor_errors, error.type_name, None)
    if isinstance(cls, type) and issubclass(cls, ActorError) and not error.traceback:
        try:
            rebuilt: Exception = cls(*json.loads(error.message))
            return rebuilt
        except (TypeError, ValueError):
            pass
    return ActorCrashedError(actor, error.type_name, error.message, error.traceback)


def node_down(node: str, detail: str) -> NodeDownError:
    return NodeDownError(node, detail)
