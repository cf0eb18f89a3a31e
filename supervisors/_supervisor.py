"""The running supervisor: an actor that starts its children and restarts them.

Restarts work as a queue of small operations (teardown, stop, recreate), done one at a
time: each waits for the child's report (torn down, started, terminated) before the next
begins, so a group stops in reverse start order and starts again in order, as in OTP.
Back-off delays do not block the queue: a timer adds the restart operations when it
fires.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

from actors import Actor, ActorRef
from supervisors._backoff import Backoff
from supervisors._events import DEGRADED, RECOVERED, Degraded, Recovered, RestartIntensityError
from supervisors._spec import DEFAULT_DEGRADED_BACKOFF, Child, Supervisor
from supervisors._window import RestartWindow

__all__ = ("SupervisorActor",)

log = logging.getLogger("repertory.supervisors")

Spec = Child | Supervisor


class _Entry:
    """One child slot of a running supervisor."""

    __slots__ = ("attempt", "degraded", "down_since", "finished", "ref", "spec",
                 "started_at", "status", "stopping", "window")

    def __init__(self, spec: Spec, max_restarts: int, within: float) -> None:
        self.spec = spec
        self.ref: ActorRef[Any] | None = None
        # starting | running | failed | down | stopped
        self.status = "stopped"
        self.finished = False  # ended for good (temporary, or transient that exited)
        self.stopping = False  # the supervisor itself asked it to stop
        self.attempt = 0
        self.started_at = 0.0
        self.degraded = False
        self.down_since = 0.0
        # A non-critical child's own budget: it never counts toward the supervisor's.
        self.window = None if spec.critical else RestartWindow(max_restarts, within)


class _Restart:
    """The back-off timer's message to the supervisor itself."""

    __slots__ = ("entries", "reason")

    def __init__(self, entries: list[_Entry], reason: BaseException | None) -> None:
        self.entries = entries
        self.reason = reason


