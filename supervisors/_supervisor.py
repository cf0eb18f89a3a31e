"""The running supervisor: an actor that starts its children and restarts them.

Restarts work as a queue of small operations (teardown, stop, recreate), done one at a
time: each waits until the child's reports (started, failed, torn down, terminated)
bring it to the status the operation aims for, so a group stops in reverse start order
and starts again in order, as in OTP. Back-off delays do not block the queue: a timer
adds the restart operations when it fires.

A child's status, as the supervisor sees it:

    starting -> running -> failed -> tearing_down -> down -> starting ...
                    \\-> stopping -> stopped (-> starting, as a new actor)

Reports that arrive for a child already being torn down, stopped or restarted are part
of that operation and start nothing new (OTP flushes such exits the same way).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

from actors import ActorRef
from actors.lowlevel import Parent, children
from supervisors._backoff import DEFAULT_DEGRADED_BACKOFF, Backoff
from supervisors._childspec import ChildSpec, TreeSpec
from supervisors._entry import Entry, Restart
from supervisors._events import DEGRADED, RECOVERED, Degraded, Recovered, RestartIntensityError
from supervisors._window import RestartWindow

__all__ = ("SupervisorActor",)

log = logging.getLogger("repertory.supervision")

Spec = ChildSpec
Op = tuple[str, "Entry", BaseException | None]

# The clock restart windows and back-off resets read; tests replace it.
_clock = time.monotonic

# What each operation waits for: the statuses that end it.
_TORN_DOWN = frozenset({"down", "stopped"})
_STARTED = frozenset({"running", "failed", "stopped"})
_STOPPED = frozenset({"stopped"})


class SupervisorActor(Parent[Any]):
    # The root guardian stops the whole system when a top-level supervisor gives up.
    stops_system_on_failure = True
    # A supervisor has started once its children have (`_run_ops` reports it).
    reports_started = True

    def __init__(self, spec: TreeSpec) -> None:
        self.spec = spec
        self.window = RestartWindow(spec.max_restarts, spec.within)
        self.entries = [Entry(child, spec.max_restarts, spec.within) for child in spec.children]
        self.by_ref: dict[ActorRef[Any], Entry] = {}
        self.ops: deque[Op] = deque()
        self.waiting: tuple[Entry, frozenset[str]] | None = None
        self.restarts = 0
        self.gave_up = False
        self.starting_up = True

        # Children are built here, while `system.spawn(tree)` runs, so that their refs
        # and names exist when it returns (mail to them waits). Their `on_start`s are
        # held back: `on_start` below runs them one after the other, as OTP does.
        try:
            for entry in self.entries:
                self._bind(entry, entry.spec.start(self.context, held=True))
                entry.status = "pending"
        except BaseException:
            # A child that cannot even be built fails the whole spawn; the ones already
            # built must not run on without their supervisor.
            for entry in self.entries:
                if entry.ref is not None:
                    children(self.context).stop_child(entry.ref, None)
            raise

    def on_start(self) -> None:
        """Start the children in list order, each once the one before has started."""
        self.ops.extend(("start", entry, None) for entry in self.entries)
        self._run_ops()

    def receive(self, message: Any) -> Any:
        if isinstance(message, Restart):
            for entry in message.entries:
                if entry.timer is message:  # not superseded by a later restart
                    entry.timer = None
                    self.ops.append(("recreate", entry, message.reason))
            self._run_ops()
        return None

    # -- reports from children (called by the engine) -------------------------------

    def on_child_started(self, ref: ActorRef[Any]) -> None:
        entry = self.by_ref.get(ref)
        if entry is None or self.gave_up or entry.status != "starting":
            return
        entry.status = "running"
        entry.started_at = _clock()
        if not entry.spec.critical:
            children(self.context).set_available(ref, True)
        if entry.degraded:
            entry.degraded = False
            self._publish(RECOVERED, Recovered(
                self.context.ref.address, ref.address, _clock() - entry.down_since
            ))
        self._progress()

    def on_child_torn_down(self, ref: ActorRef[Any]) -> None:
        entry = self.by_ref.get(ref)
        if entry is not None and entry.status == "tearing_down":
            entry.status = "down"
            self._progress()

    def on_child_failed(self, ref: ActorRef[Any], error: BaseException) -> None:
        entry = self.by_ref.get(ref)
        context = self.context
        if entry is None:
            children(context).report_failure(ref, error, "stop")
            children(context).stop_child(ref, error)
            return
        if self.gave_up or entry.status not in ("starting", "running"):
            # Already being torn down, stopped or restarted: that goes on.
            children(context).report_failure(ref, error, "stop" if self.gave_up else "restart")
            return
        entry.status = "failed"
        decision = "restart"  # with its group, whose restart is already queued
        if not self._covered(entry):
            if not entry.spec.critical:
                self._degrade(entry, error)
            try:
                decision = self._child_exited(entry, error)
            except RestartIntensityError:
                children(context).report_failure(ref, error, "escalate")
                raise
            if not entry.spec.critical and decision == "restart":
                decision = "degrade"  # asks fail at once until it is back
        children(context).report_failure(ref, error, decision)
        self._progress()

    def on_child_terminated(self, ref: ActorRef[Any], reason: BaseException | None) -> None:
        entry = self.by_ref.get(ref)
        if entry is None:
            return
        previous, entry.status = entry.status, "stopped"
        self.by_ref.pop(ref, None)
        # Only an exit of its own accord counts: a stop the supervisor asked for, or an
        # exit during a restart already under way (it is rebuilt with its group), does not.
        if (previous in ("starting", "running") and not entry.finished and not self.gave_up
                and not self._covered(entry)):
            self._child_exited(entry, reason)
        self._on_removed(entry)
        self._progress()

    def _on_removed(self, entry: Entry) -> None:
        """A child has terminated (DynamicSupervisor forgets it if it ended for good)."""

    def _covered(self, entry: Entry) -> bool:
        """Whether a group restart already queued will tear `entry` down and rebuild it:
        its own exit then starts nothing new, as OTP ignores exits of children it is
        restarting anyway."""
        return bool(self.ops) and any(op[0] == "teardown" and op[1] is entry
                                      for op in self.ops)

    # -- deciding ------------------------------------------------------------------

    def _child_exited(self, entry: Entry, reason: BaseException | None) -> str:
        """Apply the restart type, the intensity and the strategy to an exit; returns
        the decision (``restart`` or ``stop``; past the budget it raises)."""
        restart = entry.spec.restart
        if restart == "temporary" or (restart == "transient" and reason is None):
            entry.finished = True
            if entry.status == "failed":
                self.ops.append(("stop", entry, reason))
            return "stop"
        now = _clock()
        self.restarts += 1
        backoff = entry.spec.backoff
        if entry.window is not None:  # non-critical: restart it alone, never escalate
            if not entry.window.record(now):
                backoff = backoff or DEFAULT_DEGRADED_BACKOFF
            group = [entry]
        else:
            if not self.window.record(now):
                self._give_up(entry, reason)
            group = self._group(entry)
        self._restart(entry, group, self._delay(entry, backoff, now), reason)
        return "restart"

    def _restart(
        self, failed: Entry, group: list[Entry], delay: float, reason: BaseException | None
    ) -> None:
        """Queue the teardown of `group` (the failed child first, then the others in
        reverse start order) and its restart in start order, now or after `delay`."""
        if self.ops:
            # Operations still queued for these children are replaced by this restart.
            members = set(group)
            self.ops = deque(op for op in self.ops if op[1] not in members or op[0] == "stop")
        for member in [failed, *(m for m in reversed(group) if m is not failed)]:
            # A back-off restart this child waits for is replaced by this one; its timer
            # may still fire for others of its group, so it is left to run.
            member.timer = None
            if member.finished:
                continue
            if member.spec.restart == "temporary" and member is not failed:
                member.finished = True
                self.ops.append(("stop", member, None))
            else:
                self.ops.append(("teardown", member, reason))
        restarting = [member for member in group if not member.finished]
        if delay > 0:
            message = Restart(restarting, reason)
            self.context.send_after(delay, message)
            for member in restarting:
                member.timer = message
        else:
            self.ops.extend(("recreate", member, reason) for member in restarting)

    def _group(self, entry: Entry) -> list[Entry]:
        strategy = self.spec.strategy
        if strategy == "one_for_all":
            return list(self.entries)
        if strategy == "rest_for_one":
            return self.entries[self.entries.index(entry):]
        return [entry]

    @staticmethod
    def _delay(entry: Entry, backoff: Backoff | None, now: float) -> float:
        if backoff is None:
            return 0.0
        if entry.started_at and now - entry.started_at >= backoff.reset_after:
            entry.attempt = 0
        delay = backoff.delay(entry.attempt)
        entry.attempt += 1
        return delay

    def _degrade(self, entry: Entry, error: BaseException) -> None:
        """A non-critical child went down: fail asks to it at once, and say so once."""
        assert entry.ref is not None
        children(self.context).set_available(entry.ref, False)
        if not entry.degraded:
            entry.degraded = True
            entry.down_since = _clock()
            self._publish(DEGRADED, Degraded(
                self.context.ref.address, entry.ref.address, repr(error), entry.restarts
            ))

    def _give_up(self, entry: Entry, reason: BaseException | None) -> None:
        """Too many restarts: stop acting and fail, so the parent decides (OTP's
        shutdown on reached_max_restart_intensity); the parent's teardown or stop then
        stops the children, last started first."""
        self.gave_up = True
        self.ops.clear()
        error = RestartIntensityError(
            self.context.ref.address, self.spec.max_restarts, self.spec.within,
            entry.ref.address if entry.ref is not None else entry.spec.label,
        )
        # Not logged here: the supervisor's own failure is reported by its parent.
        raise error from reason

    # -- doing -----------------------------------------------------------------------

    def _run_ops(self) -> None:
        while self.waiting is None and self.ops and not self.gave_up:
            kind, entry, reason = self.ops.popleft()
            done = self._execute(kind, entry, reason)
            if done is not None:
                self.waiting = (entry, done)
        if self.starting_up and self.waiting is None and not self.gave_up:
            # Every child has started, or failed and is waiting out a back-off.
            self.starting_up = False
            children(self.context).report_started()

    def _execute(
        self, kind: str, entry: Entry, reason: BaseException | None
    ) -> frozenset[str] | None:
        """Start one operation; returns the statuses that end it, or None if done."""
        context = self.context
        status = entry.status
        if status == "pending":  # never started: nothing to tear down
            if kind == "teardown":
                return None
            if kind == "stop":
                entry.status = "stopping"
                children(context).stop_child(entry.ref, reason)  # type: ignore[arg-type]
                return _STOPPED
            entry.status = "starting"
            children(context).start_child(entry.ref)  # type: ignore[arg-type]
            return _STARTED
        if kind == "teardown":
            if status in ("running", "starting", "failed"):
                entry.status = "tearing_down"
                children(context).teardown_child(entry.ref, reason)  # type: ignore[arg-type]
            elif status not in ("tearing_down", "stopping"):
                return None
            return _TORN_DOWN
        if kind == "stop":
            if status == "stopped":
                return None
            if status != "stopping":
                entry.status = "stopping"
                children(context).stop_child(entry.ref, reason)  # type: ignore[arg-type]
            return _STOPPED
        # "start" or "recreate"
        if entry.finished:
            return None
        if status == "down":
            entry.status = "starting"
            entry.restarts += 1
            children(context).recreate_child(entry.ref, reason)  # type: ignore[arg-type]
            return _STARTED
        if status == "stopped" and self._spawn(entry):
            entry.restarts += kind == "recreate"
            return _STARTED
        return None

    def _spawn(self, entry: Entry) -> bool:
        """Start a new actor for `entry` (a new child, or one that stopped)."""
        try:
            ref = entry.spec.start(self.context, before=self._next_ref(entry))
        except Exception as error:
            self._spawn_failed(entry, error)
            return False
        self._bind(entry, ref)
        return True

    def _spawn_failed(self, entry: Entry, error: Exception) -> None:
        """Building the child raised: a failure like any other (it counts)."""
        decision = "escalate"
        try:
            decision = self._child_exited(entry, error)
        finally:
            log.error("supervisor %s: could not start child %s: %r; decision: %s",
                      self.context.ref.address, entry.spec.label, error, decision,
                      exc_info=(type(error), error, error.__traceback__),
                      extra={"actor": entry.spec.label, "decision": decision,
                             "supervisor": self.context.ref.address})

    def _bind(self, entry: Entry, ref: ActorRef[Any]) -> None:
        entry.ref = ref
        entry.status = "starting"
        self.by_ref[ref] = entry

    def _next_ref(self, entry: Entry) -> ActorRef[Any] | None:
        """The live sibling started after `entry`: a new actor goes before it, so that
        the children still stop in reverse start order."""
        found = False
        for other in self.entries:
            if found and other.ref is not None and other.status != "stopped":
                return other.ref
            found = found or other is entry
        return None

    def _progress(self) -> None:
        """A child's status changed: end the operation waiting for it, go on."""
        waiting = self.waiting
        if waiting is not None:
            if waiting[0].status not in waiting[1]:
                return
            self.waiting = None
        self._run_ops()

    def _publish(self, topic: str, message: Any) -> None:
        self.context.system.topics.publish(topic, message)

    def describe(self) -> dict[str, Any]:
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
                    "restarts": entry.restarts,
                }
                for entry in self.entries
                if entry.ref is not None
            },
        }
