"""headers_match against RabbitMQ's headers exchange: explicit cases and a port of its algorithm."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.routing._headers import headers_match, parse_x_match


def test_all_is_the_default_and_needs_every_key() -> None:
    binding = {"format": "pdf", "type": "report"}
    assert headers_match(binding, {"format": "pdf", "type": "report", "extra": 1})
    assert not headers_match(binding, {"format": "pdf"})
    assert not headers_match(binding, {"format": "pdf", "type": "log"})


def test_any_needs_one_key() -> None:
    binding = {"x-match": "any", "format": "pdf", "type": "report"}
    assert headers_match(binding, {"type": "report"})
    assert not headers_match(binding, {"format": "zip", "other": "pdf"})


def test_x_keys_in_the_binding_are_ignored_by_all_and_any() -> None:
    assert headers_match({"x-match": "all", "x-trace": "on", "a": 1}, {"a": 1})
    # with only an x- key to compare, `any` has nothing to match
    assert not headers_match({"x-match": "any", "x-trace": "on"}, {"x-trace": "on"})


def test_with_x_modes_compare_x_keys_but_never_x_match_itself() -> None:
    assert not headers_match({"x-match": "all-with-x", "x-trace": "on"}, {})
    assert headers_match({"x-match": "all-with-x", "x-trace": "on"}, {"x-trace": "on"})
    assert headers_match({"x-match": "any-with-x", "x-trace": "on", "a": 1}, {"x-trace": "on"})
    assert not headers_match({"x-match": "any-with-x", "x-trace": "on"}, {"x-trace": "off"})


def test_x_keys_in_the_message_are_ordinary_data() -> None:
    assert headers_match({"a": 1}, {"a": 1, "x-anything": 2})


def test_a_none_binding_value_matches_on_presence_only() -> None:
    assert headers_match({"user": None}, {"user": "ann"})
    assert headers_match({"user": None}, {"user": None})
    assert not headers_match({"user": None}, {"other": "ann"})
    assert headers_match({"x-match": "any", "user": None, "b": 2}, {"user": 0})


def test_a_none_message_value_only_matches_presence() -> None:
    assert not headers_match({"user": "ann"}, {"user": None})


def test_empty_bindings_match_everything_under_all_and_nothing_under_any() -> None:
    assert headers_match({}, None)
    assert headers_match({"x-match": "all"}, {"a": 1})
    assert not headers_match({"x-match": "any"}, {"a": 1})


def test_missing_headers_are_an_empty_table() -> None:
    assert not headers_match({"a": 1}, None)
    assert not headers_match({"x-match": "any", "a": None}, None)


def test_values_compare_like_amqp_field_values() -> None:
    assert not headers_match({"a": True}, {"a": 1})  # a boolean is not a number
    assert not headers_match({"a": 1}, {"a": True})
    assert headers_match({"a": True}, {"a": True})
    assert headers_match({"a": 1}, {"a": 1.0})  # numbers by value
    assert headers_match({"a": "é"}, {"a": "é".encode()})  # both are long strings
    assert headers_match({"a": b"x"}, {"a": "x"})
    assert not headers_match({"a": "1"}, {"a": 1})
    assert headers_match({"a": [1, "b"]}, {"a": [1, "b"]})


@pytest.mark.parametrize("bad", ["some", "ALL", "", None, 1])
def test_a_bad_x_match_names_the_choices_and_what_was_given(bad: object) -> None:
    expected = (
        r"x-match must be one of 'all', 'any', 'all-with-x', 'any-with-x'; got " + repr(bad)
    )
    with pytest.raises(ValueError, match=expected.replace("(", r"\(")):
        headers_match({"x-match": bad}, {})
    with pytest.raises(ValueError, match="x-match must be one of"):
        parse_x_match({"x-match": bad})


def test_parse_x_match_defaults_to_all_and_accepts_bytes() -> None:
    assert parse_x_match({}) == "all"
    assert parse_x_match({"x-match": b"any-with-x"}) == "any-with-x"


# --- RabbitMQ's own algorithm, ported clause by clause from rabbit_exchange_type_headers:
# a merge of the binding and the headers, both sorted by key.


def _erlang_value(value: object) -> object:
    # AMQP field values as Erlang sees them: booleans are atoms, strings are binaries.
    if isinstance(value, bool):
        return ("atom", value)
    if isinstance(value, str):
        return ("binary", value.encode())
    if isinstance(value, bytes):
        return ("binary", value)
    if isinstance(value, int | float):
        return ("number", value)
    return ("other", value)


def rabbitmq_headers_match(binding: Mapping[str, object], headers: Mapping[str, object]) -> bool:
    kind = {"all": "all", "any": "any", "all-with-x": "all_with_x", "any-with-x": "any_with_x"}[
        str(binding.get("x-match", "all"))
    ]
    pattern = sorted(binding.items())
    data = sorted(headers.items())
    all_match, any_match = True, False
    while True:
        if not all_match and kind in ("all", "all_with_x"):
            return False
        if any_match and kind in ("any", "any_with_x"):
            return True
        if not pattern:
            return all_match if kind in ("all", "all_with_x") else any_match
        pk, pv = pattern[0]
        if pk == "x-match" or (pk.startswith("x-") and kind in ("all", "any")):
            pattern = pattern[1:]
        elif not data:
            pattern, all_match = [], False
        elif pk > data[0][0]:
            data = data[1:]
        elif pk < data[0][0]:
            pattern, all_match = pattern[1:], False
        elif pv is None or _erlang_value(pv) == _erlang_value(data[0][1]):  # void: presence
            pattern, data, any_match = pattern[1:], data[1:], True
        else:
            pattern, data, all_match = pattern[1:], data[1:], False


header_keys = st.sampled_from(["a", "b", "c", "x-a", "x-b"])
values = st.sampled_from([0, 1, 1.0, True, False, "1", b"1", "x"])


@settings(max_examples=500)
@given(
    mode=st.sampled_from([None, "all", "any", "all-with-x", "any-with-x"]),
    binding=st.dictionaries(header_keys, values | st.none(), max_size=4),
    headers=st.dictionaries(header_keys, values | st.none(), max_size=4),
)
def test_agrees_with_a_port_of_rabbitmqs_algorithm(
    mode: str | None, binding: dict[str, object], headers: dict[str, object]
) -> None:
    if mode is not None:
        binding["x-match"] = mode
    assert headers_match(binding, headers) is rabbitmq_headers_match(binding, headers)
