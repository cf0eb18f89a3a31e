"""Turning a handler's exception into the error an asker sees."""

from __future__ import annotations

import traceback

from actors.errors import ActorCrashedError

__all__ = ("crashed",)


def crashed(actor: str, error: BaseException) -> ActorCrashedError:
    """An `ActorCrashedError` for `actor` that keeps `error` as its cause."""
    if isinstance(error, ActorCrashedError):
        return error
    text = "".join(traceback.format_exception(error))
    crash = ActorCrashedError(actor, type(error).__qualname__, str(error), text)
    crash.__cause__ = error
    return crash
