"""The app every chaos node runs (`repertory node --app samples.chaos.app:app`).

Receivers, on every node:
- ``sink``: a bounded mailbox (``Mailbox(capacity=16)``) fed by ``await ref.send()``;
  it pauses now and then, so the senders meet a full mailbox;
- ``tells``: takes numbered tells; ``echo``: answers asks; ``slow``: answers late;
- ``consumer``: a member of the stream group ``chaos``; the stream lives on one node
  (``n1``), the others subscribe, commit and append through ``system.streams.remote``.

Pumps, on every node, for every other node: `SendPump` (``await sink.send(Seq)``),
`TellPump` (batches of numbered tells); and one `AskPump` (asks with deadlines, some
bound to time out) and one `AppendPump` (appends to the stream). They run
until the driver creates the ``stop`` file. Everything that happens is written to the
node's journal (`samples.chaos.journal`), which the driver checks at the end.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import anyio

from actors import Actor, ActorRef, DeadLetter, Mailbox, StreamEntry
from actors.messages import NodeDown, NodeUp
from runtime import ActorSystem, RemoteStream, RemoteSubscription, Subscription
from samples.chaos.journal import ChaosEnv, Journal, Seq

__all__ = ("GROUP", "STREAM", "app")

STREAM = "chaos"
GROUP = "chaos"
SINK_CAPACITY = 16
LOOKUP_TIMEOUT = 1.0
ASK_TIMEOUT = 1.0
T = TypeVar("T")


class Sink(Actor[Seq]):
    """Records each `Seq` it takes; every 100th message it pauses for 0.25 s."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.count = 0

    async def receive(self, message: Seq) -> None:
        self.journal.event("recv-send", message.src, message.inc, message.n)
        self.count += 1
        if self.count % 100 == 0:
            await anyio.sleep(0.25)  # a slow consumer: the mailbox fills meanwhile


class TellSink(Actor[Seq]):
    """Records each told `Seq`."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def receive(self, message: Seq) -> None:
        self.journal.event("recv-tell", message.src, message.inc, message.n)


class Echo(Actor[Any]):
    def receive(self, message: Any) -> Any:
        return message


class Slow(Actor[float]):
    """Answers ``seconds`` after it was asked: an ask with a shorter deadline times out."""

    async def receive(self, seconds: float) -> str:
        await anyio.sleep(seconds)
        return "late"


class Downs:
    """How many times each peer's link went down here: a ref looked up before the
    latest one may name an actor of an incarnation that is gone, so pumps look again."""

    def __init__(self) -> None:
        self.count: dict[str, int] = {}

    def of(self, address: str) -> int:
        return self.count.get(address, 0)


class Watcher(Actor[NodeUp | NodeDown | DeadLetter]):
    """Journals the links going up and down, and dead letters that carry a `Seq`."""

    def __init__(self, journal: Journal, downs: Downs) -> None:
        self.journal = journal
        self.downs = downs

    def on_start(self) -> None:
        self.context.system.cluster.subscribe(self.context.ref)
        self.context.system.topics.subscribe("dead_letters", self.context.ref)

    def receive(self, message: NodeUp | NodeDown | DeadLetter) -> None:
        match message:
            case NodeUp(node=node):
                self.journal.member("up", node)
            case NodeDown(node=node, reason=reason):
                self.downs.count[node] = self.downs.of(node) + 1
                self.journal.member("down", node, reason)
            case DeadLetter(message=Seq() as seq, recipient=recipient, reason=reason):
                self.journal.event("dead", seq.src, seq.inc, seq.n, recipient, reason)


class StreamReporter(Actor[str]):
    """On the stream's node: journals the group's committed offset and the stream's
    length every 0.2 s (the driver waits on it, and checks the last one)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def on_start(self) -> None:
        self.stream = self.context.system.streams.stream(STREAM)
        self.context.ref.tell("report")

    def receive(self, message: str) -> None:
        try:
            committed = self.stream.committed(GROUP)
        except KeyError:  # no member has joined yet
            committed = None
        self.journal.member("committed", committed, len(self.stream))
        self.context.send_after(0.2, "report")


