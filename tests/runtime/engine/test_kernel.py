"""The kernel's shared parts: millisecond deadline buckets and the ask timeout, and
the asyncio kernel's callbacks outside any task."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import anyio
import pytest
import sniffio
from hypothesis import given, settings
from hypothesis import strategies as st

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


class _Loop:
    """A fake clock and the timers `Deadlines` arms on it, run when time advances."""

    def __init__(self) -> None:
        self.now = 10.0
        self.timers: list[tuple[float, int, Callable[[int], None]]] = []
        self.armed = 0  # timers ever armed

    def call_at(self, when: float, fn: Callable[[int], None], key: int) -> None:
        self.armed += 1
        self.timers.append((when, key, fn))

    def advance(self, seconds: float) -> None:
        """Move the clock on, firing the timers due on the way, in order."""
        until = self.now + seconds
        while due := sorted((t for t in self.timers if t[0] <= until), key=lambda t: t[0]):
            when, key, fn = due[0]
            self.timers.remove(due[0])
            self.now = max(self.now, when)
            fn(key)
        self.now = until


def test_waits_in_one_millisecond_share_one_timer_and_expire_together() -> None:
    loop = _Loop()
    deadlines = Deadlines(lambda: loop.now, loop.call_at)
    first, second, later = _Slot(), _Slot(), _Slot()
    deadlines.bucket(0.0101).add(first)
    deadlines.bucket(0.0102).add(second)  # the same millisecond: no second timer
    deadlines.bucket(0.5).add(later)
    # One timer, for the earliest bucket, never early.
    assert [when for when, _, _ in loop.timers] == [10.011]
    loop.advance(0.011)
    assert isinstance(first.error, Expired) and isinstance(second.error, Expired)
    assert later.error is None
    assert [when for when, _, _ in loop.timers] == [10.5]  # armed for the next one
    loop.advance(0.488)
    assert later.error is None  # not before its millisecond
    loop.advance(0.002)
    assert isinstance(later.error, Expired)


def test_an_ask_loop_keeps_one_timer_not_one_per_millisecond() -> None:
    loop = _Loop()
    deadlines = Deadlines(lambda: loop.now, loop.call_at)
    for _ in range(1000):  # asks answered 0.1 ms after they were sent: 100 buckets
        slot = _Slot()
        bucket = deadlines.bucket(5.0)
        bucket.add(slot)
        loop.advance(0.0001)
        bucket.discard(slot)
    assert loop.armed == 1 and len(loop.timers) == 1
    loop.advance(5.0)  # its bucket was empty: nothing failed, nothing armed again
    assert loop.armed == 1 and loop.timers == []
    late = _Slot()
    deadlines.bucket(0.002).add(late)
    assert loop.armed == 2
    loop.advance(0.003)  # its millisecond, at most one later
    assert isinstance(late.error, Expired)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(
    st.floats(0.0, 0.01),  # time passing before the wait begins
    st.floats(0.0, 0.05),  # its timeout
    st.none() | st.floats(0.0, 0.06),  # when it is answered, if it is
), max_size=40))
def test_every_wait_not_answered_expires_within_a_millisecond_of_its_deadline(
    waits: list[tuple[float, float, float | None]],
) -> None:
    loop = _Loop()
    deadlines = Deadlines(lambda: loop.now, loop.call_at)
    plan, at = [], loop.now
    for pause, timeout, answer_after in waits:
        at += pause
        plan.append((at, timeout, answer_after))
    began: list[tuple[_Slot, float, float, float | None]] = []
    expired_at: dict[int, float] = {}
    step = 0.0001
    while len(began) < len(plan) or any(s.error is None for s, *_ in began):
        # In 0.1 ms steps: waits begin when planned, answers come when due (unless
        # the wait expired first), and each expiry is noted (at most a step late).
        while len(began) < len(plan) and plan[len(began)][0] <= loop.now:
            _, timeout, answer_after = plan[len(began)]
            slot = _Slot()
            deadlines.bucket(timeout).add(slot)
            began.append((slot, loop.now, timeout, answer_after))
        loop.advance(step)
        for slot, start, _, answer_after in began:
            if slot.error is not None:
                expired_at.setdefault(id(slot), loop.now)
            elif answer_after is not None and loop.now >= start + answer_after:
                slot.error = StopIteration()  # answered (done), and leaves its bucket
                for bucket in deadlines._buckets.values():
                    bucket.discard(slot)
    late = 0.001 + step + 1e-9
    for slot, start, timeout, answer_after in began:
        if isinstance(slot.error, Expired):  # at its deadline, at most 1 ms late
            assert start + timeout - 1e-9 <= expired_at[id(slot)] <= start + timeout + late
            assert answer_after is None or answer_after >= timeout - step - 1e-9
        else:  # answered, before its deadline had passed by a millisecond
            assert isinstance(slot.error, StopIteration)
            assert answer_after is not None and answer_after <= timeout + late
    loop.advance(1.0)
    assert loop.timers == [] and deadlines._buckets == {}


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
