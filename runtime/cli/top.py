"""``repertory top``: a node's actors with mailbox sizes, real rates, restarts, status.

One connection for the whole run; each refresh asks the node for a snapshot and
computes each actor's rate from how many more messages it has handled (`processed`)
since the last one, over the time that really passed. On a terminal the table is
redrawn in place; piped, each refresh is printed after the last.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import anyio

from runtime.cli.client import connect

__all__ = ("Rates", "render_top", "run_top")

HOME_AND_CLEAR = "\x1b[H\x1b[2J"
COLUMNS = ("ACTOR", "TYPE", "STATUS", "MAILBOX", "MSG/S", "HANDLED", "FAILURES", "RESTARTS")


class Rates:
    """Messages per second per actor, from successive snapshots' `processed` counts."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}
        self._when: float | None = None

    def update(self, snapshot: list[Any], now: float) -> dict[str, float | None]:
        """Rates since the previous `update` (None for an actor not seen before)."""
        elapsed = None if self._when is None else max(now - self._when, 1e-9)
        rates: dict[str, float | None] = {}
        seen: dict[str, int] = {}
        for info in snapshot:
            before = self._seen.get(info.address)
            seen[info.address] = info.processed
            rates[info.address] = (
                None if before is None or elapsed is None
                else max(info.processed - before, 0) / elapsed
            )
        self._seen, self._when = seen, now
        return rates


def render_top(snapshot: list[Any], rates: dict[str, float | None], title: str = "") -> str:
    """The table: one row per actor, columns as `COLUMNS`; '-' where no rate is known."""
    rows = [COLUMNS]
    for info in snapshot:
        rate = rates.get(info.address)
        rows.append((info.address, info.actor_type, info.status, str(info.mailbox),
                     "-" if rate is None else f"{rate:.0f}", str(info.processed),
                     str(info.failures), str(info.restarts)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             .rstrip() for row in rows]
    return "\n".join([title, *lines] if title else lines)


async def run_top(args: argparse.Namespace) -> None:
    in_place = sys.stdout.isatty() and not args.once
    rates = Rates()
    async with connect(args.address, args.cookie_file) as connection:
        # The first sample only sets the counts the first rates are measured from.
        rates.update(await connection.call("$snapshot"), time.monotonic())
        while True:
            await anyio.sleep(args.interval)
            snapshot = await connection.call("$snapshot")
            current = rates.update(snapshot, time.monotonic())
            title = (f"{connection.node}  {len(snapshot)} actors  "
                     f"{time.strftime('%H:%M:%S')}  (every {args.interval:g} s)")
            table = render_top(snapshot, current, title)
            if in_place:
                sys.stdout.write(HOME_AND_CLEAR + table + "\n")
            else:
                sys.stdout.write(table + "\n\n")
            sys.stdout.flush()
            if args.once:
                return
