"""Pools through a real system: each routing, asks through the pool, restarts in place,
the crash-loop back-off, the pool actor's own ref, and the errors for bad options."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import Actor, ActorRef
from actors.routing import HashRing, PoolRef
from actors.routing._pool import BACKOFF_INITIAL, RESTART_BURST
from actors.routing._pool_routing import _ROUND_PER_WORKER
from actors.testkit import TestProbe
from runtime import ActorSystem

pytestmark = pytest.mark.anyio


class Worker(Actor[Any]):
    """Counts what it handles; answers "who" with its ref and "seen" with its log."""

    def __init__(self, probe: TestProbe | None = None, release: anyio.Event | None = None):
        self.probe = probe
        self.release = release
        self.seen: list[Any] = []

    def on_restart(self, reason: BaseException) -> None:
        if self.probe is not None:
            self.probe.ref.tell(("restarted", self.context.ref))

    async def receive(self, message: Any) -> Any:
        if message == "who":
            return self.context.ref
        if message == "seen":
            return list(self.seen)
        if message == "crash":
            raise RuntimeError("asked to crash")
        if message == "block":
            assert self.probe is not None and self.release is not None
            self.probe.ref.tell(("blocked", self.context.ref))
            await self.release.wait()
            return None
        self.seen.append(message)
        return self.context.ref


async def seen_by(pool: PoolRef) -> dict[ActorRef[Any], list[Any]]:
    """Each worker's log, asked directly: told messages from this task came first."""
    return {worker: await worker.ask("seen", timeout=2.0) for worker in pool.workers}


# -- the routings ------------------------------------------------------------------------------


async def test_round_robin_spreads_evenly_in_turn(actor_system: ActorSystem) -> None:
    pool = actor_system.spawn_pool(Worker, size=4, routing="round_robin")
    for i in range(40):
        pool.tell(i)
    logs = await seen_by(pool)
    assert [len(log) for log in logs.values()] == [10, 10, 10, 10]
    firsts = sorted(log[0] for log in logs.values())
    assert firsts == [0, 1, 2, 3]  # in turn: each worker got every fourth message
    assert all(b - a == 4 for log in logs.values() for a, b in pairwise(log))


async def test_random_reaches_every_worker(actor_system: ActorSystem) -> None:
    pool = actor_system.spawn_pool(Worker, size=4, routing="random")
    for i in range(400):  # a worker missed by 400 draws: (3/4)**400, about 1e-50
        pool.tell(i)
    logs = await seen_by(pool)
    assert sum(len(log) for log in logs.values()) == 400
    assert all(log for log in logs.values())


@pytest.mark.parametrize("size", [3, 7, 300])
def test_random_draws_every_worker_equally_often(size: int) -> None:
    """The draw drops the bytes past the last multiple of the size, so no worker is
    favoured (a byte modulo 7 would favour the first four by 1/36); past 256 workers it
    draws bits instead."""
    from actors.routing._pool_routing import _random_workers

    workers = tuple(range(size))
    draw = _random_workers(workers)  # type: ignore[arg-type]
    draws = 2000 * size
    counts = Counter(draw() for _ in range(draws))
    assert set(counts) == set(workers)
    # 2000 expected each: 5 standard deviations (~45) either way
    assert all(abs(count - 2000) < 230 for count in counts.values()), counts


async def test_broadcast_tells_every_worker_and_an_ask_answers_once(
    actor_system: ActorSystem,
) -> None:
    pool = actor_system.spawn_pool(Worker, size=3, routing="broadcast")
    pool.tell("news")
    answer = await pool.ask("question", timeout=2.0)
    logs = await seen_by(pool)
    assert all(log[0] == "news" for log in logs.values())
    askers = [worker for worker, log in logs.items() if "question" in log]
    assert askers == [answer]  # one worker handled the ask, and it answered


