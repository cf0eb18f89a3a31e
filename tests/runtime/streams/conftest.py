"""Node processes for the cross-node stream tests (see tests/cluster/nodes.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster.nodes import Nodes, child_pids


@pytest.fixture
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nodes]:
    """Node processes for one test; none may outlive it."""
    before = child_pids()
    started = Nodes(tmp_path_factory.mktemp("nodes"))
    try:
        yield started
    finally:
        started.close()
    left = child_pids() - before
    if left:
        pytest.fail(f"child processes left after the test: {sorted(left)}")
