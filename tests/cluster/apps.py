"""The app that the cluster tests run on their subprocess nodes, and the types they send.

`repertory node --app tests.cluster.apps:app` spawns the named actors below; a test
reaches them with ``await system.lookup(name, node=address)``. Actors a test needs for
itself alone it spawns remotely by import path (``system.spawn(Recorder, node=...)``),
so tests that share one node never see each other's state.

The message types live here too: both nodes import this module, which is what the
codec needs to bring a Struct, a dataclass or an enum back as itself.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import anyio
import msgspec

from actors import Actor, ActorRef
from actors.mailbox import Mailbox
from actors.messages import NameLost, NodeDown, Terminated

__all__ = (
    "Claimant",
    "Color",
    "Control",
    "Crasher",
    "Echo",
    "Opaque",
    "Order",
    "Point",
    "Recorder",
    "Sleeper",
    "Slow",
    "Starter",
    "Subscriber",
    "app",
    "claim_app",
)


log = logging.getLogger("tests.cluster.apps")


class Point(msgspec.Struct, frozen=True):
    x: int
    y: int


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


@dataclass(frozen=True)
class Order:
    item: str
    quantity: int
    tags: frozenset[str] = frozenset()


class Opaque:
    """Neither a builtin nor a Struct, dataclass or enum: it travels only by pickle."""

    def __init__(self, value: int) -> None:
        self.value = value


class Echo(Actor[Any]):
    """Answers an ask with the message; a told message goes back to its sender."""

    def receive(self, message: Any) -> Any:
        sender = self.context.sender
        if sender is not None:
            sender.tell(message, sender=self.context.ref)
        return message


class Recorder(Actor[Any]):
    """Keeps every message told to it; ``"get"`` (asked) returns them in order."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def receive(self, message: Any) -> Any:
        if message == "get":
            return list(self.seen)
        self.seen.append(message)
        return None


class Slow(Actor[Any]):
    """Answers ``seconds`` after it was asked (an async handler that sleeps)."""

    async def receive(self, seconds: float) -> str:
        await anyio.sleep(seconds)
        return "done"


class Sleeper(Actor[Any]):
    """Asked a number, sleeps that long and answers it; asked ``"handled"``, answers
    the numbers it has handled, in order."""

    def __init__(self) -> None:
        self.handled: list[float] = []

    async def receive(self, message: Any) -> Any:
        if message == "handled":
            return list(self.handled)
        await anyio.sleep(message)
        self.handled.append(message)
        return message


class Starter(Actor[Any]):
    """Starts after `delay` seconds; or fails in `__init__` or `on_start` when told to.

    Asked anything, it answers ``"started"``; `on_stop` tells `report` ``"stopped"``.
    """

    def __init__(
        self, delay: float = 0.0, fail_init: bool = False, fail_start: bool = False,
        report: ActorRef[Any] | None = None,
    ) -> None:
        if fail_init:
            raise ValueError("starter has a bad config")
        self.delay, self.fail_start, self.report = delay, fail_start, report
        self.started = False

    async def on_start(self) -> None:
        await anyio.sleep(self.delay)  # stands in for slow set-up work
        if self.fail_start:
            raise ConnectionError("starter cannot reach its database")
        self.started = True

    def on_stop(self, reason: BaseException | None) -> None:
        if self.report is not None:
            self.report.tell("stopped")

    def receive(self, message: Any) -> Any:
        return "started" if self.started else "not yet"


class CrashError(Exception):
    """What `Crasher` raises: a type the asking node cannot see as an ActorError."""


class Crasher(Actor[Any]):
    """Fails on every message, with a traceback that names this handler."""

    def receive(self, message: Any) -> Any:
        raise CrashError(f"crasher refused {message!r}")


class Subscriber(Actor[Any]):
    """Subscribes to `topic` and tells `report` ``(own address, message)`` per message.

    Asked ``"ready?"`` it answers ``"ready"``: the answer leaves its node after the
    news of its subscription, so the asker's node knows of it by then.
    """

    def __init__(self, topic: str, report: ActorRef[Any]) -> None:
        self.topic = topic
        self.report = report

    def on_start(self) -> None:
        self.context.system.topics.subscribe(self.topic, self.context.ref)

    def receive(self, message: Any) -> Any:
        if message == "ready?":  # asked once subscribed: the answer follows the interest
            return "ready"
        self.report.tell((self.context.ref.address, message))
        return None