async def test_consistent_hash_keeps_each_key_on_one_worker(actor_system: ActorSystem) -> None:
    pool = actor_system.spawn_pool(
        Worker, size=4, routing="consistent_hash", key=lambda message: message[0]
    )
    carts = [f"cart-{i}" for i in range(40)]
    for round_ in range(5):
        for cart in carts:
            pool.tell((cart, round_))
    logs = await seen_by(pool)
    owner: dict[str, ActorRef[Any]] = {}
    for worker, log in logs.items():
        for cart, _ in log:
            assert owner.setdefault(cart, worker) == worker, f"{cart} reached two workers"
    assert len(owner) == 40
    assert len(set(owner.values())) >= 3  # 40 keys spread over the ring, not on one worker
    for cart in carts[:5]:  # an ask goes where the key's tells went
        assert await pool.ask((cart, "ask"), timeout=2.0) == owner[cart]


async def test_consistent_hash_remembers_owners_without_mixing_up_keys(
    actor_system: ActorSystem,
) -> None:
    """The pool remembers str and int keys' owners; True, 1.0 and 1 stay apart, as on
    the ring (which hashes True and 1.0 by their repr)."""
    pool = actor_system.spawn_pool(Worker, size=8, routing="consistent_hash",
                                   key=lambda message: message)
    ring = HashRing(pool.workers)
    keys: list[Any] = [1, True, 1.0, "1", 0, False, "cart-7", b"cart-7", ("a", 1), *range(40)]
    for _ in range(2):  # the second round is answered from what the pool remembered
        for key in keys:
            assert pool.pick(key) == ring.lookup(key), key


@settings(max_examples=40, deadline=None)
@given(
    workers=st.integers(min_value=1, max_value=12),
    seed=st.integers(min_value=0, max_value=10**6),
)
def test_adding_a_worker_moves_about_one_nth_of_the_keys(workers: int, seed: int) -> None:
    """From n to n+1 workers, only keys now owned by the new worker move; about
    1/(n+1) of them (100 points per worker keep each share within ~35%)."""
    names = [f"pool@127.0.0.1:4000/${seed + i}" for i in range(workers + 1)]
    before, after = HashRing(names[:-1]), HashRing(names)
    keys = [f"key-{seed}-{i}" for i in range(3000)]
    moved = [key for key in keys if before.lookup(key) != after.lookup(key)]
    assert all(after.lookup(key) == names[-1] for key in moved)
    share = len(moved) / len(keys)
    expected = 1 / (workers + 1)
    assert 0.5 * expected <= share <= 1.6 * expected, (share, expected)


async def test_smallest_mailbox_prefers_an_idle_worker(actor_system: ActorSystem) -> None:
    probe, release = TestProbe(actor_system), anyio.Event()
    pool = actor_system.spawn_pool(Worker, probe, release, size=3, routing="smallest_mailbox")
    try:
        pool.tell("block")
        _, blocked = await probe.expect(tuple)
        for i in range(3):
            blocked.tell(f"waiting {i}")  # its mailbox fills while it is blocked
        assert blocked.mailbox_size == 3

        answers = Counter([await pool.ask(i, timeout=2.0) for i in range(30)])
        assert blocked not in answers
        assert len(answers) == 2 and min(answers.values()) >= 5  # the idle two share
        assert blocked.mailbox_size == 3
    finally:
        release.set()
    assert await blocked.ask("seen", timeout=2.0) == ["waiting 0", "waiting 1", "waiting 2"]


async def test_smallest_mailbox_notices_a_worker_that_stopped_draining(
    actor_system: ActorSystem,
) -> None:
    """One message waits behind a blocked worker: its running count (1) soon equals the
    idle workers' counts, but their mailboxes, read on every pick, are found empty, so
    the blocked worker gets nothing more."""
    probe, release = TestProbe(actor_system), anyio.Event()
    pool = actor_system.spawn_pool(Worker, probe, release, size=3, routing="smallest_mailbox")
    try:
        pool.tell("block")
        _, blocked = await probe.expect(tuple)
        blocked.tell("waiting")
        answers = Counter([await pool.ask(i, timeout=2.0) for i in range(30)])
        assert blocked not in answers and sum(answers.values()) == 30
        assert blocked.mailbox_size == 1
    finally:
        release.set()


