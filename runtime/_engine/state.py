"""`CellState`: one actor's engine-side state, its phase, and how mail reaches it.

An idle actor costs one cell, one ref and the user's instance: no task, and no mailbox
until mail arrives. Everything rarely used starts as None and is allocated on first
use. `runtime._engine.lifecycle` moves a cell through its `Phase`s, driven by the system
messages (`Signal`s) here; `runtime._engine.turn` runs its mail; `runtime._engine.cell`
adds the `Context` an actor sees. What a cell needs of its system is the `Host`.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from actors import Cancel, Context
from actors.errors import ActorStoppedError, ActorUnavailableError, MailboxFullError
from runtime._engine.envelope import Envelope

if TYPE_CHECKING:
    from actors import ActorRef
    from actors.mailbox import Mailbox
    from runtime._engine.dispatch import Dispatcher
    from runtime._engine.host import Host
    from runtime._engine.kernel import Kernel

__all__ = (
    "NOTHING",
    "START",
    "CellState",
    "ChildFailed",
    "ChildStarted",
    "ChildTerminated",
    "ChildTornDown",
    "Phase",
    "Recreate",
    "Signal",
    "Start",
    "Stop",
    "Teardown",
    "cell_label",
    "unavailable",
)


class Phase(enum.IntEnum):
    """Where a cell is in its life; ordered, so ``phase >= STOPPING`` means "takes no
    more mail" and ``phase <= SUSPENDED`` means "supervises its children"."""

    STARTING = 0  # built; its on_start (or on_restart) has not returned yet
    RUNNING = 1  # handles mail
    SUSPENDED = 2  # failed; its parent decides what happens
    TEARING_DOWN = 3  # first half of a restart: stopping its children, then on_stop
    DOWN = 4  # torn down, waiting for its parent to recreate it (or stop it)
    STOPPING = 5  # stopping its children, then on_stop
    STOPPED = 6  # terminated: watchers and parent told; it never runs again

    @property
    def label(self) -> str:
        """The status `system.snapshot()` shows."""
        return _LABELS[self]


_LABELS = {
    Phase.STARTING: "starting", Phase.RUNNING: "running", Phase.SUSPENDED: "suspended",
    Phase.TEARING_DOWN: "suspended", Phase.DOWN: "restarting", Phase.STOPPING: "stopping",
    Phase.STOPPED: "stopped",
}
RUNNING, STOPPING, STOPPED = Phase.RUNNING, Phase.STOPPING, Phase.STOPPED

# `CellState.current` when no message is being handled (None is a valid message).
NOTHING: Any = object()


# -- system messages: they overtake mail, and drive the phases ---------------------------


class Signal:
    """A system message; `runtime._engine.lifecycle.handle_signal` acts on each kind."""

    __slots__ = ()


@dataclass(slots=True)
class Start(Signal):
    """Run on_start."""


@dataclass(slots=True)
class Stop(Signal):
    """Stop after the current message (children first, then on_stop)."""

    reason: BaseException | None


@dataclass(slots=True)
class Teardown(Signal):
    """First half of a restart."""

    reason: BaseException | None


@dataclass(slots=True)
class Recreate(Signal):
    """Second half of a restart."""

    reason: BaseException | None


@dataclass(slots=True)
class ChildStarted(Signal):
    child: CellState


@dataclass(slots=True)
class ChildTornDown(Signal):
    child: CellState


@dataclass(slots=True)
class ChildFailed(Signal):
    child: CellState
    error: Exception


@dataclass(slots=True)
class ChildTerminated(Signal):
    child: CellState
    reason: BaseException | None


START = Start()  # one for every held-back start (`ChildControl.start_child`)
_NO_KWARGS: dict[str, Any] = {}