class Peers:
    """Refs to named actors on the other nodes, looked up again after their node's link
    went down (a ref to an actor of a gone incarnation reaches nothing)."""

    def __init__(self, journal: Journal, env: ChaosEnv, system: ActorSystem, downs: Downs):
        self.journal = journal
        self.env = env
        self.system = system
        self.downs = downs
        self.refs: dict[tuple[str, str], tuple[int, ActorRef[Any]]] = {}
        self.remote: tuple[int, RemoteStream] | None = None

    def address(self, peer: str) -> str:
        return self.system.address if peer == self.env.node else self.env.address(peer)

    async def ref(self, name: str, peer: str) -> ActorRef[Any] | None:
        address = self.address(peer)
        generation = self.downs.of(address)
        cached = self.refs.get((name, peer))
        if cached is not None and cached[0] == generation:
            return cached[1]
        found = await lookup(self.system, self.journal, name, address)
        if found is not None:
            self.refs[(name, peer)] = (generation, found)
        return found

    def forget(self, name: str, peer: str) -> None:
        self.refs.pop((name, peer), None)
        if name == "stream":
            self.remote = None

    async def stream(self) -> RemoteStream | None:
        """The stream on its node, as seen from here (looked up again after a down)."""
        address = self.address(self.env.stream_host)
        generation = self.downs.of(address)
        if self.remote is not None and self.remote[0] == generation:
            return self.remote[1]
        try:
            remote = await timed(
                self.journal, f"{address}/$lookup", LOOKUP_TIMEOUT,
                self.system.streams.remote(STREAM, address, timeout=LOOKUP_TIMEOUT),
            )
        except Exception:
            return None
        self.remote = (generation, remote)
        return remote


class Consumer(Actor[Any]):
    """A member of the group ``chaos``, on any node: journals each entry, then commits
    it. Subscribes again after the stream's node went down (its subscription ended)."""

    def __init__(self, journal: Journal, peers: Peers) -> None:
        self.journal = journal
        self.peers = peers
        self.subscription: Subscription | RemoteSubscription | None = None
        self.generation = -1

    def on_start(self) -> None:
        self.context.ref.tell("join")

    async def receive(self, message: Any) -> None:
        if isinstance(message, StreamEntry):
            self.journal.event("consumed", message.offset)
            if self.subscription is not None:
                self.subscription.commit(message.offset)
            return
        if message == "join":
            await self.join()
            self.context.send_after(1.0, "join")

    async def join(self) -> None:
        host = self.peers.env.stream_host
        generation = self.peers.downs.of(self.peers.address(host))
        if self.subscription is not None and generation == self.generation:
            return
        self.generation = generation
        if host == self.peers.env.node:
            stream = self.context.system.streams.stream(STREAM)
            self.subscription = stream.subscribe(self.context.ref, group=GROUP, start="earliest")
            return
        self.subscription = None
        remote = await self.peers.stream()
        if remote is None:
            return
        try:
            self.subscription = await timed(
                self.journal, f"{remote.node}/subscribe", ASK_TIMEOUT,
                remote.subscribe(self.context.ref, group=GROUP, start="earliest",
                                 timeout=ASK_TIMEOUT),
            )
        except Exception:
            self.peers.forget("stream", host)  # down, or restarted: next time


_ask_ids = iter(range(1, 1 << 62))


async def timed(journal: Journal, target: str, timeout: float, call: Awaitable[T]) -> T:
    """Await `call` (an ask underneath, with deadline `timeout`), journalled as an ask."""
    ask_id = next(_ask_ids)
    journal.event("ask-start", ask_id, target, timeout)
    try:
        answer = await call
    except Exception as error:
        journal.event("ask-end", ask_id, type(error).__name__)
        raise
    journal.event("ask-end", ask_id, "ok")
    return answer


async def lookup(
    system: ActorSystem, journal: Journal, name: str, node: str
) -> ActorRef[Any] | None:
    """`system.lookup` on `node`, journalled as an ask with its deadline."""
    ask_id = next(_ask_ids)
    journal.event("ask-start", ask_id, f"{node}/$lookup", LOOKUP_TIMEOUT)
    try:
        found = await system.lookup(name, node=node, timeout=LOOKUP_TIMEOUT)
    except Exception as error:
        journal.event("ask-end", ask_id, type(error).__name__)
        return None
    journal.event("ask-end", ask_id, "ok")
    return found


