"""The table `repertory top` prints: actors with mailbox sizes, rates, restarts, status."""

from __future__ import annotations

from typing import Any

__all__ = ("render_top",)


def render_top(snapshot: list[Any], previous: dict[str, int], interval: float) -> str:
    """A table of `snapshot`; `previous` (updated) holds processed counts for rates."""
    rows = [("ACTOR", "TYPE", "STATUS", "MAILBOX", "MSG/S", "RESTARTS")]
    for info in snapshot:
        processed = int(info.details.get("processed", 0)) if info.details else 0
        rate = max(processed - previous.get(info.address, processed), 0) / interval
        previous[info.address] = processed
        rows.append((info.address, info.actor_type, info.status, str(info.mailbox),
                     f"{rate:.0f}", str(info.restarts)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                     for row in rows)
