"""`ActorRef`: the handle through which everything talks to an actor."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

__all__ = ("ActorRef", "tell_picked")

M = TypeVar("M", contravariant=True)


class ActorRef(Generic[M]):
    """A handle to one actor, local or on another node; refs come from `spawn()`.

    Refs are hashable and compare equal when they name the same actor (the same
    incarnation: a restarted actor keeps its ref, a new actor under an old name does
    not). They can be put inside messages and sent to other nodes.

    Delivery: messages from one sender to one actor arrive in the order they were sent.
    `tell` never waits; `send` waits for room in a bounded mailbox; `ask` waits for the
    answer up to its timeout, and cancelling the caller abandons the answer.

    >>> # counter = system.spawn(Counter, 10, name="counter")
    >>> # counter.tell(5); await counter.ask("get", timeout=1.0)  -> 15
    """

    __slots__ = ()

    def tell(self, message: M, sender: ActorRef[Any] | None = None) -> None:
        """Queue `message` for the actor and return at once (fire-and-forget).

        A message that cannot be delivered (the actor stopped, a full mailbox that
        drops) goes to dead letters. A full mailbox with ``overflow="reject"`` raises
        `MailboxFullError`.
        """
        raise NotImplementedError

    def tell_many(self, messages: Iterable[M]) -> None:
        """`tell` every message in order; between nodes they travel as one batch."""
        raise NotImplementedError

    async def send(self, message: M) -> None:
        """Queue `message`, waiting for room if the mailbox is bounded and full."""
        raise NotImplementedError

    async def ask(self, message: M, timeout: float | None = 5.0) -> Any:
        """Send `message` and wait for the answer (the handler's return value).

        Raises `AskTimeoutError` when no answer comes within `timeout` seconds (even if
        the handler never returns), `ActorCrashedError` when the handler raised (the
        original is `__cause__`), `ActorStoppedError` at once when the actor is stopped,
        `ActorUnavailableError` at once when it is down awaiting a restart, and
        `NodeDownError` when its node goes down. The return type is `Any` because the
        answer is whatever the handler returns for this message.
        """
        raise NotImplementedError

    @property
    def name(self) -> str | None:
        """The registered name the actor was spawned with, if any."""
        raise NotImplementedError

    @property
    def address(self) -> str:
        """Where the actor lives: ``node/name-or-id``, e.g. ``b@127.0.0.1:4002/cart``."""
        raise NotImplementedError

    @property
    def is_alive(self) -> bool:
        """Whether the actor was running when asked (a hint: it may stop right after)."""
        raise NotImplementedError

    def _identity(self) -> tuple[str, int]:
        raise NotImplementedError

    def _unwrap(self) -> ActorRef[Any]:
        """The plain ref under a wrapping one (a pool's, a dynamic supervisor's)."""
        return self

    @staticmethod
    def _tell_picked(
        pick: Callable[[], ActorRef[Any]],
    ) -> Callable[[Any, ActorRef[Any] | None], None]:
        """A `tell` to the ref `pick()` returns at each call (`lowlevel.tell_picked`).
        A kind of ref overrides it with one as cheap as its own `tell`, for when every
        ref `pick` returns is of that kind."""

        def tell(message: Any, sender: ActorRef[Any] | None = None) -> None:
            pick().tell(message, sender)

        return tell

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ActorRef):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __repr__(self) -> str:
        return f"<ActorRef {self.address}>"


def tell_picked(
    refs: Sequence[ActorRef[Any]], pick: Callable[[], ActorRef[Any]]
) -> Callable[[Any, ActorRef[Any] | None], None]:
    """A function ``tell(message, sender=None)`` that tells each message to the ref
    `pick()` returns then, one of `refs`: for a router that picks in the caller, as a
    pool's round_robin does with ``itertools.cycle(refs).__next__``.

    When every ref in `refs` is of one kind, the function is that kind's own (a local
    ref's costs one plain tell and the call to `pick`); otherwise it calls
    ``pick().tell(message, sender)``. It behaves as that `tell` in every case (a
    stopped actor's mail goes to dead letters, a full bounded mailbox drops or
    raises), so `pick` must return only refs from `refs`."""
    kinds = {type(ref) for ref in refs}
    kind = kinds.pop() if len(kinds) == 1 else ActorRef  # mixed (or none): the plain way
    return kind._tell_picked(pick)  # ActorRef's own hook, overridden by a kind of ref