class Claimant(Actor[Any]):
    """Claims `names` cluster-wide on start. Keeps the `NameLost`s it gets (asked
    ``"losses"``, it answers ``[(name, winner), ...]``) and tells them to `report`."""

    def __init__(self, names: list[str], report: ActorRef[Any] | None = None) -> None:
        self.names = names
        self.report = report
        self.losses: list[tuple[str, ActorRef[Any]]] = []

    def on_start(self) -> None:
        for name in self.names:
            self.context.system.registry.register(name, self.context.ref, scope="cluster")
        # The line a test waits for when it cannot be told (another partition).
        log.info("%s claimed %s", self.context.ref.address, ",".join(self.names))
        if self.report is not None:
            self.report.tell(("claimed", self.context.ref))

    def receive(self, message: Any) -> Any:
        if isinstance(message, NameLost):
            self.losses.append((message.name, message.winner))
            if self.report is not None:
                self.report.tell(("lost", self.context.ref, message.name, message.winner))
        elif message == "losses":
            return list(self.losses)
        return None


class Control(Actor[Any]):
    """Does on its node what a test asks of that node (asked, it answers the result).

    ``("tell", ref, n)``: tell `ref` 0..n-1 with this actor as sender, in order;
    ``("tell_opaque", ref)``: tell `ref` an `Opaque` (goes by pickle);
    ``("publish", topic, message)``: publish on this node, answers the count;
    ``("whereis", name)``: the registry's answer here; ``("members",)``: sorted members;
    ``("dead_letters",)``: the recent dead letters here, as (recipient, reason);
    ``("mailbox", name)``: how many messages wait in that actor's mailbox;
    ``("watch", ref, report)``: watch `ref` and tell `report` its `Terminated`.
    """

    def __init__(self) -> None:
        self.reports: dict[ActorRef[Any], ActorRef[Any]] = {}

    def receive(self, message: Any) -> Any:
        system = self.context.system
        match message:
            case ("tell", ActorRef() as ref, int(count)):
                for i in range(count):
                    ref.tell(i, sender=self.context.ref)
                return count
            case ("tell_opaque", ActorRef() as ref):
                ref.tell(Opaque(7))
                return True
            case ("publish", str(topic), payload):
                return system.topics.publish(topic, payload)
            case ("whereis", str(name)):
                return system.registry.whereis(name)
            case ("members",):
                return sorted(system.cluster.members)
            case ("dead_letters",):
                return [(d.recipient, d.reason) for d in system.dead_letters.recent]
            case ("mailbox", str(name)):
                return getattr(system.registry.whereis(name), "mailbox_size", None)
            case ("watch", ActorRef() as ref, ActorRef() as report):
                self.reports[ref] = report
                self.context.watch(ref)
                return True
            case Terminated(ref=ref) if ref in self.reports:
                self.reports.pop(ref).tell(message)
                return None
        raise ValueError(f"control does not understand {message!r}")


def app(system: Any) -> None:
    """Spawn the named actors every test node offers."""
    system.spawn(Echo, name="echo")
    system.spawn(Control, name="control")
    system.spawn(Sleeper, name="narrow", mailbox=Mailbox(capacity=2))  # overflow="reject"
    system.spawn(Sleeper, name="narrow_drop", mailbox=Mailbox(capacity=5, overflow="drop_new"))


def claim_app(system: Any) -> None:
    """`app`, plus a `Claimant` named "claimant" that claims, as soon as the node
    starts, the cluster-wide names listed in $REPERTORY_TEST_CLAIMS (comma-separated)."""
    app(system)
    names = [name for name in os.environ.get("REPERTORY_TEST_CLAIMS", "").split(",") if name]
    system.spawn(Claimant, names, name="claimant")


class Dialler(Actor[Any]):
    """Dials, at an instant a test chooses, every address it is given, all at once.

    It waits for the file named by $REPERTORY_TEST_DIAL_FILE (polled every 5 ms: the
    test writes it once every node is up), which holds ``{"at": wall-clock time,
    "addresses": [...]}``; at `at` it joins every address concurrently. It records the
    NodeDowns its node sees: asked ``"downs"``, it answers their nodes.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.downs: list[str] = []

    def on_start(self) -> None:
        self.context.system.cluster.subscribe(self.context.ref)
        self.context.ref.tell("look")

    async def receive(self, message: Any) -> Any:
        if isinstance(message, NodeDown):
            self.downs.append(message.node)
        elif message == "look":
            path = anyio.Path(self.path)
            if not await path.exists():
                self.context.send_after(0.005, "look")  # a poll of the test's file
                return None
            plan = json.loads(await path.read_text())
            await anyio.sleep(max(0.0, plan["at"] - time.time()))
            async with anyio.create_task_group() as tasks:
                for address in plan["addresses"]:
                    tasks.start_soon(self.context.system.cluster.join, address)
        elif message == "downs":
            return list(self.downs)
        return None


def dial_app(system: Any) -> None:
    """`app`, plus a `Dialler` named "dialler" (see there)."""
    app(system)
    system.spawn(Dialler, os.environ["REPERTORY_TEST_DIAL_FILE"], name="dialler")
