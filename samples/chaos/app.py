"""The app every chaos node runs (`repertory node --app samples.chaos.app:app`).

Receivers, on every node:
- ``sink``: a bounded mailbox (``Mailbox(capacity=16)``) fed by ``await ref.send()``;
  it pauses now and then, so the senders meet a full mailbox;
- ``tells``: takes numbered tells; ``echo``: answers asks; ``slow``: answers late;
- ``consumer``: a member of the stream group ``chaos`` (the stream lives on one node,
  behind ``stream-host``, which appends, subscribes and commits for the others).

Pumps, on every node, for every other node: `SendPump` (``await sink.send(Seq)``),
`TellPump` (batches of numbered tells); and one `AskPump` (asks with deadlines, some
bound to time out) and one `AppendPump` (asks ``stream-host`` to append). They run
until the driver creates the ``stop`` file. Everything that happens is written to the
node's journal (`samples.chaos.journal`), which the driver checks at the end.
"""

from __future__ import annotations

import contextlib
import random
import time
from typing import Any

import anyio

from actors import Actor, ActorRef, DeadLetter, Mailbox, StreamEntry
from actors.messages import NodeDown, NodeUp
from runtime import ActorSystem, Subscription
from samples.chaos.journal import ChaosEnv, Journal, Seq

__all__ = ("GROUP", "STREAM", "app")

STREAM = "chaos"
GROUP = "chaos"
SINK_CAPACITY = 16
LOOKUP_TIMEOUT = 1.0


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


class StreamHost(Actor[Any]):
    """Holds the stream on its node: appends for remote producers, subscribes remote
    consumers to the group and commits for them; reports the group's progress."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.subscriptions: dict[ActorRef[Any], Subscription] = {}

    def on_start(self) -> None:
        self.stream = self.context.system.streams.stream(STREAM)
        self.context.ref.tell("report")

    def receive(self, message: Any) -> Any:
        match message:
            case ("append", payload):
                return self.stream.append(payload)
            case ("join", ActorRef() as ref):
                current = self.subscriptions.get(ref)
                if current is None or not current.active:
                    self.subscriptions[ref] = self.stream.subscribe(
                        ref, group=GROUP, start="earliest"
                    )
                return True
            case ("commit", ActorRef() as ref, int(offset)):
                subscription = self.subscriptions.get(ref)
                if subscription is not None and subscription.active:
                    # ValueError: told before this node restarted; it comes again.
                    with contextlib.suppress(ValueError):
                        subscription.commit(offset)
                return None
            case "report":
                try:
                    committed = self.stream.committed(GROUP)
                except KeyError:  # no member has joined yet
                    committed = None
                self.journal.member("committed", committed, len(self.stream))
                self.context.send_after(0.2, "report")
                return None
        raise ValueError(f"stream-host does not understand {message!r}")


class Peers:
    """Refs to named actors on the other nodes, looked up again after their node's link
    went down (a ref to an actor of a gone incarnation reaches nothing)."""

    def __init__(self, journal: Journal, env: ChaosEnv, system: ActorSystem, downs: Downs):
        self.journal = journal
        self.env = env
        self.system = system
        self.downs = downs
        self.refs: dict[tuple[str, str], tuple[int, ActorRef[Any]]] = {}

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


class Consumer(Actor[Any]):
    """A member of the group: journals each entry, then has it committed. Joins again
    every second (a restarted or partitioned host forgets its members)."""

    def __init__(self, journal: Journal, peers: Peers) -> None:
        self.journal = journal
        self.peers = peers
        self.host: ActorRef[Any] | None = None

    def on_start(self) -> None:
        self.context.ref.tell("join")

    async def receive(self, message: Any) -> None:
        if isinstance(message, StreamEntry):
            self.journal.event("consumed", message.offset)
            if self.host is not None:
                self.host.tell(("commit", self.context.ref, message.offset))
            return
        if message == "join":
            await self.join()
            self.context.send_after(1.0, "join")

    async def join(self) -> None:
        host_node = self.peers.env.stream_host
        self.host = await self.peers.ref("stream-host", host_node)
        if self.host is None:
            return
        try:
            await timed_ask(self.journal, self.host, ("join", self.context.ref), 1.0)
        except Exception:
            self.peers.forget("stream-host", host_node)


_ask_ids = iter(range(1, 1 << 62))


async def timed_ask(journal: Journal, ref: ActorRef[Any], message: Any, timeout: float) -> Any:
    """An ask, journalled with its deadline and its outcome."""
    ask_id = next(_ask_ids)
    journal.event("ask-start", ask_id, ref.address, timeout)
    try:
        answer = await ref.ask(message, timeout=timeout)
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
            await timed_ask(self.journal, ref, message, timeout)
        except Exception as error:
            if type(error).__name__ != "AskTimeoutError":
                self.peers.forget(name, peer)


class AppendPump(Pump):
    """Asks ``stream-host`` to append an entry; an answer is an acknowledged offset."""

    pace = 0.05
    appended = 0

    async def step(self) -> None:
        host = await self.peers.ref("stream-host", self.peer)
        if host is None:
            return
        self.appended += 1
        entry = [self.env.node, self.env.inc, self.appended]
        try:
            offset = await timed_ask(self.journal, host, ("append", entry), 1.0)
        except Exception:
            self.peers.forget("stream-host", self.peer)
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
        system.spawn(StreamHost, journal, name="stream-host")
    system.spawn(Consumer, journal, peers, name="consumer")
    for peer in sorted(env.peers):
        system.spawn(SendPump, journal, peers, peer)
        system.spawn(TellPump, journal, peers, peer)
    system.spawn(AskPump, journal, peers, "")
    system.spawn(AppendPump, journal, peers, env.stream_host)
