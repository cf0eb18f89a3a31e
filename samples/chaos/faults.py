"""Random faults from a seeded RNG: what the chaos run does to its nodes and links.

Every step the injector draws the same values from the RNG (a pause, a kind, a target,
a duration, a delay) whatever the cluster looks like, so a seed always proposes the
same faults at the same moments; a proposal is skipped when its target is busy (in a
fault, or within `COOLDOWN` seconds of one) or when a link fault's proxy carries no
link right now. At most `MAX_CONCURRENT` faults run at once.

Kinds: ``kill`` (``kill -9``, restart at the same address), ``term`` (SIGTERM, restart),
``stop`` (SIGSTOP, then SIGCONT), ``cut`` (the proxy closes the link's connection),
``delay`` (the proxy holds every byte for a while) and ``partition`` (the proxy
swallows everything, then cuts: a silent peer, as a failed switch makes).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Literal

import anyio
import anyio.abc

from samples.chaos.nodes import ChaosNode, ChaosNodes
from samples.faultproxy import FaultProxy

__all__ = ("KINDS", "Fault", "Injector", "ProxiedLink")

Kind = Literal["kill", "term", "stop", "cut", "delay", "partition"]
KINDS: tuple[Kind, ...] = ("kill", "term", "stop", "cut", "delay", "partition")
WEIGHTS = (3, 1, 3, 2, 2, 2)
MAX_CONCURRENT = 2
COOLDOWN = 3.0


@dataclass(frozen=True)
class ProxiedLink:
    """A proxy that `dialer` seeds instead of `target`'s own address."""

    dialer: str
    target: str
    proxy: FaultProxy


@dataclass
class Fault:
    """One fault: its kind, the nodes it touches, when it began and ended."""

    kind: Kind
    nodes: tuple[str, ...]  # one node, or the two ends of a link
    start: float
    end: float | None = None
    detail: str = ""

    @property
    def link(self) -> bool:
        return self.kind in ("cut", "delay", "partition")

    def touches(self, a: str, b: str) -> bool:
        """Whether this fault can disturb messages between nodes `a` and `b`."""
        if self.link:
            return set(self.nodes) == {a, b}
        return a in self.nodes or b in self.nodes


class Injector:
    """Proposes and injects faults for `duration` seconds; `faults` records them."""

    def __init__(self, rng: random.Random, nodes: ChaosNodes, links: list[ProxiedLink]) -> None:
        self.rng = rng
        self.nodes = nodes
        self.links = links
        self.faults: list[Fault] = []
        self.skipped: dict[str, int] = {}
        self.errors: list[str] = []

    async def run(self, duration: float) -> None:
        end = time.monotonic() + duration
        async with anyio.create_task_group() as faults:
            while time.monotonic() < end:
                pause = self.rng.uniform(0.2, 1.2)
                kind = self.rng.choices(KINDS, WEIGHTS)[0]
                pick = self.rng.random()
                length = self.rng.uniform(0.5, 5.0)
                delay = self.rng.uniform(0.05, 0.8)
                await anyio.sleep(pause)
                if time.monotonic() >= end:
                    break
                fault = self.propose(kind, pick, length, delay)
                if fault is not None:
                    faults.start_soon(self.inject, fault, length, delay)

    def busy(self, name: str, now: float) -> bool:
        for fault in self.faults:
            if name in fault.nodes and (fault.end is None or now - fault.end < COOLDOWN):
                return True
        return False

    def propose(self, kind: Kind, pick: float, length: float, delay: float) -> Fault | None:
        now = time.monotonic()
        if sum(1 for fault in self.faults if fault.end is None) >= MAX_CONCURRENT:
            self.skip("too many faults at once")
            return None
        if kind in ("cut", "delay", "partition"):
            link = self.links[int(pick * len(self.links))]
            if link.proxy.connections == 0:
                self.skip("link not through its proxy")
                return None
            nodes: tuple[str, ...] = (link.dialer, link.target)
            detail = f"{link.dialer}->{link.target}"
        else:
            names = sorted(self.nodes.nodes)
            nodes = (names[int(pick * len(names))],)
            detail = nodes[0]
        if any(self.busy(name, now) for name in nodes):
            self.skip("target busy")
            return None
        if kind in ("stop", "delay", "partition"):
            detail += f" {length:.1f} s"
        if kind == "delay":
            detail += f" +{delay:.2f} s"
        fault = Fault(kind, nodes, now, detail=detail)
        self.faults.append(fault)
        return fault

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1

    async def inject(self, fault: Fault, length: float, delay: float) -> None:
        try:
            if fault.link:
                await self.inject_link(fault, length, delay)
            else:
                await self.inject_node(fault, self.nodes.nodes[fault.nodes[0]], length)
        except Exception as error:  # a restart that failed: the run reports it
            self.errors.append(f"{fault.kind} {fault.detail}: {error}")
        finally:
            fault.end = time.monotonic()

    async def inject_node(self, fault: Fault, node: ChaosNode, length: float) -> None:
        if fault.kind == "stop":
            self.nodes.freeze(node)
            await anyio.sleep(length)
            self.nodes.resume(node)
            return
        if fault.kind == "kill":
            await self.nodes.kill(node)
        else:
            await self.nodes.terminate(node, "term")
        await anyio.sleep(length / 5)  # down for 0.1-1 s
        self.nodes.launch(node)
        await self.nodes.wait_ready(node)

    async def inject_link(self, fault: Fault, length: float, delay: float) -> None:
        link = next(
            link for link in self.links if (link.dialer, link.target) == fault.nodes
        )
        if fault.kind == "cut":
            link.proxy.cut()
            return
        if fault.kind == "delay":
            link.proxy.delay(delay)
            await anyio.sleep(length)
            link.proxy.heal()
            return
        link.proxy.drop()
        await anyio.sleep(length)
        link.proxy.cut()  # the byte stream has a hole in it now: start afresh
        link.proxy.heal()

    async def heal_all(self) -> None:
        """Undo whatever is still in effect (used when the run is cut short)."""
        for link in self.links:
            link.proxy.heal()
        for node in self.nodes.nodes.values():
            if node.stopped:
                self.nodes.resume(node)
