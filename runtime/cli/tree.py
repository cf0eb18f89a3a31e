"""``repertory tree``: draw a running node's live supervision tree."""

from __future__ import annotations

import argparse

from runtime.cli.client import connect

__all__ = ("run_tree",)


async def run_tree(args: argparse.Namespace) -> None:
    # The CLI is an application of all three packages, so it may draw with supervisors.
    from supervisors import graph_from_snapshot, render_text, to_dot, to_mermaid

    async with connect(args.address, args.cookie_file) as connection:
        snapshot = await connection.call("$snapshot")
    draw = {"text": render_text, "dot": to_dot, "mermaid": to_mermaid}[args.format]
    print(draw(graph_from_snapshot(snapshot)), flush=True)
