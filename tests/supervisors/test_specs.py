"""Specs validate when built: each bad option names the valid choices and what was given."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

import supervisors
from actors import Actor
from supervisors import (
    Backoff,
    Child,
    DynamicSupervisor,
    MaxChildrenError,
    RestartIntensityError,
    Supervisor,
)


class Noop(Actor[Any]):
    def receive(self, message: Any) -> None:
        return None


def test_bad_strategy_lists_the_strategies_and_what_was_given() -> None:
    with pytest.raises(
        ValueError,
        match=r"strategy must be one of 'one_for_one', 'one_for_all', 'rest_for_one'; "
        r"got 'one_for_some'",
    ):
        Supervisor("shop", strategy="one_for_some")  # type: ignore[arg-type]


@pytest.mark.parametrize("build", [
    lambda: Child(Noop, name="cart", restart="sometimes"),  # type: ignore[arg-type]
    lambda: Supervisor("shop", restart="sometimes"),  # type: ignore[arg-type]
])
def test_bad_restart_lists_the_restart_types_and_what_was_given(build: Any) -> None:
    with pytest.raises(
        ValueError,
        match=r"restart must be one of 'permanent', 'transient', 'temporary'; got 'sometimes'",
    ):
        build()


def test_duplicate_child_names_are_refused_with_the_name() -> None:
    with pytest.raises(ValueError, match=r"Supervisor 'shop' has two children named 'cart'"):
        Supervisor("shop", children=[
            Child(Noop, name="cart"),
            Child(Noop, name="points"),
            Supervisor("cart"),
        ])


@pytest.mark.parametrize("within", [0, -1.0, "5"])
def test_a_non_positive_window_is_refused_with_what_was_given(within: Any) -> None:
    with pytest.raises(
        ValueError, match=rf"within must be a positive number of seconds, got {within!r}"
    ):
        Supervisor("shop", within=within)


@pytest.mark.parametrize("max_restarts", [-1, 1.5, None])
def test_max_restarts_must_be_a_non_negative_int(max_restarts: Any) -> None:
    with pytest.raises(ValueError, match=rf"must be an int >= 0, got {max_restarts!r}"):
        Supervisor("shop", max_restarts=max_restarts)


@pytest.mark.parametrize("shutdown", [0, -2.5])
def test_a_non_positive_shutdown_is_refused(shutdown: float) -> None:
    with pytest.raises(
        ValueError, match=rf"Child shutdown must be a positive number of seconds, got {shutdown!r}"
    ):
        Child(Noop, shutdown=shutdown)


def test_max_children_must_be_positive_or_none() -> None:
    with pytest.raises(
        ValueError, match=r"max_children must be a positive int or None, got 0"
    ):
        DynamicSupervisor("jobs", max_children=0)


@pytest.mark.parametrize(("options", "text"), [
    ({"initial": 0.0}, r"0 < initial <= maximum; got initial=0.0, maximum=10.0"),
    ({"initial": 2.0, "maximum": 1.0}, r"got initial=2.0, maximum=1.0"),
    ({"factor": 0.5}, r"factor must be >= 1, got 0.5"),
    ({"jitter": 1.0}, r"jitter must be in \[0, 1\), got 1.0"),
    ({"reset_after": 0}, r"reset_after must be > 0 seconds, got 0"),
])
def test_bad_backoff_options_say_what_is_allowed(options: dict[str, Any], text: str) -> None:
    with pytest.raises(ValueError, match=text):
        Backoff(**options)


def test_children_must_be_specs_and_factories_callable() -> None:
    with pytest.raises(TypeError, match=r"children must be Child, Supervisor or "
                       r"DynamicSupervisor specs; got 'cart'"):
        Supervisor("shop", children=["cart"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"Child needs an Actor class, a factory or a Pool, got 42"):
        Child(42)
    with pytest.raises(TypeError, match=r"Child backoff takes a Backoff, got 0.1"):
        Child(Noop, backoff=0.1)  # type: ignore[arg-type]


def test_a_supervisor_nests_and_keeps_its_children_in_order() -> None:
    inner = Supervisor("payments", strategy="rest_for_one", children=[Child(Noop, name="card")])
    shop = Supervisor("shop", children=[Child(Noop, name="cart"), inner])
    assert [child.name for child in shop.children] == ["cart", "payments"]
    assert shop.children[1] is inner
    assert (shop.strategy, shop.max_restarts, shop.within) == ("one_for_one", 3, 5.0)
    assert DynamicSupervisor("jobs").strategy == "one_for_one"


def test_child_options_are_kept_and_the_factory_arguments_too() -> None:
    backoff = Backoff(initial=0.1, maximum=1.0)
    child = Child(Noop, 1, 2, name="points", restart="transient", critical=False,
                  backoff=backoff, shutdown=None, colour="red")
    assert (child.args, child.kwargs) == ((1, 2), {"colour": "red"})
    assert (child.restart, child.critical, child.backoff, child.shutdown) == (
        "transient", False, backoff, None,
    )
    assert repr(child) == "Child(points, restart='transient', critical=False)"


def test_all_lists_what_the_package_exports() -> None:
    public = {name for name in vars(supervisors) if not name.startswith("_")}
    modules = {"annotations"}
    assert set(supervisors.__all__) == public - modules - {
        name for name in public if type(getattr(supervisors, name)).__name__ == "module"
    }


def test_supervision_errors_keep_their_fields_and_text_across_pickling() -> None:
    gave_up = pickle.loads(pickle.dumps(RestartIntensityError("a/shop", 3, 5.0, "a/cart")))
    assert (gave_up.supervisor, gave_up.max_restarts, gave_up.within, gave_up.child) == (
        "a/shop", 3, 5.0, "a/cart",
    )
    with pytest.raises(RestartIntensityError, match=(
        r"supervisor a/shop gave up: more than 3 restarts within 5 s \(last: a/cart\); "
        r"fix the failing child, or raise max_restarts/within, or mark it critical=False"
    )):
        raise gave_up
    full = pickle.loads(pickle.dumps(MaxChildrenError("a/jobs", 2)))
    with pytest.raises(MaxChildrenError, match=r"a/jobs already runs its max_children=2"):
        raise full
