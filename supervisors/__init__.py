"""Supervision trees: restart what fails, keep failures where they happen.

Declare a tree as values (`Supervisor`, `Child`, `DynamicSupervisor`) and start it with
`system.spawn(tree)` or, under an actor, `self.context.spawn(tree)`. Strategies,
restart types, restart intensity and shutdown follow Erlang/OTP's supervisor;
`critical=False` children add the loose-coupling rule: a failing non-core service
degrades instead of taking its supervisor down.

    from supervisors import Supervisor, Child, Backoff

    shop = Supervisor("shop", strategy="one_for_one", max_restarts=3, within=5.0, children=[
        Child(Cart, name="cart"),
        Child(Points, name="points", restart="transient", critical=False,
              backoff=Backoff(initial=0.1, maximum=10.0)),
    ])
    ref = system.spawn(shop)            # or: ref = await system.start(shop)

Order: children start in list order (each `on_start` before the next child's) and
stop in reverse, each within its `shutdown=` seconds, after which it is cancelled (a
restart's stop too). On a failure, the failed child's `on_stop` runs first; then
``one_for_all`` stops the others last started first and starts them all again in
order, ``rest_for_one`` does so for the children started after the failed one only,
and ``one_for_one`` restarts the failed child alone. Children outside the group are not
touched.

Restarts: a restarted child is a fresh instance built from its spec, with
`on_restart(reason)` run on it; its ref, its registered name and the messages already
in its mailbox survive the restart (watchers hear nothing). ``permanent`` children come
back after a failure and after a normal stop, ``transient`` ones after a failure only,
``temporary`` ones never, not even with their group. A child that stopped (rather than
failed) is gone, as in OTP: its watchers get `Terminated` and a new actor takes its name
and its place. A child that fails in `on_start` is handled as any failure (there is no
caller to return the error to), except under `DynamicSupervisor.start_child`, which
raises it and does not keep the child.

Intensity: more than `max_restarts` restarts within `within` seconds (a restart exactly
`within` seconds old still counts) make the supervisor give up: it fails with
`RestartIntensityError` and its parent applies its own strategy; its teardown stops the
children. At the top of the tree that stops the system: `system.failure` holds the
error and `await system.wait_stopped()` returns it.

Non-critical children never count toward their supervisor's intensity and are
restarted alone. Past their own budget (the same figures) they keep retrying on their
back-off (`Backoff(0.1, 10.0)` if they name none). While one is down, asks to it fail at
once with `ActorUnavailableError` and tells go to dead letters; `Degraded` is published
on the topic ``supervisors.degraded`` when it goes down and `Recovered` on
``supervisors.recovered`` when it serves again.

Back-off delays a child's restarts (and its group's); messages sent meanwhile wait in
its mailbox. `live_graph(system)` and `Supervisor.graph()` describe a tree as a
`networkx.DiGraph`, `render_text`, `to_dot` and `to_mermaid` draw it.
"""

from __future__ import annotations

from actors.routing import Pool as Pool
from supervisors._backoff import Backoff as Backoff
from supervisors._dynamic import ChildInfo as ChildInfo
from supervisors._dynamic import DynamicSupervisorRef as DynamicSupervisorRef
from supervisors._dynamic import MaxChildrenError as MaxChildrenError
from supervisors._events import DEGRADED as DEGRADED
from supervisors._events import RECOVERED as RECOVERED
from supervisors._events import Degraded as Degraded
from supervisors._events import Recovered as Recovered
from supervisors._events import RestartIntensityError as RestartIntensityError
from supervisors._graph import graph_from_snapshot as graph_from_snapshot
from supervisors._graph import live_graph as live_graph
from supervisors._graph import render_text as render_text
from supervisors._graph import to_dot as to_dot
from supervisors._graph import to_mermaid as to_mermaid
from supervisors._spec import Child as Child
from supervisors._spec import DynamicSupervisor as DynamicSupervisor
from supervisors._spec import Supervisor as Supervisor
from supervisors._window import RestartWindow as RestartWindow

degraded = DEGRADED
recovered = RECOVERED

__all__ = (
    "DEGRADED",
    "RECOVERED",
    "Backoff",
    "Child",
    "ChildInfo",
    "Degraded",
    "DynamicSupervisor",
    "DynamicSupervisorRef",
    "MaxChildrenError",
    "Pool",
    "Recovered",
    "RestartIntensityError",
    "RestartWindow",
    "Supervisor",
    "degraded",
    "graph_from_snapshot",
    "live_graph",
    "recovered",
    "render_text",
    "to_dot",
    "to_mermaid",
)
