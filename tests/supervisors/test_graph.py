"""The tree as a graph: a spec before it runs, the live tree with status, and drawings."""

from __future__ import annotations

from typing import Any

import networkx
import pytest

from actors.testkit import TestProbe
from runtime import ActorSystem
from supervisors import (
    Backoff,
    Child,
    DynamicSupervisor,
    Supervisor,
    live_graph,
    render_text,
    to_dot,
    to_mermaid,
)
from tests.supervisors._workers import Worker, expect_events

pytestmark = pytest.mark.anyio

SPEC_KEYS = {"kind", "strategy", "restart", "critical"}
LIVE_KEYS = SPEC_KEYS | {"status", "restarts", "mailbox", "node"}


def shop(probe: Any) -> Supervisor:
    return Supervisor("shop", strategy="one_for_all", children=[
        Child(Worker, probe, "cart", name="cart"),
        Child(Worker, probe, "points", name="points", restart="transient", critical=False,
              backoff=Backoff(initial=5.0, maximum=5.0)),
        Supervisor("payments", strategy="rest_for_one", children=[
            Child(Worker, probe, "card", name="card"),
        ]),
        DynamicSupervisor("jobs"),
    ])


def test_spec_graph_has_every_node_with_its_attributes_and_edges_in_order() -> None:
    graph = shop(None).graph()
    assert isinstance(graph, networkx.DiGraph)
    assert list(graph.nodes) == [
        "shop", "shop/cart", "shop/points", "shop/payments", "shop/payments/card", "shop/jobs",
    ]
    assert list(graph.successors("shop")) == [
        "shop/cart", "shop/points", "shop/payments", "shop/jobs",
    ]
    assert list(graph.edges("shop/payments")) == [("shop/payments", "shop/payments/card")]
    for node in graph.nodes:
        assert graph.nodes[node].keys() >= SPEC_KEYS, node
    assert {key: graph.nodes["shop"][key] for key in SPEC_KEYS} == {
        "kind": "supervisor", "strategy": "one_for_all", "restart": "permanent",
        "critical": True,
    }
    assert {key: graph.nodes["shop/points"][key] for key in SPEC_KEYS} == {
        "kind": "worker", "strategy": None, "restart": "transient", "critical": False,
    }
    assert graph.nodes["shop/jobs"]["kind"] == "dynamic_supervisor"
    assert graph.nodes["shop/payments"]["strategy"] == "rest_for_one"


def test_unnamed_children_get_distinct_nodes() -> None:
    graph = Supervisor("pool", children=[Child(Worker), Child(Worker)]).graph()
    assert list(graph.nodes) == ["pool", "pool/Worker#0", "pool/Worker#1"]


def test_drawings_of_a_spec_show_every_node() -> None:
    graph = shop(None).graph()
    text = render_text(graph)
    assert text.splitlines() == [
        "shop [supervisor one_for_all]",
        "├── cart [worker permanent]",
        "├── points [worker transient non-critical]",
        "├── payments [supervisor rest_for_one]",
        "│   └── card [worker permanent]",
        "└── jobs [dynamic_supervisor one_for_one]",
    ]
    dot, mermaid = to_dot(graph), to_mermaid(graph)
    assert dot.startswith("digraph supervision {") and dot.endswith("}")
    assert mermaid.startswith("graph TD")
    for name in ("shop", "cart", "points", "payments", "card", "jobs"):
        assert f'"{name} [' in dot
        assert f'["{name} [' in mermaid
    assert dot.count(" -> ") == mermaid.count(" --> ") == 5


async def test_live_graph_shows_status_restarts_mailbox_and_node(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    root = actor_system.spawn(shop(probe.ref))
    await expect_events(probe, ("start", "cart"), ("start", "points"), ("start", "card"))
    cart = actor_system.registry.whereis("cart")
    points = actor_system.registry.whereis("points")
    assert cart is not None and points is not None
    points.tell("crash")  # non-critical, back-off 5 s: it stays down (degraded)
    await expect_events(probe, ("stop", "points"))
    actor_system.registry.whereis("card").tell("crash")  # type: ignore[union-attr]
    await expect_events(probe, ("stop", "card"), ("restart", "card"))

    graph = live_graph(actor_system)
    for node in graph.nodes:
        assert graph.nodes[node].keys() >= LIVE_KEYS, node
    assert list(graph.successors(root.address)) == [
        "test/cart", "test/points", "test/payments", "test/jobs",
    ]
    assert list(graph.successors("test/payments")) == ["test/card"]
    top = graph.nodes[root.address]
    assert (top["kind"], top["strategy"], top["status"], top["node"]) == (
        "supervisor", "one_for_all", "running", "test",
    )
    down = graph.nodes["test/points"]
    assert (down["restart"], down["critical"], down["status"], down["degraded"]) == (
        "transient", False, "restarting", True,
    )
    card = graph.nodes["test/card"]
    assert (card["kind"], card["strategy"], card["status"], card["restarts"]) == (
        "worker", None, "running", 1,
    )
    assert graph.nodes["test/jobs"]["kind"] == "dynamic_supervisor"


async def test_live_drawings_show_every_node_with_its_status_mark(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    actor_system.spawn(shop(probe.ref))
    await expect_events(probe, ("start", "cart"), ("start", "points"), ("start", "card"))
    points = actor_system.registry.whereis("points")
    assert points is not None
    points.tell("crash")
    await expect_events(probe, ("stop", "points"))
    actor_system.registry.whereis("cart").tell_many(["x", "y"])  # type: ignore[union-attr]

    graph = live_graph(actor_system)
    text = render_text(graph)
    for line in (
        "shop [supervisor one_for_all] ● running",
        "├── cart [worker permanent] ● running",
        "├── points [worker transient non-critical] ✗ degraded",
        "├── payments [supervisor rest_for_one] ● running",
        "│   └── card [worker permanent] ● running",
        "└── jobs [dynamic_supervisor one_for_one] ● running",
    ):
        assert any(row.startswith(line) for row in text.splitlines()), line
    dot, mermaid = to_dot(graph), to_mermaid(graph)
    for label in ("shop [supervisor one_for_all] ● running",
                  "points [worker transient non-critical] ✗ degraded",
                  "card [worker permanent] ● running"):
        assert f'"{label}' in dot
        assert f'["{label}' in mermaid
    assert dot.count(" -> ") == mermaid.count(" --> ") == 5
