"""Log output for the command line: ``--log-level`` and ``--log-format text|json``.

The json format writes one object per line: ``time``, ``level``, ``logger``,
``message``, the crash report's fields when there are some (``actor``,
``actor_class``, ``message_type``, ``decision``, ``supervisor``) and ``traceback``.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import TextIO

__all__ = ("LEVELS", "JsonFormatter", "configure")

LEVELS = ("debug", "info", "warning", "error", "critical")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# What a crash report adds to its log record (see runtime._engine.crashes).
_FIELDS = ("actor", "actor_class", "message_type", "decision", "supervisor")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": round(record.created, 6),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in _FIELDS:
            if field in record.__dict__:
                entry[field] = record.__dict__[field]
        if record.exc_info:
            # A crash report comes with its traceback already rendered (exc_text).
            entry["traceback"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str, fmt: str, stream: TextIO | None = None) -> None:
    """Send every ``repertory.*`` (and other) record at `level` or above to `stream`
    (default: stderr), replacing the root logger's handlers."""
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Hypercorn's own lines (it is running, it stopped) are noise beside ours.
    logging.getLogger("repertory.web.server").setLevel(max(root.level, logging.WARNING))
