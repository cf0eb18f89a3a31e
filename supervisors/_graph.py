"""Supervision trees as `networkx.DiGraph`s, and three ways to draw them.

`Supervisor.graph()` describes a spec before it runs; `live_graph(system)` describes
what runs now, with status, restarts and mailbox sizes. Edges point from a supervisor
to its children, in start order. `render_text`, `to_dot` and `to_mermaid` draw either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import networkx

if TYPE_CHECKING:
    from supervisors._childspec import TreeSpec

__all__ = (
    "graph_from_snapshot",
    "live_graph",
    "render_text",
    "spec_graph",
    "to_dot",
    "to_mermaid",
)

# One mark per status `runtime` reports (`restarting`: torn down, waiting to be
# rebuilt; `suspended`: failed, its supervisor has not acted yet) and for degraded.
_MARKS = {
    "running": "●",
    "starting": "◌",
    "restarting": "↻",
    "suspended": "✗",
    "degraded": "✗",
    "stopping": "◍",
    "stopped": "■",
}


def spec_graph(spec: TreeSpec) -> networkx.DiGraph[str]:
    """The tree a spec would start: nodes are paths (``shop/payments/card``)."""
    graph: networkx.DiGraph[str] = networkx.DiGraph()

    def add(node: Any, path: str, parent: str | None) -> None:
        attributes: dict[str, Any] = {
            "name": node.label,
            "restart": node.restart,
            "critical": node.critical,
        }
        tree = hasattr(node, "strategy")  # a Supervisor spec, not a Child
        if tree:
            attributes.update(kind=node.kind, strategy=node.strategy,
                              restart_budget=f"{node.max_restarts}/{node.within:g}s")
        else:
            attributes.update(kind="worker", strategy=None,
                              type=getattr(node.factory, "__qualname__", "?"))
        graph.add_node(path, **attributes)
        if parent is not None:
            graph.add_edge(parent, path)
        if tree:
            for index, child in enumerate(node.children):
                add(child, f"{path}/{child.name or f'{child.label}#{index}'}", path)

    add(spec, spec.label, None)
    return graph


def live_graph(system: Any) -> networkx.DiGraph[str]:
    """What runs in `system` now: every actor, keyed by address, under its parent.

    Node attributes: kind (supervisor, dynamic_supervisor, worker), strategy (for
    supervisors), restart and critical (as their supervisor holds them), status,
    restarts, mailbox (messages waiting), node (the system's address), name, type.
    """
    return graph_from_snapshot(system.snapshot())


def graph_from_snapshot(infos: list[Any]) -> networkx.DiGraph[str]:
    """`live_graph` for a snapshot taken elsewhere (another node's, over the wire)."""
    graph: networkx.DiGraph[str] = networkx.DiGraph()
    specs: dict[str, dict[str, Any]] = {}
    for info in infos:
        for ref, child_spec in info.details.get("children_specs", {}).items():
            specs[ref.address] = child_spec
    for info in infos:
        details = dict(info.details)
        details.pop("children_specs", None)
        attributes: dict[str, Any] = {
            "kind": details.pop("kind", "worker"),
            "strategy": None,
            "name": info.name,
            "type": info.actor_type,
            "status": info.status,
            "restarts": info.restarts,
            "mailbox": info.mailbox,
            "processed": getattr(info, "processed", 0),
            "failures": getattr(info, "failures", 0),
            "node": info.node,
            # Set from the supervisor's spec below; an unsupervised actor has neither.
            "restart": None,
            "critical": None,
            "degraded": False,
        }
        attributes.update(details)
        attributes.update(specs.get(info.address, {}))
        graph.add_node(info.address, **attributes)
        if info.parent is not None:
            graph.add_edge(info.parent, info.address)
    return graph


def _label(graph: networkx.DiGraph[str], node: str) -> str:
    data = graph.nodes[node]
    name = data.get("name") or node.rsplit("/", 1)[-1]
    parts = [data.get("kind", "worker")]
    if data.get("strategy"):
        parts.append(data["strategy"])
    if data.get("kind") == "worker" and data.get("restart"):
        parts.append(data["restart"])
    if data.get("critical") is False:
        parts.append("non-critical")
    text = f"{name} [{' '.join(parts)}]"
    if "status" in data:
        status = "degraded" if data.get("degraded") else data["status"]
        mark = _MARKS.get(status, "?")
        text += f" {mark} {status}"
        if data.get("restarts"):
            text += f" restarts={data['restarts']}"
        if data.get("mailbox"):
            text += f" mailbox={data['mailbox']}"
    return text


def _roots(graph: networkx.DiGraph[str]) -> list[str]:
    return [node for node in graph.nodes if graph.in_degree(node) == 0]


def render_text(graph: networkx.DiGraph[str]) -> str:
    """An indented tree, one line per actor, with a status mark for live graphs."""
    lines: list[str] = []

    def walk(node: str, prefix: str, last: bool, root: bool) -> None:
        branch = "" if root else ("└── " if last else "├── ")
        lines.append(prefix + branch + _label(graph, node))
        children = list(graph.successors(node))
        extension = "" if root else ("    " if last else "│   ")
        for index, child in enumerate(children):
            walk(child, prefix + extension, index == len(children) - 1, False)

    for root in _roots(graph):
        walk(root, "", True, True)
    return "\n".join(lines)


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(graph: networkx.DiGraph[str]) -> str:
    """Graphviz DOT text."""
    ids = {node: f"n{index}" for index, node in enumerate(graph.nodes)}
    lines = ["digraph supervision {", "  node [shape=box];"]
    for node in graph.nodes:
        shape = "" if graph.nodes[node].get("kind") == "worker" else ", style=rounded"
        lines.append(f'  {ids[node]} [label="{_quote(_label(graph, node))}"{shape}];')
    for parent, child in graph.edges:
        lines.append(f"  {ids[parent]} -> {ids[child]};")
    lines.append("}")
    return "\n".join(lines)


def to_mermaid(graph: networkx.DiGraph[str]) -> str:
    """Mermaid flowchart text."""
    ids = {node: f"n{index}" for index, node in enumerate(graph.nodes)}
    lines = ["graph TD"]
    for node in graph.nodes:
        label = _label(graph, node).replace('"', "'")
        lines.append(f'  {ids[node]}["{label}"]')
    for parent, child in graph.edges:
        lines.append(f"  {ids[parent]} --> {ids[child]}")
    return "\n".join(lines)