async def test_smallest_mailbox_fills_the_emptiest_first_in_a_burst(
    actor_system: ActorSystem,
) -> None:
    """Told without a pause, nothing drains: the counts alone pick, lowest first."""
    probe, release = TestProbe(actor_system), anyio.Event()
    pool = actor_system.spawn_pool(Worker, probe, release, size=3, routing="smallest_mailbox")
    first, second, third = pool.workers
    try:
        for worker in (first, second, third):
            worker.tell("block")
            await probe.expect(tuple)
        for i in range(4):
            first.tell(f"before {i}")
        second.tell("before")
        for i in range(9):  # with 4, 1 and 0 waiting: each goes to the shortest queue
            pool.tell(i)
        # the third and second fill up to the first (4 each, 7 messages), then the
        # last two go to the first and the second (the first smallest, in order)
        assert [w.mailbox_size for w in (first, second, third)] == [5, 5, 4]
    finally:
        release.set()


class _Mailbox(ActorRef[Any]):
    """A worker stand-in for the smallest_mailbox picker: a mailbox whose size a test
    sets, which nothing drains unless the test says so."""

    def __init__(self, waiting: int) -> None:
        self.mailbox_size = waiting
        self.got: list[Any] = []

    def tell(self, message: Any, sender: Any = None) -> None:
        self.mailbox_size += 1
        self.got.append(message)


def smallest_mailbox_over(workers: list[_Mailbox]) -> PoolRef[Any]:
    pool: PoolRef[Any] = PoolRef("smallest_mailbox", size=len(workers))
    pool._bind(pool, workers)
    return pool


@settings(max_examples=80, deadline=None)
@given(
    waiting=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=7),
    tells=st.integers(min_value=0, max_value=300),
)
def test_smallest_mailbox_in_a_burst_places_each_tell_as_the_reference_does(
    waiting: list[int], tells: int
) -> None:
    """Told without a pause from any backlog, each message goes where the reference
    (read every mailbox, take the first smallest) sends it, rounds or no rounds."""
    workers = [_Mailbox(n) for n in waiting]
    pool = smallest_mailbox_over(workers)
    sizes = list(waiting)
    for i in range(tells):
        target = sizes.index(min(sizes))  # the reference
        sizes[target] += 1
        pool.tell(i)
        assert i in workers[target].got, (i, target)
    assert [w.mailbox_size for w in workers] == sizes


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(min_value=2, max_value=6),
    burst=st.integers(min_value=0, max_value=200),
    after=st.integers(min_value=1, max_value=120),
)
def test_smallest_mailbox_notices_a_pause_within_one_round(
    size: int, burst: int, after: int
) -> None:
    """A burst, then a pause in which every worker but the first drains and the first
    stays stuck: the stuck one gets at most one round's share (8) more, and after the
    rest of the round (8 per worker at most) each message goes to an empty worker."""
    workers = [_Mailbox(0) for _ in range(size)]
    pool = smallest_mailbox_over(workers)
    for i in range(burst):
        pool.tell(i)
    stuck = workers[0]
    before = len(stuck.got)
    for worker in workers[1:]:
        worker.mailbox_size = 0  # they ran during the pause
    late = []
    for i in range(after):
        empty = [w for w in workers if w.mailbox_size == 0]
        pool.tell(("after", i))
        late.append(any(("after", i) in w.got for w in empty))
        for worker in workers[1:]:
            worker.mailbox_size = 0  # each answers at once, as under asks
    assert len(stuck.got) - before <= _ROUND_PER_WORKER
    misplaced = [i for i, exact in enumerate(late) if not exact]
    assert not misplaced or misplaced[-1] < _ROUND_PER_WORKER * size, late


# -- asks, restarts, the pool actor ------------------------------------------------------------


@pytest.mark.parametrize("routing", ["round_robin", "random", "smallest_mailbox", "broadcast"])
async def test_ask_answers_from_the_worker_that_got_it(
    actor_system: ActorSystem, routing: Any
) -> None:
    pool = actor_system.spawn_pool(Worker, size=3, routing=routing)
    answers = [await pool.ask(f"job {i}", timeout=2.0) for i in range(12)]
    logs = await seen_by(pool)
    for i, worker in enumerate(answers):
        assert f"job {i}" in logs[worker]
    assert sum(len(log) for log in logs.values()) == 12