class Pump(Actor[Any]):
    """Drives one kind of traffic: each ``"tick"`` does one step, then schedules the
    next. Stops for good when the driver creates the ``stop`` file."""

    pace = 0.02  # seconds between steps, at rate 1.0

    def __init__(self, journal: Journal, peers: Peers, peer: str) -> None:
        self.journal = journal
        self.peers = peers
        self.env = peers.env
        self.peer = peer  # a short name, or "" for a pump that picks a peer per step
        self.stopped = False

    def on_start(self) -> None:
        self.context.ref.tell("tick")

    async def receive(self, message: Any) -> None:
        if message != "tick" or self.stopped:
            return
        if self.env.stopping:
            self.stopped = True
            self.journal.member("pump-stopped", type(self).__name__, self.peer)
            return
        await self.step()
        self.context.send_after(self.pace / self.env.rate, "tick")

    async def step(self) -> None:
        raise NotImplementedError


class SendPump(Pump):
    """``await sink.send(Seq(...))`` to one peer's bounded sink, numbered 1, 2, ..."""

    pace = 0.02
    sent = 0

    async def step(self) -> None:
        sink = await self.peers.ref("sink", self.peer)
        if sink is None:
            return
        self.sent += 1
        self.journal.event("send-start", self.peer, self.sent)
        try:
            await sink.send(Seq(self.env.node, self.env.inc, self.sent))
        except Exception as error:
            self.journal.event("send-end", self.peer, self.sent, type(error).__name__)
            self.peers.forget("sink", self.peer)
        else:
            self.journal.event("send-end", self.peer, self.sent, "ok")


class TellPump(Pump):
    """Tells one peer's ``tells`` a batch of 10 numbered messages per step."""

    pace = 0.05
    told = 0

    async def step(self) -> None:
        target = await self.peers.ref("tells", self.peer)
        if target is None:
            return
        first = self.told + 1
        self.told += 10
        self.journal.event("tell", self.peer, first, self.told)
        for n in range(first, self.told + 1):
            target.tell(Seq(self.env.node, self.env.inc, n))


class AskPump(Pump):
    """Asks a random peer's ``echo`` (deadline 0.2-1 s), or its ``slow`` one that
    answers after the deadline, so some asks must time out."""

    pace = 0.05

    def __init__(self, journal: Journal, peers: Peers, peer: str) -> None:
        super().__init__(journal, peers, peer)
        self.random = random.Random(f"{self.env.node}-{self.env.inc}")

    async def step(self) -> None:
        peer = self.random.choice(sorted(self.env.peers))
        name = "slow" if self.random.random() < 0.2 else "echo"
        timeout = self.random.uniform(0.2, 1.0)
        ref = await self.peers.ref(name, peer)
        if ref is None:
            return
        message: Any = timeout + 0.5 if name == "slow" else time.monotonic()
        try:
            await timed(self.journal, ref.address, timeout, ref.ask(message, timeout=timeout))
        except Exception as error:
            if type(error).__name__ != "AskTimeoutError":
                self.peers.forget(name, peer)


class AppendPump(Pump):
    """Appends an entry to the stream (through ``streams.remote`` from another node); an
    offset returned is an acknowledged entry."""

    pace = 0.05
    appended = 0

    async def step(self) -> None:
        self.appended += 1
        entry = [self.env.node, self.env.inc, self.appended]
        if self.peer == self.env.node:
            offset = self.context.system.streams.stream(STREAM).append(entry)
        else:
            remote = await self.peers.stream()
            if remote is None:
                return
            try:
                offset = await timed(self.journal, f"{remote.node}/append", ASK_TIMEOUT,
                                     remote.append(entry, timeout=ASK_TIMEOUT))
            except Exception:
                self.peers.forget("stream", self.peer)
                return
        self.journal.event("appended", offset)


def app(system: ActorSystem) -> None:
    """Spawn the receivers and the pumps (a function of the system: the CLI's ``--app``)."""
    env = ChaosEnv.from_environ()
    journal = Journal(env)
    journal.member("started", system.address)
    downs = Downs()
    peers = Peers(journal, env, system, downs)
    system.spawn(Watcher, journal, downs, name="watcher")
    system.spawn(Sink, journal, name="sink", mailbox=Mailbox(capacity=SINK_CAPACITY))
    system.spawn(TellSink, journal, name="tells")
    system.spawn(Echo, name="echo")
    system.spawn(Slow, name="slow")
    if env.stream_host == env.node:
        system.streams.stream(STREAM)  # from now on this node serves it to the others
        system.spawn(StreamReporter, journal, name="stream-reporter")
    system.spawn(Consumer, journal, peers, name="consumer")
    for peer in sorted(env.peers):
        system.spawn(SendPump, journal, peers, peer)
        system.spawn(TellPump, journal, peers, peer)
    system.spawn(AskPump, journal, peers, "")
    system.spawn(AppendPump, journal, peers, env.stream_host)
