"""Errors raised by actors and the runtime; every one is an `ActorError`.

Each error keeps structured fields (the actor, the node, the timeout) and builds its
message in `__str__`, so it survives pickling between nodes and still says what
happened, to which actor, and what to do about it.
"""

from __future__ import annotations

import traceback

__all__ = (
    "ActorCrashedError",
    "ActorError",
    "ActorStoppedError",
    "ActorUnavailableError",
    "AskTimeoutError",
    "AuthenticationError",
    "MailboxFullError",
    "NameTakenError",
    "NodeDownError",
    "SerializationError",
    "StreamCorruptError",
    "UnroutableError",
)


class ActorError(Exception):
    """The root of every error that Repertory raises."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)

    def __reduce__(self) -> tuple[object, ...]:
        # Rebuild from the constructor's arguments, so the subclasses' fields and
        # their `__str__` survive pickle and cloudpickle between nodes.
        return (type(self), self.args)


class AskTimeoutError(ActorError, TimeoutError):
    """An ask got no answer within its timeout (also a `TimeoutError`)."""

    def __init__(self, actor: str, timeout: float, operation: str = "ask") -> None:
        super().__init__(actor, timeout, operation)
        self.actor = actor
        self.timeout = timeout
        self.operation = operation  # "ask", or "start" for `system.start`

    def __str__(self) -> str:
        if self.operation == "start":
            return (
                f"start of {self.actor} timed out after {self.timeout:g} s (it was stopped); "
                "raise timeout= or check that its on_start returns"
            )
        return (
            f"ask to {self.actor} timed out after {self.timeout:g} s; raise timeout= "
            "or check that the handler answers (return a value or use reply_later())"
        )


class ActorStoppedError(ActorError):
    """The actor had stopped (or stopped before it answered)."""

    def __init__(self, actor: str, detail: str = "") -> None:
        super().__init__(actor, detail)
        self.actor = actor
        self.detail = detail

    def __str__(self) -> str:
        detail = f" {self.detail}" if self.detail else ""
        return (
            f"actor {self.actor} is stopped{detail}; look it up again "
            "(system.registry.whereis) or watch it to learn when it stops"
        )


class ActorUnavailableError(ActorError):
    """The actor is down and waiting to be restarted by its supervisor."""

    def __init__(self, actor: str, detail: str = "") -> None:
        super().__init__(actor, detail)
        self.actor = actor
        self.detail = detail

    def __str__(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return (
            f"actor {self.actor} is unavailable{detail}: it failed and its supervisor "
            "is restarting it; retry later or degrade without it"
        )


class ActorCrashedError(ActorError):
    """The handler raised while answering an ask (or, from `system.start`, the actor's
    `__init__` or `on_start` raised); the original is `__cause__`.

    `error_type` and `remote_traceback` keep the original's type name and traceback
    text, so they survive a trip between nodes even when the type does not. `during`
    says what the actor was doing: ``"handling the message"`` or ``"starting"``.
    """

    def __init__(
        self,
        actor: str,
        error_type: str,
        error_text: str,
        remote_traceback: str = "",
        during: str = "handling the message",
    ) -> None:
        super().__init__(actor, error_type, error_text, remote_traceback, during)
        self.actor = actor
        self.error_type = error_type
        self.error_text = error_text
        self.remote_traceback = remote_traceback
        self.during = during

    @classmethod
    def from_error(
        cls, actor: str, error: BaseException, during: str = "handling the message"
    ) -> ActorCrashedError:
        """The error for `actor`, keeping `error` as its cause (an `ActorCrashedError`
        is returned as it is)."""
        if isinstance(error, ActorCrashedError):
            return error
        text = "".join(traceback.format_exception(error))
        crash = cls(actor, type(error).__qualname__, str(error), text, during)
        crash.__cause__ = error
        return crash

    def __str__(self) -> str:
        fix = "the handler" if self.during == "handling the message" else "__init__/on_start"
        return (
            f"actor {self.actor} crashed {self.during}: "
            f"{self.error_type}: {self.error_text}; see __cause__ (or remote_traceback) "
            f"and fix {fix}, or let a supervisor restart it"
        )


class MailboxFullError(ActorError):
    """A bounded mailbox with overflow="reject" had no room."""

    def __init__(self, actor: str, capacity: int) -> None:
        super().__init__(actor, capacity)
        self.actor = actor
        self.capacity = capacity

    def __str__(self) -> str:
        return (
            f"mailbox of {self.actor} is full ({self.capacity} messages); "
            "use `await ref.send(msg)` to wait for room, or raise the capacity"
        )


class NameTakenError(ActorError):
    """The name is registered to another live actor."""

    def __init__(self, name: str, holder: str) -> None:
        super().__init__(name, holder)
        self.name = name
        self.holder = holder

    def __str__(self) -> str:
        return (
            f"name {self.name!r} is taken by {self.holder}; pick another name or "
            "unregister it first"
        )


class NodeDownError(ActorError):
    """The node that hosts the actor went down or its link closed."""

    def __init__(self, node: str, detail: str = "") -> None:
        super().__init__(node, detail)
        self.node = node
        self.detail = detail

    def __str__(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return (
            f"node {self.node} is down{detail}; calls to its actors fail until it "
            "rejoins: retry after NodeUp or use another node"
        )


_SERIALIZE_ADVICE = (
    "send builtins or msgspec.Struct messages, or allow pickling between trusted nodes"
)


class SerializationError(ActorError):
    """A message could not be encoded or decoded for the wire."""

    def __init__(self, what: str, detail: str, advice: str = _SERIALIZE_ADVICE) -> None:
        super().__init__(what, detail, advice)
        self.what = what
        self.detail = detail
        self.advice = advice  # "" when `detail` already says what to do

    def __str__(self) -> str:
        advice = f"; {self.advice}" if self.advice else ""
        return f"cannot serialize {self.what}: {self.detail}{advice}"


_COOKIE_ADVICE = "check that both nodes use the same cookie and Repertory version"


class AuthenticationError(ActorError):
    """The cookie handshake with a peer failed."""

    def __init__(self, peer: str, reason: str, advice: str = _COOKIE_ADVICE) -> None:
        super().__init__(peer, reason, advice)
        self.peer = peer
        self.reason = reason
        self.advice = advice  # "" when `reason` already says what to do

    def __str__(self) -> str:
        advice = f"; {self.advice}" if self.advice else ""
        return f"handshake with {self.peer} failed: {self.reason}{advice}"


class UnroutableError(ActorError):
    """A mandatory publish reached no actor."""

    def __init__(self, exchange: str, key: str) -> None:
        super().__init__(exchange, key)
        self.exchange = exchange
        self.key = key

    def __str__(self) -> str:
        return (
            f"exchange {self.exchange!r} routed key {self.key!r} to no actor; bind a "
            "queue for it, name an alternate exchange, or publish without mandatory=True"
        )


class StreamCorruptError(ActorError):
    """A stream's file holds a record whose checksum fails where no crash could put it.

    `path` is the segment file, `position` the byte where the damage starts, `offsets`
    the first and last offset of the entries it covers (inclusive; ``(n, n - 1)`` when
    the damaged bytes held no entry) and `length` how many bytes are damaged.
    """

    def __init__(
        self, stream: str, path: str, position: int, offsets: tuple[int, int] | list[int],
        length: int = 0,
    ) -> None:
        first, last = offsets
        super().__init__(stream, path, position, [first, last], length)
        self.stream = stream
        self.path = path
        self.position = position
        self.offsets = (int(first), int(last))
        self.length = length

    def __str__(self) -> str:
        first, last = self.offsets
        if last < first:
            covers = f"no entry (between offsets {first - 1} and {first})"
        elif first == last:
            covers = f"the entry at offset {first}"
        else:
            covers = f"the entries at offsets {first} to {last}"
        return (
            f"stream {self.stream!r} is damaged: {self.length} bytes at position "
            f"{self.position} of {self.path} fail their checksum, covering {covers}; "
            "restore the file from a copy, or open the stream with on_corruption=\"skip\" "
            "to read every other entry"
        )
