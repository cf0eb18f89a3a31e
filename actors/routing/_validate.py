"""Validation helpers shared by the routing rules: one wording for every bad option."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["invalid_choice"]


def invalid_choice(option: str, given: object, choices: Iterable[str]) -> ValueError:
    """A ValueError that names the option, the valid choices and what was given.

    >>> str(invalid_choice("x-match", "some", ("all", "any")))
    "x-match must be one of 'all', 'any'; got 'some'"
    """
    listed = ", ".join(repr(choice) for choice in choices)
    return ValueError(f"{option} must be one of {listed}; got {given!r}")