class SupervisorActor(Actor[Any]):
    # The root guardian stops the whole system when a top-level supervisor gives up.
    _stops_system_on_failure = True

    def __init__(self, spec: Supervisor) -> None:
        self.spec = spec
        self.window = RestartWindow(spec.max_restarts, spec.within)
        self.entries = [_Entry(child, spec.max_restarts, spec.within) for child in spec.children]
        self.ops: deque[tuple[str, _Entry, BaseException | None]] = deque()
        self.waiting: tuple[str, ActorRef[Any]] | None = None
        self.restarts = 0

        # Children are spawned here, while `system.spawn(tree)` runs, so that their refs
        # and names exist when it returns. Their `on_start`s run in list order, each
        # before its first message, as the dispatcher takes them in spawn order.
        for entry in self.entries:
            entry.ref = entry.spec.start(self.context)
            entry.status = "starting"

    def receive(self, message: Any) -> Any:
        if isinstance(message, _Restart):
            for entry in message.entries:
                self.ops.append(("recreate", entry, message.reason))
            self._run_ops()
        return None

    # -- reports from children (called by the engine) -------------------------------

    def _on_child_started(self, ref: ActorRef[Any]) -> None:
        entry = self._entry(ref)
        if entry is not None:
            entry.status = "running"
            entry.started_at = time.monotonic()
            if entry.degraded or entry.window is not None:
                self.context._set_available(ref, True)
            if entry.degraded:
                entry.degraded = False
                self._publish(RECOVERED, Recovered(
                    self.context.ref.address, ref.address, time.monotonic() - entry.down_since
                ))
        self._settle("started", ref)

    def _on_child_torn_down(self, ref: ActorRef[Any]) -> None:
        entry = self._entry(ref)
        if entry is not None:
            entry.status = "down"
        self._settle("torn_down", ref)

    def _on_child_failed(self, ref: ActorRef[Any], error: BaseException) -> None:
        entry = self._entry(ref)
        if entry is None:
            self.context._stop_child(ref, error)
            return
        log.info("supervisor %s: child %s failed: %r", self.context.ref.address, ref.address, error)
        entry.status = "failed"
        if not entry.spec.critical:
            self.context._set_available(ref, False)
            if not entry.degraded:
                entry.degraded = True
                entry.down_since = time.monotonic()
                self._publish(DEGRADED, Degraded(
                    self.context.ref.address, ref.address, repr(error), self.restarts
                ))
        self._settle(None, ref)
        self._child_exited(entry, error)
        self._run_ops()

    def _on_child_terminated(self, ref: ActorRef[Any], reason: BaseException | None) -> None:
        entry = self._entry(ref)
        if entry is None:
            return
        entry.status = "stopped"
        self._settle(None, ref)
        if entry.stopping:
            entry.stopping = False
        elif not entry.finished:
            self._child_exited(entry, reason)
        self._on_removed(entry)
        self._run_ops()

    def _on_removed(self, entry: _Entry) -> None:
        """A child ended for good (DynamicSupervisor forgets it)."""

    # -- deciding ------------------------------------------------------------------

    def _child_exited(self, entry: _Entry, reason: BaseException | None) -> None:
        """Apply the restart type, the intensity and the strategy to an exit."""
        restart = entry.spec.restart
        if restart == "temporary" or (restart == "transient" and reason is None):
            entry.finished = True
            if entry.status == "failed":
                self.ops.append(("stop", entry, reason))
            return
        now = time.monotonic()
        backoff = entry.spec.backoff
        if entry.window is not None:  # non-critical: restart it alone, never escalate
            if not entry.window.record(now):
                backoff = backoff or DEFAULT_DEGRADED_BACKOFF
            group = [entry]
        else:
            if not self.window.record(now):
                self._give_up(entry, reason)
            group = self._group(entry)
        self.restarts += 1
        delay = self._delay(entry, backoff, now)
        for member in reversed(group):
            if member.finished:
                continue
            if member.spec.restart == "temporary" and member is not entry:
                member.finished = True
                self.ops.append(("stop", member, None))
            else:
                self.ops.append(("teardown", member, reason))
        members = [member for member in group if not member.finished]
        if delay > 0:
            self.context.send_after(delay, _Restart(members, reason))
        else:
            self.ops.extend(("recreate", member, reason) for member in members)

    def _group(self, entry: _Entry) -> list[_Entry]:
        strategy = self.spec.strategy
        if strategy == "one_for_all":
            return list(self.entries)
        if strategy == "rest_for_one":
            return self.entries[self.entries.index(entry):]
        return [entry]

    @staticmethod
    def _delay(entry: _Entry, backoff: Backoff | None, now: float) -> float:
        if backoff is None:
            return 0.0
        if entry.started_at and now - entry.started_at >= backoff.reset_after:
            entry.attempt = 0
        delay = backoff.delay(entry.attempt)
        entry.attempt += 1
        return delay

    def _give_up(self, entry: _Entry, reason: BaseException | None) -> None:
        error = RestartIntensityError(
            self.context.ref.address, self.spec.max_restarts, self.spec.within,
            entry.ref.address if entry.ref is not None else entry.spec.label,
        )
        log.error("%s", error)
        raise error from reason

    # -- doing -----------------------------------------------------------------------

    def _run_ops(self) -> None:
        while self.waiting is None and self.ops:
            kind, entry, reason = self.ops.popleft()
            self.waiting = self._execute(kind, entry, reason)

    def _execute(
        self, kind: str, entry: _Entry, reason: BaseException | None
    ) -> tuple[str, ActorRef[Any]] | None:
        context = self.context
        ref = entry.ref
        if kind == "start" or (kind == "recreate" and entry.status == "stopped"):
            if entry.finished:
                return None
            entry.ref = entry.spec.start(context)
            entry.status = "starting"
            return ("started", entry.ref)
        if ref is None:
            return None
        if kind == "recreate" and entry.status == "down":
            entry.status = "starting"
            context._recreate_child(ref, reason)
            return ("started", ref)
        if kind == "teardown" and entry.status in ("running", "starting", "failed"):
            context._teardown_child(ref, reason)
            return ("torn_down", ref)
        if kind == "stop" and entry.status != "stopped":
            entry.stopping = True
            context._stop_child(ref, reason)
            return ("terminated", ref)
        return None

    def _settle(self, report: str | None, ref: ActorRef[Any]) -> None:
        """A child reported; if the current operation waited for it, go on.

        `report=None` (it failed or terminated) ends any wait on that child.
        """
        waiting = self.waiting
        if waiting is not None and waiting[1] == ref and report in (None, waiting[0]):
            self.waiting = None
            self._run_ops()

    def _entry(self, ref: ActorRef[Any]) -> _Entry | None:
        for entry in self.entries:
            if entry.ref == ref:
                return entry
        return None

    def _publish(self, topic: str, message: Any) -> None:
        self.context.system.topics.publish(topic, message)

    def _describe(self) -> dict[str, Any]:
        """What `live_graph` shows for this supervisor."""
        return {
            "kind": self.spec.kind,
            "strategy": self.spec.strategy,
            "restart_budget": f"{self.spec.max_restarts}/{self.spec.within:g}s",
            "children_specs": {
                entry.ref: {
                    "restart": entry.spec.restart,
                    "critical": entry.spec.critical,
                    "degraded": entry.degraded,
                }
                for entry in self.entries
                if entry.ref is not None
            },
        }
