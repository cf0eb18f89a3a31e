"""``repertory members``: the cluster as one node sees it, with each peer's health."""

from __future__ import annotations

import argparse

# Imported, not only named in a type: the codec resolves a MemberInfo that a node sends
# only to a class of a module already imported here (it never imports one for a peer).
from runtime._cluster.members import MemberInfo
from runtime.cli.client import connect

__all__ = ("render_members", "run_members")

COLUMNS = ("NODE", "STATUS", "PHI", "LINK AGE", "LAST HEARTBEAT", "IN", "OUT")


def render_members(members: list[MemberInfo], hide: str | None = None) -> str:
    """A table of `MemberInfo`s; `hide` leaves out one node (the command's own)."""
    rows = [COLUMNS]
    for member in members:
        if member.node == hide:
            continue
        if member.status == "self":
            rows.append((member.node, "self", "-", "-", "-", "-", "-"))
            continue
        rows.append((member.node, member.status, f"{member.phi:.2f}", _age(member.link_age),
                     f"{member.last_heartbeat:.1f} s ago", _bytes(member.bytes_in),
                     _bytes(member.bytes_out)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                     .rstrip() for row in rows)


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "kB", "MB"):
        if size < 1024:
            return f"{size:.0f} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


async def run_members(args: argparse.Namespace) -> None:
    async with connect(args.address, args.cookie_file) as connection:
        members = await connection.call("$members")
        print(render_members(members, hide=connection.system.address), flush=True)
