"""What the web view shows, read from a running system at the moment it is asked for.

`cluster_state` gathers this node's view (members and their health, dead letters,
crash reports, stream lag) and every member's live tree (this node's from its own
snapshot, the others' through the ``$snapshot`` service that ``repertory tree`` uses).
Nothing here is kept between requests, and reading it costs actors nothing.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import msgspec

from runtime._cluster.members import MemberInfo, describe_members
from runtime._system import ActorSystem

__all__ = ("cluster_state", "members_of", "node_tree", "stream_lags")

RECENT = 20  # dead letters and crash reports shown
TRACEBACK_LINES = 12


def members_of(system: ActorSystem) -> list[MemberInfo]:
    """Members with their health as this node sees them (itself alone when not a node)."""
    if not system.clustered:
        return [MemberInfo(system.address, "self")]
    return describe_members(system.cluster)


def node_tree(snapshot: list[Any]) -> list[dict[str, Any]]:
    """A snapshot as rows, parents before children, with what `repertory tree` shows
    (restarts as the supervisor counts them, kind, strategy, critical, degraded)."""
    from supervisors import graph_from_snapshot

    graph = graph_from_snapshot(snapshot)
    rows = []
    for address, data in graph.nodes(data=True):
        parents = list(graph.predecessors(address))
        rows.append({
            "address": address,
            "parent": parents[0] if parents else None,
            "name": data.get("name"),
            "type": data.get("type"),
            "kind": data.get("kind", "worker"),
            "strategy": data.get("strategy"),
            "restart": data.get("restart"),
            "critical": data.get("critical"),
            "degraded": bool(data.get("degraded")),
            "status": "degraded" if data.get("degraded") else data.get("status"),
            "restarts": data.get("restarts", 0),
            "mailbox": data.get("mailbox", 0),
            "processed": data.get("processed", 0),
            "failures": data.get("failures", 0),
        })
    return rows


def stream_lags(system: ActorSystem) -> list[dict[str, Any]]:
    """For every consumer group of every stream in use: entries not yet committed."""
    rows = []
    for name in system.streams.names():
        stream = system.streams.stream(name)
        length = len(stream)
        if not stream.groups:
            rows.append({"stream": name, "group": None, "entries": length, "lag": None})
        for group_name, group in sorted(stream.groups.items()):
            rows.append({"stream": name, "group": group_name, "entries": length,
                         "lag": max(length - group.done, 0)})
    return rows


async def _remote_snapshot(system: ActorSystem, node: str, timeout: float) -> list[Any]:
    snapshot: list[Any] = await system.cluster.call(node, "$snapshot", None, timeout)
    return snapshot


async def cluster_state(system: ActorSystem, timeout: float = 2.0) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready data."""
    members = members_of(system)
    trees: dict[str, dict[str, Any]] = {}

    async def fetch(node: str) -> None:
        try:
            with anyio.fail_after(timeout):
                snapshot = await _remote_snapshot(system, node, timeout)
            trees[node] = {"actors": node_tree(snapshot), "error": None}
        except Exception as error:  # a node that does not answer shows as such
            trees[node] = {"actors": [], "error": f"{type(error).__name__}: {error}"}

    trees[system.address] = {"actors": node_tree(system.snapshot()), "error": None}
    async with anyio.create_task_group() as fetching:
        for member in members:
            if member.status != "self":
                fetching.start_soon(fetch, member.node)
    letters = system.dead_letters
    crashes = system._crashes
    return {
        "node": system.address,
        "time": time.time(),
        "members": [msgspec.structs.asdict(member) for member in members],
        "nodes": [{"node": member.node, **trees[member.node]} for member in members],
        "dead_letters": {
            "count": letters.count,
            "by_reason": dict(sorted(letters.by_reason.items())),
            "recent": [{"recipient": letter.recipient, "reason": letter.reason,
                        "message_type": type(letter.message).__qualname__}
                       for letter in list(letters.recent)[-RECENT:]][::-1],
        },
        "crashes": {
            "count": crashes.count,
            "recent": [{**msgspec.structs.asdict(report),
                        "traceback": "\n".join(
                            report.traceback.rstrip().splitlines()[-TRACEBACK_LINES:])}
                       for report in list(crashes.recent)[-RECENT:]][::-1],
        },
        "asks_timed_out": system._asks_timed_out,
        "streams": stream_lags(system),
    }
