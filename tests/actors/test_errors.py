"""Every error says what happened, to whom, and what to do, and survives pickling."""

from __future__ import annotations

import inspect
import pickle
from typing import Any

import cloudpickle
import pytest

import actors
from actors import errors
from actors._failure import crashed

# One instance of every error, with the fields it keeps, the thing it names and the
# advice it gives.
CASES: list[tuple[errors.ActorError, dict[str, Any], str, str]] = [
    (
        errors.StreamCorruptError("orders", "/data/streams/orders/0.seg", 4096, (12, 14), 300),
        {"stream": "orders", "path": "/data/streams/orders/0.seg", "position": 4096,
         "offsets": (12, 14), "length": 300},
        "stream 'orders' is damaged: 300 bytes at position 4096 of "
        "/data/streams/orders/0.seg fail their checksum, covering the entries at offsets "
        "12 to 14",
        'open the stream with on_corruption="skip"',
    ),
    (
        errors.AskTimeoutError("shop@a/cart", 1.5),
        {"actor": "shop@a/cart", "timeout": 1.5},
        "ask to shop@a/cart timed out after 1.5 s",
        "raise timeout= or check that the handler answers",
    ),
    (
        errors.ActorStoppedError("shop@a/cart", "while handling the message"),
        {"actor": "shop@a/cart", "detail": "while handling the message"},
        "actor shop@a/cart is stopped while handling the message",
        "look it up again",
    ),
    (
        errors.ActorUnavailableError("shop@a/points", "restart 3 of 5"),
        {"actor": "shop@a/points", "detail": "restart 3 of 5"},
        "actor shop@a/points is unavailable (restart 3 of 5)",
        "retry later or degrade without it",
    ),
    (
        errors.ActorCrashedError("shop@a/cart", "KeyError", "'sku-1'", "Traceback ...\n"),
        {
            "actor": "shop@a/cart",
            "error_type": "KeyError",
            "error_text": "'sku-1'",
            "remote_traceback": "Traceback ...\n",
        },
        "actor shop@a/cart crashed handling the message: KeyError: 'sku-1'",
        "fix the handler, or let a supervisor restart it",
    ),
    (
        errors.MailboxFullError("shop@a/cart", 100),
        {"actor": "shop@a/cart", "capacity": 100},
        "mailbox of shop@a/cart is full (100 messages)",
        "use `await ref.send(msg)` to wait for room, or raise the capacity",
    ),
    (
        errors.NameTakenError("cart", "shop@a/$12"),
        {"name": "cart", "holder": "shop@a/$12"},
        "name 'cart' is taken by shop@a/$12",
        "pick another name or unregister it first",
    ),
    (
        errors.NodeDownError("b@127.0.0.1:4002", "heartbeats stopped"),
        {"node": "b@127.0.0.1:4002", "detail": "heartbeats stopped"},
        "node b@127.0.0.1:4002 is down (heartbeats stopped)",
        "retry after NodeUp or use another node",
    ),
    (
        errors.SerializationError("message to shop@a/cart", "a lambda"),
        {"what": "message to shop@a/cart", "detail": "a lambda"},
        "cannot serialize message to shop@a/cart: a lambda",
        "send builtins or msgspec.Struct messages",
    ),
    (
        errors.AuthenticationError("b@127.0.0.1:4002", "bad cookie"),
        {"peer": "b@127.0.0.1:4002", "reason": "bad cookie"},
        "handshake with b@127.0.0.1:4002 failed: bad cookie",
        "check that both nodes use the same cookie",
    ),
    (
        errors.UnroutableError("orders", "eu.paid"),
        {"exchange": "orders", "key": "eu.paid"},
        "exchange 'orders' routed key 'eu.paid' to no actor",
        "bind a queue for it",
    ),
]
IDS = [type(case[0]).__name__ for case in CASES]


def test_every_error_in_the_module_has_a_case() -> None:
    classes = {
        obj
        for obj in vars(errors).values()
        if inspect.isclass(obj) and issubclass(obj, errors.ActorError)
    }
    assert classes - {errors.ActorError} == {type(case[0]) for case in CASES}
    assert set(errors.__all__) == {cls.__name__ for cls in classes}


@pytest.mark.parametrize(("error", "fields", "what", "advice"), CASES, ids=IDS)
def test_the_message_says_what_happened_and_what_to_do(
    error: errors.ActorError, fields: dict[str, Any], what: str, advice: str
) -> None:
    assert isinstance(error, errors.ActorError)
    for field, value in fields.items():
        assert getattr(error, field) == value
    with pytest.raises(type(error)) as info:
        raise error
    text = str(info.value)
    assert what in text
    assert advice in text


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
@pytest.mark.parametrize(("error", "fields", "what", "advice"), CASES, ids=IDS)
def test_pickling_keeps_the_type_fields_and_text(
    dumps: Any, error: errors.ActorError, fields: dict[str, Any], what: str, advice: str
) -> None:
    copy = pickle.loads(dumps(error))
    assert type(copy) is type(error)
    assert {field: getattr(copy, field) for field in fields} == fields
    assert str(copy) == str(error)
    assert copy.args == error.args


def test_details_are_optional_and_leave_no_gap() -> None:
    assert str(errors.ActorStoppedError("a/x")).startswith("actor a/x is stopped; look")
    assert str(errors.ActorUnavailableError("a/x")).startswith("actor a/x is unavailable:")
    assert str(errors.NodeDownError("b")).startswith("node b is down; calls")


def test_ask_timeout_error_is_a_timeout_error() -> None:
    error = errors.AskTimeoutError("a/x", 0.25)
    assert isinstance(error, TimeoutError)
    with pytest.raises(TimeoutError, match=r"ask to a/x timed out after 0\.25 s"):
        raise error


def test_the_errors_are_exported_from_actors() -> None:
    for name in errors.__all__:
        assert getattr(actors, name) is getattr(errors, name)


def test_a_crash_keeps_the_original_type_text_and_traceback() -> None:
    def handler() -> None:
        raise KeyError("sku-1")

    with pytest.raises(KeyError) as info:
        handler()
    original = info.value
    crash = crashed("a/cart", original)
    assert crash.__cause__ is original
    assert (crash.error_type, crash.error_text) == ("KeyError", "'sku-1'")
    assert "in handler" in crash.remote_traceback
    # Across nodes the cause is lost, but the type name and traceback text stay.
    copy = pickle.loads(pickle.dumps(crash))
    assert copy.error_type == "KeyError"
    assert "in handler" in copy.remote_traceback
    assert crashed("a/cart", crash) is crash  # not wrapped twice
