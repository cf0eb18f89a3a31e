"""No two modules import each other, even through others: counting imports at module
level, inside functions and under `TYPE_CHECKING` (docs/architecture.md)."""

from __future__ import annotations

import grimp
import networkx


def test_the_import_graph_has_no_cycle() -> None:
    graph = grimp.build_graph("actors", "runtime", "supervisors", "samples")
    imports: networkx.DiGraph[str] = networkx.DiGraph()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            imports.add_edge(module, imported)
    # A package's `__init__` re-exporting its own modules is not a cycle of code.
    packages = {m for m in graph.modules if graph.find_children(m)}
    for package in packages:
        for child in list(imports.successors(package)) if package in imports else []:
            if child.startswith(package + "."):
                imports.remove_edge(package, child)
    cycles = [sorted(c) for c in networkx.strongly_connected_components(imports) if len(c) > 1]
    assert cycles == []
