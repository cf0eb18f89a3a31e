"""thespian (``multiprocTCPBase``) doing the cluster benchmark's work on 127.0.0.1.

Run by `bench.cluster` in a child process (``python -m bench._harness
bench._peer_cluster_thespian run ...``) under a deadline. The child starts a
multiprocTCPBase system on a free admin port of 127.0.0.1; thespian daemonizes its admin
process and forks every actor into a process of its own, so the echo and the counter
run in processes other than this one and every message crosses a TCP socket. This
process is the client, an external `ActorSystem` handle, as `bench.cluster`'s client
node is:

- ask: ``system.ask(echo, i)`` one after the other; round trips/s.
- tell: ``system.tell(counter, i)`` n-1 times, then ``system.ask(counter, ("last",
  n))``, which the counter answers once it has seen all n; the clock stops at the
  answer; msgs/s. ``tell`` from outside an actor is synchronous in thespian: it returns
  once the message is handed to the transport.

`shutdown()` runs whatever happens; `bench.cluster` also kills every process this child
left (they carry its tag in their environment) if it overruns its deadline.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from thespian.actors import Actor, ActorAddress, ActorExitRequest, ActorSystem

from bench._harness import Result, best_rate

__all__ = ("run",)

_BASE = "multiprocTCPBase"


class _Echo(Actor):  # type: ignore[misc]
    def receiveMessage(self, message: Any, sender: ActorAddress) -> None:
        if not isinstance(message, ActorExitRequest):
            self.send(sender, message)


class _Counter(Actor):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def receiveMessage(self, message: Any, sender: ActorAddress) -> None:
        if isinstance(message, tuple):  # ("last", expected): answer once all are in
            self.seen += 1
            seen, self.seen = self.seen, 0
            self.send(sender, seen == message[1] or seen)
        elif isinstance(message, int):
            self.seen += 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(asks: int, tells: int) -> dict[str, Result | str]:
    system = ActorSystem(_BASE, {"Admin Port": _free_port(), "Admin Routing": False})
    try:
        echo = system.createActor(_Echo)
        counter = system.createActor(_Counter)
        if system.ask(echo, 0, 30) != 0:  # warm: the actor's process is up and linked
            raise RuntimeError("thespian echo did not answer")
        if system.ask(counter, ("last", 1), 30) is not True:
            raise RuntimeError("thespian counter did not answer")

        def ask_once() -> float:
            start = time.perf_counter()
            for i in range(asks):
                if system.ask(echo, i, 10) != i:
                    raise RuntimeError(f"thespian echo lost ask {i}")
            return time.perf_counter() - start

        def tell_once() -> float:
            start = time.perf_counter()
            for i in range(tells - 1):
                system.tell(counter, i)
            complete = system.ask(counter, ("last", tells), 120)
            elapsed = time.perf_counter() - start
            if complete is not True:
                raise RuntimeError(f"thespian counter answered {complete!r} of {tells}")
            return elapsed

        return {"ask": best_rate(asks, ask_once), "tell": best_rate(tells, tell_once)}
    finally:
        system.shutdown()
