"""The app of the node that `test_remote_ask_inline.py` asks.

Its actors report where their turns run: the current task's name, or None outside any
task (where an ask from another node to an idle actor with a sync handler is answered
on asyncio: in the link's read callback).
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import sniffio

from actors import Actor, ActorRef
from supervisors import Child, Supervisor

__all__ = ("Fragile", "FragileError", "Log", "WhereAsync", "WhereSync", "app", "where")


def where() -> str | None:
    """The current task's name, or None when no task runs (a loop callback)."""
    task = asyncio.current_task()
    return None if task is None else task.get_name()


class WhereSync(Actor[Any]):
    """A sync handler: says where its turn runs and what anyio and sniffio see there.

    ``"spin"`` keeps it busy (it tells itself ``"spin"`` until told ``"halt"``), so
    that an ask meanwhile finds it scheduled.
    """

    def __init__(self) -> None:
        self.spinning = False

    def receive(self, message: Any) -> Any:
        match message:
            case "where":
                return where()
            case "anyio":
                event = anyio.Event()
                event.set()
                send, receive = anyio.create_memory_object_stream[int](1)
                send.send_nowait(7)
                got = receive.receive_nowait()
                send.close()
                receive.close()
                return [sniffio.current_async_library(), event.is_set(), got,
                        anyio.current_time() > 0]
            case "spawn_async":
                return self.context.spawn(WhereAsync)  # its first turn needs a task
            case "spin":
                if self.spinning:
                    self.context.ref.tell("spin")
                return None
            case "start_spinning":
                self.spinning = True
                self.context.ref.tell("spin")
                return None
            case "halt":
                self.spinning = False
                return None
        raise ValueError(f"WhereSync does not understand {message!r}")


class WhereAsync(Actor[Any]):
    """An async handler: says where its turn runs (always a task)."""

    async def receive(self, message: Any) -> Any:
        await anyio.lowlevel.checkpoint()
        return where()


class Log(Actor[Any]):
    """Records what it is told, from this node (``("local", i)``) and from elsewhere
    (``("remote", i)``), and checks that no turn starts while another is under way."""

    def __init__(self) -> None:
        self.local = 0  # how many local tells came, each in its turn: ("local", 0), (...1)
        self.local_in_order = True
        self.remote: list[int] = []
        self.depth = 0
        self.overlaps = 0

    def receive(self, message: Any) -> Any:
        self.depth += 1
        if self.depth > 1:
            self.overlaps += 1
        try:
            match message:
                case ("local", int(i)):
                    self.local_in_order = self.local_in_order and i == self.local
                    self.local += 1
                case ("remote", int(i)):
                    self.remote.append(i)
                case "remote_seen":
                    return list(self.remote)
                case "remote_seen_where":
                    return [list(self.remote), where()]
                case "stats":
                    return [self.local, self.local_in_order, self.overlaps, where()]
                case _:
                    raise ValueError(f"Log does not understand {message!r}")
            return None
        finally:
            self.depth -= 1


class Flooder(Actor[Any]):
    """``("flood", target)``: tells `target` ``("local", 0)``, ``("local", 1)`` ...,
    one per message it tells itself (so it goes on turn after turn, as fast as `target`
    takes them, and remote frames are read in between), until asked ``"halt"``, which
    answers how many it told."""

    def __init__(self) -> None:
        self.target: ActorRef[Any] | None = None
        self.told = 0

    def receive(self, message: Any) -> Any:
        match message:
            case ("flood", ActorRef() as target):
                self.target, self.told = target, 0
                self.context.ref.tell("more")
                return True
            case "more" if self.target is not None:
                self.target.tell(("local", self.told))
                self.told += 1
                self.context.ref.tell("more")
                return None
            case "more":
                return None
            case "halt":
                self.target = None
                return self.told
        raise ValueError(f"Flooder does not understand {message!r}")


class FragileError(Exception):
    """What `Fragile` raises when asked ``"boom"``."""


class Fragile(Actor[Any]):
    """Counts the asks it answers; ``"boom"`` raises, ``"instances"`` says how many
    `Fragile`s this process has built (a restart builds a new one)."""

    instances = 0

    def __init__(self) -> None:
        Fragile.instances += 1
        self.count = 0

    def receive(self, message: Any) -> Any:
        match message:
            case "count":
                self.count += 1
                return self.count
            case "instances":
                return Fragile.instances
            case "boom":
                raise FragileError(f"fragile broke on {message!r}")
        raise ValueError(f"Fragile does not understand {message!r}")


def app(system: Any) -> None:
    system.spawn(Flooder, name="flooder")
    system.spawn(Supervisor("fragile_sup", strategy="one_for_one", max_restarts=100,
                            within=1.0, children=[Child(Fragile, name="fragile")]))