async def test_a_crashed_worker_is_restarted_in_place_and_the_pool_keeps_working(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    pool = actor_system.spawn_pool(Worker, probe, size=2, routing="round_robin")
    first = pool.workers[0]
    first.tell("crash")
    assert await probe.expect(tuple) == ("restarted", first)
    answers = {await pool.ask("who", timeout=2.0) for _ in range(4)}
    assert answers == set(pool.workers)
    assert pool.workers[0] == first and first.is_alive and pool.is_alive


async def test_a_worker_in_a_crash_loop_is_restarted_after_a_back_off(
    actor_system: ActorSystem,
) -> None:
    """The first RESTART_BURST quick restarts are immediate; the next waits
    BACKOFF_INITIAL seconds, the one after twice that: the loop does not spin."""
    probe = TestProbe(actor_system)
    pool = actor_system.spawn_pool(Worker, probe, size=1, routing="round_robin")
    worker = pool.workers[0]
    for _ in range(RESTART_BURST + 2):
        worker.tell("crash")  # each waits in the mailbox for the next incarnation
    times = []
    for _ in range(RESTART_BURST + 2):
        assert await probe.expect(tuple, timeout=5.0) == ("restarted", worker)
        times.append(anyio.current_time())
    burst = times[RESTART_BURST - 1] - times[0]
    first_wait = times[RESTART_BURST] - times[RESTART_BURST - 1]
    second_wait = times[RESTART_BURST + 1] - times[RESTART_BURST]
    assert first_wait >= BACKOFF_INITIAL * 0.9  # timers may fire a hair early
    assert second_wait >= BACKOFF_INITIAL * 1.8  # doubled
    assert burst < first_wait + second_wait  # the burst itself did not wait
    assert await pool.ask("who", timeout=2.0) == worker  # and it serves again


async def test_the_pool_actors_own_ref_routes_tells_and_asks(actor_system: ActorSystem) -> None:
    """What another node knows is the pool actor's plain ref: it routes too, one hop more."""
    pool = actor_system.spawn_pool(Worker, size=3, routing="round_robin", name="resizers")
    plain = pool._unwrap()
    assert not isinstance(plain, PoolRef) and plain == pool
    answers = [await plain.ask(f"job {i}", timeout=2.0) for i in range(6)]
    assert set(answers) == set(pool.workers)
    plain.tell("told")
    await plain.ask("who", timeout=2.0)  # routed after the tell: "told" is queued by now
    logs = await seen_by(pool)
    assert sum(log.count("told") for log in logs.values()) == 1
    for i, worker in enumerate(answers):
        assert f"job {i}" in logs[worker]


async def test_a_pool_bound_to_an_exchange_gets_one_copy_per_publish(
    actor_system: ActorSystem,
) -> None:
    pool = actor_system.spawn_pool(Worker, size=2, routing="round_robin")
    ex = actor_system.exchange("jobs", "topic")
    ex.bind(pool, "job.#")
    assert [ex.publish("job.resize", i) for i in range(4)] == [1, 1, 1, 1]
    logs = await seen_by(pool)
    assert sorted(len(log) for log in logs.values()) == [2, 2]


# -- errors ------------------------------------------------------------------------------------


async def test_bad_options_are_refused_listing_the_choices(actor_system: ActorSystem) -> None:
    with pytest.raises(ValueError, match="pool routing must be one of 'round_robin', 'random', "
                       "'broadcast', 'consistent_hash', 'smallest_mailbox'; got 'fastest'"):
        actor_system.spawn_pool(Worker, routing="fastest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="routing='consistent_hash' needs key=, a function "
                       "from a message to its key"):
        actor_system.spawn_pool(Worker, routing="consistent_hash")
    with pytest.raises(ValueError, match="key= is only used by routing='consistent_hash'; "
                       "got 'random'"):
        actor_system.spawn_pool(Worker, routing="random", key=str)
    for size in (0, -1, "4", True, 2.0):
        with pytest.raises(ValueError, match=f"a pool's size must be a positive int \\(1, 2, "
                           f"...\\); got {size!r}"):
            actor_system.spawn_pool(Worker, size=size)  # type: ignore[arg-type]
    assert actor_system.registry.whereis("nothing") is None
