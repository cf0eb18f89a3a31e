"""`current_kernel()`: the kernel for the event loop the caller runs on."""

from __future__ import annotations

import asyncio
import sys

from runtime._engine.kernel import Kernel
from runtime._engine.kernel_asyncio import AsyncioKernel

__all__ = ("current_kernel",)


def current_kernel() -> Kernel:
    """The kernel for the backend this task runs on."""
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            pass
        else:
            # Imported here: asyncio users never import trio.
            from runtime._engine.kernel_trio import TrioKernel

            return TrioKernel()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "an ActorSystem must be entered inside a running event loop: "
            "use `async with ActorSystem(...)` under anyio.run() (asyncio or trio)"
        ) from None
    return AsyncioKernel()
