"""Crash reports: every actor failure, logged once with what was decided about it.

A failure has two halves that happen at different moments: the engine sees the handler
(or a hook) raise, and then whoever supervises the actor decides what to do about it.
The engine notes the first half (`CrashLog.failed`: the message type being handled, the
actor's class); the decider completes it (`CrashLog.decided`), which logs the report
once at ERROR, with the traceback, and keeps it among the `recent` ones for the web
view. Supervisors decide through `Context._report_failure` (logger
``repertory.supervision``); the engine decides for actors that nothing supervises
(logger ``repertory.actors``). The traceback is rendered once per failure
(`format_traceback`), and that one text serves the report and every log handler.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from collections import deque
from types import CodeType
from typing import Any, Protocol

import msgspec

from runtime._engine.envelope import Envelope

__all__ = ("ACTORS_LOG", "SUPERVISION_LOG", "CrashLog", "CrashReport", "format_traceback",
           "message_type")

ACTORS_LOG = logging.getLogger("repertory.actors")
SUPERVISION_LOG = logging.getLogger("repertory.supervision")


class Cell(Protocol):
    """What a crash report reads of the cell that failed (`runtime._cell.Cell`)."""

    @property
    def label(self) -> str: ...
    @property
    def actor(self) -> Any: ...


class CrashReport(msgspec.Struct, frozen=True):
    """One actor failure and the decision taken about it.

    `message_type` is the type name of the message being handled (never its content),
    or None when a hook (`on_start`, `on_restart`, a supervision hook) raised.
    `decision` is ``restart``, ``stop``, ``escalate`` or ``degrade``.
    """

    time: float
    address: str
    actor_type: str
    message_type: str | None
    error: str
    decision: str
    decided_by: str | None
    traceback: str


class CrashLog:
    """The failures of one system: counted, the last `keep` kept, each logged once."""

    def __init__(self, keep: int = 50) -> None:
        self.count = 0
        self.recent: deque[CrashReport] = deque(maxlen=keep)
        # Failures whose decision has not come yet: cell -> (actor type, message type).
        self._pending: dict[Cell, tuple[str, str | None]] = {}

    def failed(self, cell: Cell, message_type: str | None) -> None:
        """The engine saw `cell` fail while handling a `message_type` (None: in a hook)."""
        self.count += 1
        actor = cell.actor
        self._pending[cell] = (type(actor).__qualname__ if actor is not None else "?",
                               message_type)

    def decided(self, cell: Cell, error: BaseException, decision: str,
                decided_by: str | None) -> CrashReport:
        """Log `cell`'s failure with `decision` (once) and keep the report."""
        pending = self._pending.pop(cell, None)
        actor_type, message_type = pending if pending is not None else (
            type(cell.actor).__qualname__ if cell.actor is not None else "?", None)
        text = format_traceback(error)
        report = CrashReport(
            time=time.time(), address=cell.label, actor_type=actor_type,
            message_type=message_type, error=_short(error), decision=decision,
            decided_by=decided_by, traceback=text,
        )
        self.recent.append(report)
        logger = SUPERVISION_LOG if decided_by is not None else ACTORS_LOG
        if logger.isEnabledFor(logging.ERROR):
            handling = f"handling a {message_type}" if message_type else "in a hook"
            by = f" by {decided_by}" if decided_by else ""
            # The record `logger.error(..., exc_info=...)` would make, with its exc_text
            # filled in: logging's Formatter renders exc_info only while exc_text is
            # empty, so the traceback already rendered above is not rendered again.
            where = logger.findCaller()
            record = logger.makeRecord(
                logger.name, logging.ERROR, where[0], where[1],
                "actor %s (%s) failed %s: %s; decision%s: %s",
                (cell.label, actor_type, handling, report.error, by, decision),
                (type(error), error, error.__traceback__), where[2],
                {"actor": cell.label, "actor_class": actor_type,
                 "message_type": message_type, "decision": decision,
                 "supervisor": decided_by},
            )
            record.exc_text = text[:-1] if text.endswith("\n") else text  # as logging's
            logger.handle(record)
        return report

    def forget(self, cell: Cell) -> None:
        """`cell` terminated: a decision that never came will not come now."""
        if self._pending:
            self._pending.pop(cell, None)


def message_type(item: Any) -> str:
    """The type name of the message in a mailbox item (an ask's `Envelope` or a tell)."""
    message = item.message if type(item) is Envelope else item
    return type(message).__qualname__


# Rendered stacks by where they ran: (code, instruction) per traceback entry. A crash
# loop fails at the same place every time, and rendering a stack (source lines, column
# carets found by parsing each line) costs far more than the rest of a restart.
_STACKS: dict[tuple[tuple[CodeType, int], ...], str] = {}
_STACKS_KEPT = 256


def format_traceback(error: BaseException) -> str:
    """``"".join(traceback.format_exception(error))``, the same text, made cheaper for
    a failure that repeats: a plain exception (no cause, context or group) raised where
    one was raised before reuses that rendering of its stack. Source lines are those
    `linecache` held when the place first failed."""
    tb = error.__traceback__
    if (tb is None or error.__cause__ is not None
            or (error.__context__ is not None and not error.__suppress_context__)
            or isinstance(error, (BaseExceptionGroup, SyntaxError))
            or getattr(sys, "tracebacklimit", None) is not None):
        return "".join(traceback.format_exception(error))
    places = []
    while tb is not None:
        places.append((tb.tb_frame.f_code, tb.tb_lasti))
        tb = tb.tb_next
    key = tuple(places)
    stack = _STACKS.get(key)
    if stack is None:
        summary = traceback.TracebackException.from_exception(error, compact=True).stack
        stack = "".join(summary.format())
        if len(_STACKS) >= _STACKS_KEPT:
            del _STACKS[next(iter(_STACKS))]  # the oldest
        _STACKS[key] = stack
    return "Traceback (most recent call last):\n" + stack + _exception_lines(error)


def _exception_lines(error: BaseException) -> str:
    """`traceback.format_exception_only(error)`, joined: that builds a whole
    TracebackException, which costs more than the rest of a cached rendering."""
    if getattr(error, "__notes__", None) is not None:
        return "".join(traceback.format_exception_only(error))
    kind = type(error)
    name = kind.__qualname__
    module = kind.__module__
    if module not in ("__main__", "builtins"):
        name = f"{module if isinstance(module, str) else '<unknown>'}.{name}"
    try:
        text = str(error)
    except Exception:
        text = "<exception str() failed>"
    return f"{name}: {text}\n" if text else f"{name}\n"


def _short(error: BaseException) -> str:
    text = f"{type(error).__qualname__}: {error}" if str(error) else type(error).__qualname__
    return text if len(text) <= 300 else text[:297] + "..."
