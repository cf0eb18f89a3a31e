"""Turning a handler's exception into the error an asker sees."""

from __future__ import annotations

from actors.errors import ActorCrashedError

__all__ = ("crashed",)


def crashed(actor: str, error: BaseException) -> ActorCrashedError:
    """An `ActorCrashedError` for `actor` that keeps `error` as its cause."""
    return ActorCrashedError.from_error(actor, error)
