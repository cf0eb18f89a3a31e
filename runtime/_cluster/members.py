"""What a node knows of each peer it is linked to: health, link age and traffic.

Read at the moment it is asked for (by ``repertory members``, the web view, metrics),
from state the links keep anyway: nothing here costs a message anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import msgspec

__all__ = ("MemberInfo", "describe_members")


class MemberInfo(msgspec.Struct, frozen=True):
    """One member as `node` sees it.

    `status` is ``self`` (the node that answers), ``up`` (linked, heartbeats on time)
    or ``suspect`` (linked, but its failure detector's phi is past the threshold).
    `phi` is the failure detector's suspicion (0 for self), `link_age` the seconds
    since the current connection was made, `last_heartbeat` the seconds since the peer
    was last heard from (a heartbeat, or other frames, which count as one at the
    heartbeat tick after they arrive); the counters are of this connection only.
    """

    node: str
    status: str
    phi: float = 0.0
    link_age: float = 0.0
    last_heartbeat: float = 0.0
    dialled: bool = False
    pending_asks: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    frames_in: int = 0
    frames_out: int = 0


class _Clock(Protocol):
    def now(self) -> float: ...


class LinkedNode(Protocol):
    """What `describe_members` reads of the cluster (its links are `runtime._link.Link`)."""

    @property
    def node(self) -> str: ...
    @property
    def kernel(self) -> _Clock: ...
    @property
    def links(self) -> Mapping[str, Any]: ...


def describe_members(cluster: LinkedNode) -> list[MemberInfo]:
    """This node first, then every linked peer by name."""
    now = cluster.kernel.now()
    members = [MemberInfo(cluster.node, "self")]
    for peer, link in sorted(cluster.links.items()):
        detector = link.detector
        last = detector.last_heartbeat
        members.append(MemberInfo(
            node=peer,
            status="up" if detector.available(now) else "suspect",
            phi=round(min(detector.phi(now), 1e6), 3),
            link_age=round(now - link.since, 3),
            last_heartbeat=round(now - last, 3) if last is not None else 0.0,
            dialled=link.outgoing,
            pending_asks=len(link.pending),
            bytes_in=link.reader.bytes_received,
            bytes_out=link.writer.bytes_written,
            frames_in=link.reader.frames_received,
            frames_out=link.writer.frames_queued,
        ))
    return members
