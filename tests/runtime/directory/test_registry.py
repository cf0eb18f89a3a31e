"""The registry: names for live actors, dropped when the actor stops."""

from __future__ import annotations

import re
from typing import Any

import pytest

from actors import Actor, NameTakenError
from actors.testkit import TestProbe
from runtime import ActorSystem

pytestmark = pytest.mark.anyio


class Leaf(Actor[Any]):
    def receive(self, message: Any) -> Any:
        return message


async def test_spawn_with_a_name_registers_it(actor_system: ActorSystem) -> None:
    ref = actor_system.spawn(Leaf, name="cart")
    assert actor_system.registry.whereis("cart") == ref
    assert "cart" in actor_system.registry
    assert actor_system.registry.names() == {"cart": ref}


async def test_whereis_an_unknown_name_is_none(actor_system: ActorSystem) -> None:
    assert actor_system.registry.whereis("nobody") is None
    assert "nobody" not in actor_system.registry
    assert 42 not in actor_system.registry
    assert await actor_system.lookup("nobody") is None


async def test_register_adds_names_and_unregister_removes_one(actor_system: ActorSystem) -> None:
    registry = actor_system.registry
    ref = actor_system.spawn(Leaf, name="cart")
    registry.register("basket", ref)
    registry.register("basket", ref)  # again, same actor: fine
    assert registry.whereis("basket") == ref
    assert await actor_system.lookup("basket") == ref
    registry.unregister("basket")
    assert registry.whereis("basket") is None
    assert registry.whereis("cart") == ref  # its other name stays
    registry.unregister("basket")  # unknown now: harmless
    assert ref.is_alive  # unregistering does not stop the actor


async def test_register_a_name_held_by_a_live_actor_raises(actor_system: ActorSystem) -> None:
    first = actor_system.spawn(Leaf, name="cart")
    second = actor_system.spawn(Leaf)
    with pytest.raises(NameTakenError, match=r"name 'cart' is taken by test/cart") as info:
        actor_system.registry.register("cart", second)
    assert (info.value.name, info.value.holder) == ("cart", "test/cart")
    assert actor_system.registry.whereis("cart") == first


async def test_names_drop_when_actors_die(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    ref = actor_system.spawn(Leaf, name="cart")
    actor_system.registry.register("basket", ref)
    actor_system.stop(ref)
    await probe.expect_terminated(ref)
    assert actor_system.registry.whereis("cart") is None
    assert actor_system.registry.whereis("basket") is None
    assert actor_system.registry.names() == {}
    # The names are free for new actors.
    again = actor_system.spawn(Leaf, name="cart")
    actor_system.registry.register("basket", again)
    assert actor_system.registry.whereis("basket") == again


async def test_a_crashed_actor_loses_its_name(actor_system: ActorSystem) -> None:
    class Fragile(Actor[Any]):
        def receive(self, message: Any) -> None:
            raise RuntimeError("broken")

    probe = TestProbe(actor_system)
    ref = actor_system.spawn(Fragile, name="fragile")
    ref.tell("x")
    await probe.expect_terminated(ref)
    assert actor_system.registry.whereis("fragile") is None


async def test_registering_a_dead_actor_is_a_no_op(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    ref = actor_system.spawn(Leaf)
    actor_system.stop(ref)
    await probe.expect_terminated(ref)
    actor_system.registry.register("ghost", ref)
    assert actor_system.registry.whereis("ghost") is None
    assert actor_system.registry.names() == {}


@pytest.mark.parametrize("name", ["", "a/b", "$3", None])
async def test_register_validates_names(actor_system: ActorSystem, name: Any) -> None:
    ref = actor_system.spawn(Leaf)
    with pytest.raises(ValueError, match=f"an actor name must be .*; got {re.escape(repr(name))}"):
        actor_system.registry.register(name, ref)


async def test_register_validates_the_scope(actor_system: ActorSystem) -> None:
    ref = actor_system.spawn(Leaf)
    with pytest.raises(ValueError, match="register scope must be 'local' or 'cluster', got 'x'"):
        actor_system.registry.register("cart", ref, scope="x")
    with pytest.raises(RuntimeError, match="system test is not a cluster node"):
        actor_system.registry.register("cart", ref, scope="cluster")
