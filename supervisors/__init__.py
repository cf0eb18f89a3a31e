"""Supervision trees: restart what fails, keep failures where they happen.

Declare a tree as values (`Supervisor`, `Child`, `DynamicSupervisor`) and start it with
`system.spawn(tree)`. Strategies, restart types, restart intensity and back-off follow
Erlang/OTP's supervisor; `critical=False` children add the loose-coupling rule: a
failing non-core service degrades instead of taking its supervisor down.

    from supervisors import Supervisor, Child, Backoff

    shop = Supervisor("shop", strategy="one_for_one", max_restarts=3, within=5.0, children=[
        Child(Cart, name="cart"),
        Child(Points, name="points", restart="transient", critical=False,
              backoff=Backoff(initial=0.1, maximum=10.0)),
    ])
    ref = system.spawn(shop)

Restart order: children start in list order and stop in reverse. A restarted child is a
fresh instance built from its spec; its ref, its registered name and the messages
already in its mailbox survive the restart.
"""

from __future__ import annotations

from supervisors._backoff import Backoff as Backoff
from supervisors._dynamic import ChildInfo as ChildInfo
from supervisors._dynamic import DynamicSupervisorRef as DynamicSupervisorRef
from supervisors._dynamic import MaxChildrenError as MaxChildrenError
from supervisors._events import DEGRADED as DEGRADED
from supervisors._events import RECOVERED as RECOVERED
from supervisors._events import Degraded as Degraded
from supervisors._events import Recovered as Recovered
from supervisors._events import RestartIntensityError as RestartIntensityError
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
    "Recovered",
    "RestartIntensityError",
    "RestartWindow",
    "Supervisor",
    "degraded",
    "live_graph",
    "recovered",
    "render_text",
    "to_dot",
    "to_mermaid",
)
