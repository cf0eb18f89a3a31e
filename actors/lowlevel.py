"""`actors.lowlevel`: the protocol that supervisors and pools use to drive children.

Use it to write a new kind of parent, as `supervisors` and `actors.routing`'s pools
are written: an actor that starts its children one by one, restarts them in place,
stops them, and hears when they start, fail, are torn down and terminate. An ordinary
actor needs none of it: `Context.spawn`, `Context.stop` and `Context.watch` are enough.

- `Parent`: subclass it (instead of `Actor`) to hear about children through its
  `on_child_*` hooks; each hook runs inside the parent's own turn, like a message.
- `children(context)`: the parent's `ChildControl`, what it may do to its children.
- `actors.SpawnSpec`: a spec that starts itself under a parent (`spawn_under`), so that
  `system.spawn(spec)` and `context.spawn(spec)` accept it; its `spawn_under` usually
  builds a `Parent` with `context.spawn`.
- `crashed(actor, error)`: the `ActorCrashedError` an asker sees when a handler raised.
- `unwrap(ref)` and `identity(ref)`: the plain ref under a wrapping one (a pool's, a
  dynamic supervisor's) and the ``(node, id)`` pair refs compare by, for runtimes and
  for refs that wrap another.
- `tell_picked(refs, pick)`: a `tell` to the ref a router's `pick()` returns, as cheap
  as a plain tell when all `refs` are local (how a pool's round_robin, random and
  smallest_mailbox routings tell).
- `System`: the protocol `Context.system` is typed with.

A restart is two steps, as in OTP: `teardown_child` stops the child's own children and
runs its `on_stop` (its mailbox, ref and name are kept), then `recreate_child` builds a
fresh instance from its factory and runs `on_restart`. A parent is told of each step
(`on_child_torn_down`, then `on_child_started`) and may wait between them (a back-off).

Example: a parent that restarts its one child at once whenever it fails::

    from typing import Any

    from actors import Actor, ActorRef
    from actors.lowlevel import Parent, children

    class Restarter(Parent[None]):
        def __init__(self, worker: type[Actor[str]]) -> None:
            self.worker = children(self.context).spawn_child(worker, (), {})

        def receive(self, message: None) -> ActorRef[Any]:
            return self.worker  # its ref stays valid across restarts

        def on_child_failed(self, child: ActorRef[Any], error: BaseException) -> None:
            control = children(self.context)
            control.report_failure(child, error, "restart")
            control.teardown_child(child, error)

        def on_child_torn_down(self, child: ActorRef[Any]) -> None:
            children(self.context).recreate_child(child, None)
"""

from __future__ import annotations

from actors._failure import crashed as crashed
from actors._lowlevel import ChildControl as ChildControl
from actors._lowlevel import Parent as Parent
from actors._lowlevel import children as children
from actors._lowlevel import identity as identity
from actors._lowlevel import unwrap as unwrap
from actors._ref import tell_picked as tell_picked
from actors._system_api import Names as Names
from actors._system_api import Publisher as Publisher
from actors._system_api import System as System

__all__ = (
    "ChildControl",
    "Names",
    "Parent",
    "Publisher",
    "System",
    "children",
    "crashed",
    "identity",
    "tell_picked",
    "unwrap",
)
