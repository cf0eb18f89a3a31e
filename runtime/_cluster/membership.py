"""Membership: which nodes this node keeps linked to, gossip, and NodeUp / NodeDown.

Seeds are dialled whenever they are not linked, however they left (a crash, a cut
link, a goodbye), with back-off from 0.1 s up to `MAX_BACKOFF`: a node that restarts
at a seed's address is linked again within about that long. Nodes learned from others
(`Members` gossip) are dialled by the smaller name of each pair, and again after a
failure; one that says goodbye is forgotten (it rejoins by dialling, or as a seed).
Each failure to dial a node is logged at WARNING with its reason (refused,
unreachable, cookie rejected, name mismatch, ...), once per node and reason until the
reason changes or the node links.

Names learned from peers are bounded, because a peer could send any: at most
`max_members` of them are kept (a `Members` frame that would pass that closes its
link, with the reason logged), they are dialled with the same growing back-off, and
one that has not been linked for `FORGET_AFTER` seconds is forgotten. Seeds are never
forgotten.

The dialling task wakes only when something is due (a dial after its back-off, a
name to forget) or changed (a link closed, names learned, a dial ended): a node whose
targets are all linked does nothing at all.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from actors import ActorRef
from actors.messages import NodeDown, NodeUp
from runtime._cluster.alarm import Alarm
from runtime._cluster.links import DialFailure, Links, parse_address
from runtime._wire import framing as wire

if TYPE_CHECKING:
    from runtime._cluster.link import Link

__all__ = ("MAX_BACKOFF", "Membership")

log = logging.getLogger("repertory.cluster")

FIRST_BACKOFF = 0.1
MAX_BACKOFF = 2.0
# Seconds a name learned from peers stays known without being linked.
FORGET_AFTER = 10.0
DEFAULT_MAX_MEMBERS = 1000


@dataclass
class _Target:
    """A node to keep linked: by name, or by "host:port" for a seed not met yet."""

    seed: bool
    due: float = 0.0  # the earliest time to dial again
    backoff: float = 0.0  # 0: learned and never lost (only the smaller name dials)
    peer: str | None = None  # the node name it had when last linked
    failure: str | None = None  # the kind of the last dial failure logged
    since: float = 0.0  # when it was learned or last linked (for forgetting)


class Membership:
    """The nodes to keep linked, and who hears of members coming and going."""

    node: str  # set when the cluster starts

    def __init__(
        self, links: Links, seeds: tuple[str, ...], *, max_members: int = DEFAULT_MAX_MEMBERS
    ) -> None:
        if not isinstance(max_members, int) or max_members < 1:
            raise ValueError(f"max_members must be a positive number of nodes, got {max_members!r}")
        self.links = links
        self._seeds = seeds
        self.max_members = max_members
        self.targets: dict[str, _Target] = {}
        self._dialing: set[str] = set()
        self.subscribers: dict[ActorRef[Any], None] = {}
        self._task_group: TaskGroup | None = None
        self._alarm: Alarm | None = None  # the dialling task's, once it runs

    @property
    def members(self) -> frozenset[str]:
        """This node and every node it is linked to now."""
        return frozenset([self.node, *self.links.table])

    async def start(self, task_group: TaskGroup) -> None:
        self._task_group = task_group
        self._alarm = Alarm(self.links.handler.kernel)
        for seed in self._seeds:
            await self._add_seed(seed)
        task_group.start_soon(self._maintain, name="repertory-membership")

    async def _add_seed(self, seed: str) -> None:
        if seed.startswith("dns:"):
            _, name, port = seed.split(":", 2)
            try:
                infos = await anyio.getaddrinfo(name, int(port), type=2)
            except OSError as error:
                log.warning("%s: seed %s did not resolve: %s", self.node, seed, error)
                return
            for info in infos:
                self.targets.setdefault(f"{info[4][0]}:{port}", _Target(seed=True))
            return
        parse_address(seed)
        self.targets[seed] = _Target(seed=True)

    # -- subscribers -------------------------------------------------------------------

    def subscribe(self, ref: ActorRef[Any]) -> None:
        """Send `ref` NodeUp / NodeDown as members come and go (NodeUp for each now)."""
        self.subscribers[ref] = None
        for node in sorted(self.members):
            ref.tell(NodeUp(node))

    def unsubscribe(self, ref: ActorRef[Any]) -> None:
        self.subscribers.pop(ref, None)

    def notify(self, message: Any) -> None:
        for ref in list(self.subscribers):
            if ref.is_alive:
                ref.tell(message)
            else:
                self.subscribers.pop(ref, None)

    # -- links coming and going ----------------------------------------------------------

    def node_up(self, link: Link) -> None:
        """A peer linked: gossip members both ways and tell subscribers."""
        log.info("%s: node %s is up", self.node, link.peer)
        target = self.targets.get(link.peer)
        if target is None:
            self.targets[link.peer] = _Target(seed=False, since=self._now())
        else:
            target.since = self._now()
            target.peer = link.peer
            self._linked(link.peer, target)
        link.send(wire.Members([wire.Member(node) for node in self.members]))
        # And the others learn of the newcomer: whichever of a pair is to dial the
        # other (the smaller name) must know of it, or the mesh stays incomplete.
        newcomer = wire.Members([wire.Member(link.peer)])
        for other in list(self.links.table.values()):
            if other is not link:
                other.send(newcomer)
        self.notify(NodeUp(link.peer))

    def node_down(self, link: Link, reason: str) -> None:
        graceful = self.links.closing or link.peer_left
        log.log(logging.INFO if graceful else logging.WARNING,
                "%s: node %s is down: %s", self.node, link.peer, reason)
        now = self.links.handler.kernel.now()
        for target in self.targets.values():
            if target.seed and target.peer == link.peer:
                target.due, target.backoff = now + FIRST_BACKOFF, FIRST_BACKOFF
        learned = self.targets.get(link.peer)
        if learned is not None and not learned.seed:
            if graceful or not _dialable(link.peer):
                # A node that said goodbye left on purpose: it rejoins by dialling us
                # (or as somebody's seed); one named without an address cannot be dialled.
                del self.targets[link.peer]
            else:
                learned.due, learned.backoff = now + FIRST_BACKOFF, FIRST_BACKOFF
                learned.since = now
        self._changed()
        self.notify(NodeDown(link.peer, reason))

    def on_members(self, link: Link, frame: wire.Members) -> None:
        """Learn the members a peer gossips, within `max_members`."""
        targets = self.targets
        new = {
            member.node for member in frame.members
            if member.node not in targets and member.node != self.node
            and member.status == "up" and _dialable(member.node)
        }
        if not new:
            return
        learned = sum(1 for target in targets.values() if not target.seed)
        if learned + len(new) > self.max_members:
            reason = (
                f"its Members frame would make {learned + len(new)} nodes learned from"
                f" peers, over max_members={self.max_members}; raise max_members= if the"
                " cluster is that large"
            )
            log.warning("%s: closing link to %s: %s", self.node, link.peer, reason)
            link.close(f"protocol limit: {reason}")
            return
        now = self._now()
        for node in new:
            targets[node] = _Target(seed=False, since=now)
        self._changed()

    def _linked(self, key: str, target: _Target) -> None:
        if target.failure is not None:
            log.info("%s: linked to %s again", self.node, key)
        target.failure = None
        target.backoff = 0.0

    # -- dialling -----------------------------------------------------------------------

    async def join(self, address: str) -> str:
        """Link to the node at `address`; returns its name (see `Cluster.join`)."""
        expect, host, port = parse_address(address)
        if expect is not None and expect in self.links.table:
            return expect
        try:
            link = await self.links.dial(host, port, expect)
        except DialFailure as failure:
            raise failure.error from None
        self.targets.setdefault(link.peer, _Target(seed=False, since=self._now()))
        return link.peer

    def _is_linked(self, key: str, target: _Target) -> bool:
        table = self.links.table
        if key in table or (target.peer is not None and target.peer in table):
            return True
        # A "host:port" seed that dialled us first is linked under its name.
        return "@" not in key and any(node.endswith("@" + key) for node in table)

    def _changed(self) -> None:
        """Targets or links changed: the dialling task looks again now."""
        if self._alarm is not None:
            self._alarm.due(-math.inf)

    async def _maintain(self) -> None:
        """Dial every target that is not linked and is due; forget learned ones that
        have not been linked for `FORGET_AFTER` seconds. Sleeps until the next of
        those moments, or until `_changed`."""
        kernel = self.links.handler.kernel
        assert self._alarm is not None
        while True:
            now = kernel.now()
            wake = math.inf
            forgotten = 0
            for key, target in list(self.targets.items()):
                if key in self._dialing or self._is_linked(key, target):
                    continue
                if not target.seed:
                    forget_at = target.since + FORGET_AFTER
                    if now >= forget_at:
                        del self.targets[key]
                        forgotten += 1
                        continue
                    wake = min(wake, forget_at)
                if target.due > now:
                    wake = min(wake, target.due)
                    continue
                if not target.seed and key < self.node and target.backoff == 0.0:
                    continue  # the smaller node dials; we wait for it (unless it failed)
                self._dialing.add(key)
                target.due = now + max(target.backoff, FIRST_BACKOFF)
                target.backoff = min(max(target.backoff * 2, 2 * FIRST_BACKOFF), MAX_BACKOFF)
                assert self._task_group is not None
                self._task_group.start_soon(self._redial, key, target)
            if forgotten:
                log.info("%s: forgot %d nodes learned from peers that were not linked for"
                         " %.0f s", self.node, forgotten, FORGET_AFTER)
            await self._alarm.sleep_until(wake)

    def _now(self) -> float:
        return self.links.handler.kernel.now()

    async def _redial(self, key: str, target: _Target) -> None:
        try:
            expect, host, port = parse_address(key)
            link = await self.links.dial(host, port, expect)
            target.peer = link.peer
            self._linked(key, target)
            if not target.seed and self.targets.get(link.peer) is None:
                self.targets[link.peer] = _Target(seed=False, since=self._now())
        except DialFailure as failure:
            if failure.kind != target.failure:
                target.failure = failure.kind
                log.warning("%s: cannot link to %s: %s", self.node, key, failure)
        except Exception as error:  # whatever a bad address does, the node keeps running
            log.warning("%s: dialling %s failed: %r", self.node, key, error)
        finally:
            self._dialing.discard(key)
            self._changed()  # its next dial (if it failed) is due after its back-off


def _dialable(node: str) -> bool:
    """Whether `node` is a name this node can dial again (``name@host:port``)."""
    try:
        name, _, _ = parse_address(node)
    except ValueError:
        return False
    return name is not None
