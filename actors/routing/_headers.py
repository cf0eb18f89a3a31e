"""AMQP headers matching: does a message's headers table satisfy a binding, by RabbitMQ's rules.

Use :func:`headers_match` to route on message attributes rather than on a routing key
(the headers exchange calls it once per binding). It is pure: no actors, no I/O. When
routing on one string is enough, a topic or direct exchange is faster.

The rules, as in RabbitMQ's headers exchange:

* ``x-match`` in the binding picks the mode: ``all`` (the default when absent) needs
  every binding key to match, ``any`` needs at least one. ``all-with-x`` and
  ``any-with-x`` do the same but also compare binding keys that start with ``x-``;
  otherwise such keys are ignored. ``x-match`` itself is never compared.
* A binding key matches when the message has that header with an equal value; a binding
  value of ``None`` (AMQP's "void") matches on the header's presence, whatever its value.
* So under ``all`` a binding with no comparable keys matches every message, and under
  ``any`` it matches none. Missing headers (``None``) are an empty table.
* Values compare as RabbitMQ compares field values: ``True`` is not ``1`` (a boolean is
  not a number), ``1 == 1.0`` (numbers by value), and ``str`` equals ``bytes`` holding
  its UTF-8 (both are AMQP long strings). Other values compare with ``==``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

from actors.routing._validate import invalid_choice

__all__ = ["XMatch", "headers_match", "parse_x_match"]

XMatch = Literal["all", "any", "all-with-x", "any-with-x"]
X_MATCH_CHOICES: tuple[str, ...] = get_args(XMatch)


def parse_x_match(binding: Mapping[str, object]) -> XMatch:
    """The binding's ``x-match`` mode, ``"all"`` when it has none.

    Raises ValueError naming the valid choices when ``x-match`` is anything else, so
    an exchange can reject a bad binding when it is made rather than when it routes.
    """
    mode = binding.get("x-match", "all")
    if isinstance(mode, bytes):  # an AMQP long string may arrive as bytes
        mode = mode.decode("utf-8", "replace")
    if mode == "all" or mode == "any" or mode == "all-with-x" or mode == "any-with-x":
        return mode
    raise invalid_choice("headers binding x-match", mode, X_MATCH_CHOICES)


def headers_match(binding: Mapping[str, object], headers: Mapping[str, object] | None) -> bool:
    """Whether a message with ``headers`` matches the headers-exchange ``binding``.

    Follows RabbitMQ exactly (see the module docstring); raises ValueError for an
    invalid ``x-match``, even when ``headers`` is empty.
    """
    mode = parse_x_match(binding)
    with_x = mode == "all-with-x" or mode == "any-with-x"
    need_all = mode == "all" or mode == "all-with-x"
    table: Mapping[str, object] = headers if headers is not None else {}
    for key, expected in binding.items():
        if key == "x-match" or (not with_x and key.startswith("x-")):
            continue
        ok = key in table and (expected is None or _same_value(expected, table[key]))
        # Stop at the first key that settles the answer, as RabbitMQ's merge does.
        if ok != need_all:
            return ok
    return need_all


def _same_value(expected: object, actual: object) -> bool:
    # Erlang's == on AMQP field values: booleans are atoms, never equal to numbers
    # (Python says True == 1); long strings are binaries, whether sent as str or bytes.
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, str) and isinstance(actual, bytes):
        return expected.encode("utf-8") == actual
    if isinstance(expected, bytes) and isinstance(actual, str):
        return expected == actual.encode("utf-8")
    return expected == actual
