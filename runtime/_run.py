"""`run`: anyio.run with Repertory's choice of event loop."""

from __future__ import annotations

import importlib.util
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

import anyio

__all__ = ("run",)

T = TypeVar("T")


def run(
    main: Callable[..., Awaitable[T]],
    *args: Any,
    backend: Literal["asyncio", "trio"] = "asyncio",
    uvloop: bool | None = None,
) -> T:
    """Run `main(*args)` on `backend`; on asyncio, uvloop when installed and asked for.

    `uvloop=None` uses it when it is installed (`pip install repertory[fast]`), `True`
    insists on it, `False` never uses it.
    """
    options: dict[str, Any] = {}
    if backend == "asyncio":
        installed = importlib.util.find_spec("uvloop") is not None
        if uvloop and not installed:
            raise RuntimeError(
                "uvloop=True but uvloop is not installed: pip install 'repertory[fast]'"
            )
        options["use_uvloop"] = installed if uvloop is None else uvloop
    elif uvloop:
        raise ValueError("uvloop runs only on the asyncio backend; got backend='trio'")
    return anyio.run(main, *args, backend=backend, backend_options=options)
