"""Dynamic supervisors: children added and removed at run time (one_for_one)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

import msgspec

from actors import ActorRef, Reply
from actors.errors import ActorError, ActorStoppedError
from actors.lowlevel import children, crashed, identity, unwrap
from supervisors._childspec import ChildSpec, DynamicTreeSpec
from supervisors._entry import Entry
from supervisors._supervisor import SupervisorActor

__all__ = ("ChildInfo", "DynamicSupervisorRef", "MaxChildrenError")


class MaxChildrenError(ActorError):
    """A DynamicSupervisor already runs `max_children` children."""

    def __init__(self, supervisor: str, max_children: int) -> None:
        super().__init__(supervisor, max_children)
        self.supervisor = supervisor
        self.max_children = max_children

    def __str__(self) -> str:
        return (
            f"supervisor {self.supervisor} already runs its max_children="
            f"{self.max_children}; terminate a child first or raise max_children"
        )


class ChildInfo(msgspec.Struct, frozen=True):
    """One child of a supervisor, as `which_children()` reports it."""

    name: str
    ref: ActorRef[Any]
    status: str
    restart: str
    critical: bool


class _StartChild(msgspec.Struct, frozen=True):
    child: ChildSpec


class _TerminateChild(msgspec.Struct, frozen=True):
    ref: ActorRef[Any]


class _WhichChildren(msgspec.Struct, frozen=True):
    pass


class _Refused:
    """An answer that the calling side raises: the supervisor itself must not fail."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class DynamicSupervisorActor(SupervisorActor):
    def __init__(self, spec: DynamicTreeSpec) -> None:
        super().__init__(spec)
        self.max_children = spec.max_children
        self.starting: dict[Entry, Reply] = {}
        self.terminating: dict[Entry, list[Reply]] = {}

    def receive(self, message: Any) -> Any:
        if isinstance(message, _StartChild):
            return self._start_child(message.child)
        if isinstance(message, _TerminateChild):
            return self._terminate_child(message.ref)
        if isinstance(message, _WhichChildren):
            return [
                ChildInfo(e.spec.label, e.ref, e.status, e.spec.restart, e.spec.critical)
                for e in self.entries
                if e.ref is not None and not e.finished
            ]
        return super().receive(message)

    def _start_child(self, child: ChildSpec) -> _Refused | None:
        if self.max_children is not None:
            live = sum(1 for entry in self.entries if not entry.finished)
            if live >= self.max_children:
                return _Refused(MaxChildrenError(self.context.ref.address, self.max_children))
        entry = Entry(child, self.spec.max_restarts, self.spec.within)
        self.entries.append(entry)
        self.starting[entry] = self.context.reply_later()
        self.ops.append(("start", entry, None))
        self._run_ops()
        return None

    def _terminate_child(self, ref: ActorRef[Any]) -> bool | None:
        entry = self.by_ref.get(ref)
        if entry is None or entry.status == "stopped":
            return False
        self._refuse_start(entry, ActorStoppedError(ref.address, "terminated before it started"))
        entry.timer = None  # a back-off restart it waited for no longer applies
        entry.finished = True
        self.terminating.setdefault(entry, []).append(self.context.reply_later())
        self.ops = deque(op for op in self.ops if op[1] is not entry)
        self.ops.append(("stop", entry, None))
        self._progress()
        return None

    def _refuse_start(self, entry: Entry, error: BaseException) -> None:
        reply = self.starting.pop(entry, None)
        if reply is not None:
            reply.send(_Refused(error))

    def _spawn_failed(self, entry: Entry, error: Exception) -> None:
        if entry not in self.starting:
            super()._spawn_failed(entry, error)
            return
        # start_child could not even build the child: the caller gets the error.
        self._refuse_start(entry, error)
        entry.finished = True
        self.entries.remove(entry)

    def on_child_started(self, ref: ActorRef[Any]) -> None:
        super().on_child_started(ref)
        entry = self.by_ref.get(ref)
        if entry is not None and entry.status == "running":
            reply = self.starting.pop(entry, None)
            if reply is not None:
                reply.send(ref)

    def on_child_failed(self, ref: ActorRef[Any], error: BaseException) -> None:
        entry = self.by_ref.get(ref)
        if entry is None or entry not in self.starting or entry.status != "starting":
            super().on_child_failed(ref, error)
            return
        # It failed in on_start: as OTP's start_child, report it and do not keep it.
        children(self.context).report_failure(ref, error, "stop")
        self._refuse_start(entry, crashed(ref.address, error))
        entry.status = "failed"
        entry.finished = True
        self.ops.append(("stop", entry, error))
        self._progress()

    def _on_removed(self, entry: Entry) -> None:
        if not entry.finished:
            return
        if entry in self.entries:
            self.entries.remove(entry)
        self._refuse_start(entry, ActorStoppedError(entry.spec.label, "before it started"))
        for reply in self.terminating.pop(entry, ()):
            reply.send(True)


class DynamicSupervisorRef(ActorRef[Any]):
    """The ref of a running `DynamicSupervisor`, with its calls.

    It compares equal to the supervisor's plain ref and can be used as one.
    """

    __slots__ = ("_ref",)

    def __init__(self, ref: ActorRef[Any]) -> None:
        self._ref = ref

    async def start_child(self, child: ChildSpec, timeout: float = 5.0) -> ActorRef[Any]:
        """Start `child` and return its ref once its `on_start` has run.

        Raises `MaxChildrenError` when full, `NameTakenError` when its name is taken,
        and `ActorCrashedError` when its `on_start` raised (the child is then not kept,
        as with OTP's start_child).
        """
        answer = await self._ref.ask(_StartChild(child), timeout=timeout)
        if isinstance(answer, _Refused):
            raise answer.error
        ref: ActorRef[Any] = answer
        return ref

    async def terminate_child(self, ref: ActorRef[Any], timeout: float = 5.0) -> bool:
        """Stop `ref` for good (no restart); False if it is not a child here."""
        return bool(await self._ref.ask(_TerminateChild(ref), timeout=timeout))

    async def which_children(self, timeout: float = 5.0) -> list[ChildInfo]:
        """The children with their status, in start order (not those ended for good or
        being terminated)."""
        children: list[ChildInfo] = await self._ref.ask(_WhichChildren(), timeout=timeout)
        return children

    # -- an ActorRef that forwards to the supervisor's own ref ------------------------

    def tell(self, message: Any, sender: ActorRef[Any] | None = None) -> None:
        self._ref.tell(message, sender)

    def tell_many(self, messages: Iterable[Any]) -> None:
        self._ref.tell_many(messages)

    async def send(self, message: Any) -> None:
        await self._ref.send(message)

    async def ask(self, message: Any, timeout: float | None = 5.0) -> Any:
        return await self._ref.ask(message, timeout)

    @property
    def name(self) -> str | None:
        return self._ref.name

    @property
    def address(self) -> str:
        return self._ref.address

    @property
    def is_alive(self) -> bool:
        return self._ref.is_alive

    def _identity(self) -> tuple[str, int]:
        return identity(self._ref)

    def _unwrap(self) -> ActorRef[Any]:
        return unwrap(self._ref)
