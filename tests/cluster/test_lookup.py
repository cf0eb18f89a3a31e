"""lookup(name) with node=None finds local names on any linked node."""

from __future__ import annotations

from typing import Any

import pytest

from actors import Actor
from runtime import ActorSystem

pytestmark = pytest.mark.anyio


class Echo(Actor[Any]):
    def receive(self, message: Any) -> Any:
        return ("echo", message)


async def test_lookup_without_node_finds_a_name_on_a_linked_node() -> None:
    async with ActorSystem("a", listen="127.0.0.1:0", cookie="c") as a, \
            ActorSystem("b", listen="127.0.0.1:0", cookie="c") as b:
        b.spawn(Echo, name="only-on-b")
        await a.cluster.join(b.address)
        found = await a.lookup("only-on-b")
        assert found is not None
        assert found.address == f"{b.address}/only-on-b"
        assert await found.ask(1) == ("echo", 1)
        assert await a.lookup("nowhere") is None


async def test_a_local_name_wins_over_a_remote_one() -> None:
    async with ActorSystem("a", listen="127.0.0.1:0", cookie="c") as a, \
            ActorSystem("b", listen="127.0.0.1:0", cookie="c") as b:
        mine = a.spawn(Echo, name="twice")
        b.spawn(Echo, name="twice")
        await a.cluster.join(b.address)
        assert await a.lookup("twice") == mine