class CellState(Context):
    __slots__ = (
        "actor",
        "args",
        "behaviours",
        "child_cells",
        "current",
        "dispatcher",
        "factory",
        "failures",
        "fast",
        "handler",
        "handler_async",
        "held",
        "high_water_warned",
        "host",
        "kernel",
        "kwargs",
        "mailbox",
        "mailbox_spec",
        "name",
        "parent_cell",
        "processed",
        "ref",
        "restarts",
        "room_waiters",
        "scheduled",
        "scope",
        "shutdown_timeout",
        "start_due",
        "stashed",
        "state",
        "stop_deadline",
        "stop_reason",
        "stop_requested",
        "supervised",
        "sysmail",
        "timers",
        "uid",
        "unavailable",
        "watchers",
        "watching",
    )

    def __init__(
        self,
        host: Host[CellState],
        parent: CellState | None,
        factory: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None,
        mailbox: Mailbox | None,
        uid: int,
    ) -> None:
        self.host = host
        self.kernel: Kernel = host.kernel
        self.dispatcher: Dispatcher[CellState] = host.dispatcher
        self.parent_cell = parent
        self.factory = factory
        self.args = args
        # Most spawns pass no keyword arguments: share one empty dict (never mutated)
        # instead of keeping the fresh one every `spawn(...)` call builds.
        self.kwargs = kwargs if kwargs else _NO_KWARGS
        self.name = name
        self.uid = uid
        self.mailbox_spec = mailbox if mailbox is not None and mailbox.bounded else None
        self.ref: ActorRef[Any]  # set by whoever builds the cell (`runtime._engine.cell`)
        self.mailbox: deque[Any] | None = None
        self.sysmail: deque[Signal] | None = None
        # Its Start, not yet handled: a flag rather than a signal in `sysmail`, so that a
        # spawn allocates no deque (~600 bytes, freed after the first turn but not
        # given back to the OS: it showed as RSS per idle actor). The first turn
        # handles it before any signal queued after it (`turn.run`).
        self.start_due = False
        self.scheduled = False
        self.state = Phase.STARTING
        # The one test on the hot path of `tell`: True only while the cell takes mail
        # without checks (starting or running, unbounded mailbox, available). False is
        # always safe: `post` then checks everything.
        self.fast = self.mailbox_spec is None
        self.unavailable = False
        self.current: Any = NOTHING
        self.actor: Any = None
        # None once built: the actor's own `receive` (`lifecycle.set_handler`).
        self.handler: Callable[[Any], Any] | None = _not_started
        self.handler_async = False
        # Rarely used state starts as None and is allocated on first use, to keep an
        # idle actor small.
        self.behaviours: list[Callable[[Any], Any] | None] | None = None
        self.stashed: list[Any] | None = None
        # An ordered dict as an ordered set: O(1) removal, and the last child is at hand.
        self.child_cells: dict[CellState, None] | None = None
        self.watchers: set[CellState] | None = None
        self.watching: set[CellState] | None = None
        self.timers: set[Any] | None = None
        self.room_waiters: list[Any] | None = None
        self.stop_reason: BaseException | None = None
        self.shutdown_timeout: float | None = None
        # The timer that kills it past `shutdown_timeout` once its parent stops it
        # (`lifecycle.stop_child`); cancelled when it stops in time.
        self.stop_deadline: Cancel | None = None
        self.scope: Any = None
        self.restarts = 0
        # Messages handled (a failed one too) and failures, for `top` and metrics.
        self.processed = 0
        self.failures = 0
        self.stop_requested = False
        # Set for children of a `lowlevel.Parent`: it hears when this cell has
        # (re)started or torn down.
        self.supervised = False
        # Spawned with its Start held back by its parent (`ChildControl.start_child`).
        self.held = False
        # Its unbounded mailbox passed HIGH_WATER and was warned of (`turn._end_turn`).
        self.high_water_warned = False

    @property
    def label(self) -> str:
        """The actor's address, ``node/name`` or ``node/$uid`` (see `cell_label`).

        Computed when asked (errors, logs, snapshots), not kept: a string per idle
        actor costs ~60 bytes, and the node's name is fixed before any actor exists.
        """
        return cell_label(self.host.node, self.name, self.uid)

    @property
    def alive(self) -> bool:
        return self.state < STOPPING

    def set_fast(self) -> None:
        """Recompute `fast` after the phase or availability changed."""
        self.fast = self.state <= RUNNING and self.mailbox_spec is None and not self.unavailable

    # -- delivery ---------------------------------------------------------------------

    def post(self, item: Any) -> None:
        """Deliver a mailbox item in any phase, from any thread: the path a `tell` takes
        when the cell is not `fast` (`LocalRef.tell` inlines the fast case)."""
        kernel = self.kernel
        if kernel.threads and kernel.on_foreign_thread():
            kernel.call_soon_threadsafe(self.post, item)
            return
        if self.state >= STOPPING or self.unavailable:
            self.reject(item, "stopped" if self.state >= STOPPING else "unavailable")
            return
        mailbox = self.mailbox
        if mailbox is None:
            mailbox = self.mailbox = deque()
        spec = self.mailbox_spec
        if spec is not None and len(mailbox) >= spec.capacity:  # type: ignore[operator]
            if spec.overflow == "reject":
                raise MailboxFullError(self.label, spec.capacity or 0)
            if spec.overflow == "drop_new":
                self.reject(item, "mailbox full (drop_new)")
                return
            self.reject(mailbox.popleft(), "mailbox full (drop_old)")
        mailbox.append(item)
        if not self.scheduled:
            self.dispatcher.schedule(self)

    async def post_waiting(self, item: Any) -> None:
        """`post`, but wait for room in a full bounded mailbox instead of overflowing."""
        spec = self.mailbox_spec
        while (
            spec is not None
            and self.state < STOPPING
            and self.mailbox is not None
            and len(self.mailbox) >= spec.capacity  # type: ignore[operator]
        ):
            slot = self.kernel.slot()
            if self.room_waiters is None:
                self.room_waiters = []
            self.room_waiters.append(slot)
            await self.kernel.wait(slot, None)
        self.post(item)

    def post_signal(self, signal: Signal) -> None:
        """Queue a system message; it is handled before any mail."""
        if self.state == STOPPED:
            return
        if self.sysmail is None:
            self.sysmail = deque()
        self.sysmail.append(signal)
        if not self.scheduled:
            self.dispatcher.schedule(self)

    def reject(self, item: Any, reason: str) -> None:
        """An item that will not be handled: fail its ask, or send it to dead letters."""
        if type(item) is Envelope:
            if item.reply is not None:
                if not item.reply.done():
                    spec = self.mailbox_spec
                    # An ask dropped by a full mailbox: say so, not that the actor stopped.
                    error = (
                        MailboxFullError(self.label, spec.capacity or 0)
                        if spec is not None and reason.startswith("mailbox full")
                        else unavailable(self)
                    )
                    item.reply.set_exception(error)
                return
            item = item.message
        self.host.dead_letter(item, self.label, reason)

    def check_askable(self) -> None:
        if self.state >= STOPPING or self.unavailable:
            raise unavailable(self)

    def unstash_all(self) -> None:
        """Put stashed messages back at the front of the mailbox, in their order."""
        stashed, self.stashed = self.stashed, None
        if not stashed:
            return
        if self.mailbox is None:
            self.mailbox = deque()
        self.mailbox.extendleft(reversed(stashed))
        if self.state < STOPPING and not self.scheduled:
            self.dispatcher.schedule(self)

    def __repr__(self) -> str:
        return f"<Cell {self.label} {self.state.label}>"


def cell_label(node: str, name: str | None, uid: int) -> str:
    """An actor's address: ``node/name``, or ``node/$uid`` for an unnamed one."""
    return f"{node}/{name if name is not None else f'${uid}'}"


def unavailable(cell: CellState) -> Exception:
    """The error for an ask to `cell` that cannot be answered now."""
    if cell.unavailable:
        return ActorUnavailableError(cell.label)
    return ActorStoppedError(cell.label)


def _not_started(message: Any) -> Any:
    raise RuntimeError("actor handled a message before it started")
