"""The kernel's shared parts: millisecond deadline buckets and the ask timeout, and
the asyncio kernel's callbacks outside any task."""

from __future__ import annotations

import asyncio

import anyio
import pytest
import sniffio

from actors import Actor, AskTimeoutError
from runtime import ActorSystem
from runtime._engine.kernel import Deadlines, Expired
from runtime._engine.kernel_asyncio import AsyncioKernel

pytestmark = pytest.mark.anyio


class _Slot:
    def __init__(self) -> None:
        self.error: BaseException | None = None

    def done(self) -> bool:
        return self.error is not None

    def set_result(self, value: object) -> None:
        raise AssertionError("not used")

    def set_exception(self, error: BaseException) -> None:
        self.error = error


def test_waits_in_one_millisecond_share_one_timer_and_expire_together() -> None:
    now = [10.0]
    timers: list[tuple[float, int]] = []
    deadlines = Deadlines(lambda: now[0], lambda when, fn, key: timers.append((when, key)))
    first, second, later = _Slot(), _Slot(), _Slot()
    deadlines.bucket(0.0101).add(first)
    deadlines.bucket(0.0102).add(second)  # the same millisecond: no second timer
    deadlines.bucket(0.5).add(later)
    assert [when for when, _ in timers] == [10.011, 10.5]
    assert all(when >= now[0] + 0.0102 for when, _ in timers[:1])  # never early
    deadlines._expire(timers[0][1])
    assert isinstance(first.error, Expired) and isinstance(second.error, Expired)
    assert later.error is None


class _Silent(Actor[str]):
    def receive(self, message: str) -> None:
        self.context.reply_later()  # never answers


async def test_an_ask_past_its_deadline_raises_ask_timeout_error_and_is_counted(
    actor_system: ActorSystem,
) -> None:
    silent = actor_system.spawn(_Silent, name="silent")
    with pytest.raises(AskTimeoutError, match=r"ask to test/silent timed out after 0.05 s"):
        await silent.ask("hello?", timeout=0.05)
    assert actor_system._asks_timed_out == 1


def test_a_loop_callback_made_by_in_loop_callback_can_use_anyio() -> None:
    """A transport's callback runs outside any task; under plain `asyncio.run` (no
    anyio.run to name the backend) anyio cannot tell the backend there, unless the
    callback is the kernel's `in_loop_callback`."""

    def use_anyio(results: list[object]) -> None:
        try:
            event = anyio.Event()
            event.set()
            results.append((sniffio.current_async_library(), event.is_set()))
        except Exception as error:
            results.append(error)

    async def main() -> tuple[object, object]:
        kernel = AsyncioKernel()
        bare: list[object] = []
        wrapped: list[object] = []
        done = asyncio.Event()
        kernel.loop.call_soon(use_anyio, bare)
        kernel.loop.call_soon(kernel.in_loop_callback(use_anyio), wrapped)
        kernel.loop.call_soon(done.set)
        await done.wait()
        return bare[0], wrapped[0]

    bare, wrapped = asyncio.run(main())
    assert isinstance(bare, sniffio.AsyncLibraryNotFoundError)  # what it fixes
    assert wrapped == ("asyncio", True)
