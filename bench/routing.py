"""Routing through a real system: topic publish with 10 and 10,000 bindings, and what a
pool's routing adds to a plain tell.

Every figure is end to end: the clock runs from the first publish (or tell) until the
bound actors (or workers) have handled every copy, and it counts this process's CPU
time, not wall time: the loop runs on one thread, and on a shared machine CPU time
leaves out the moments another process held the core (as `bench.ab` does). Each
figure and its baseline take turns (A B A B, `ROUNDS` rounds on asyncio, each run in a
fresh system on a fresh event loop) in the same process; the table's ratio is the
median of the per-round ratios, with their range, and the rate shown is the best run.

- topic publish: keys are ``service.region.event`` over 100 words per position (a
  million keys); 50,000 distinct keys per run, so each publish misses the exchange's
  cache of 1024 keys and walks the trie, and their 10,000 two-word prefixes come
  about five times each, so its prefix memo helps little: the worst case. A third row
  takes keys that carry an id in their last word under 200 prefixes
  (``s3.r7.id912``), as keys often do. One "audit" actor binds ``#`` so that every
  key routes; the other bindings spread over up to 1000 actors and mix wildcards: 55%
  plain keys, 25% one word as ``*``, 10% ``service.region.#``, 10% ``#.region.event``.
  A publish reaches about 1 actor with 10 bindings and about 1.5 with 10,000 (each
  row's note says). The rate is publishes per second. Baselines: for 10 bindings,
  the same deliveries told directly (what the exchange costs over knowing the
  targets); for 10,000, the rate with 10 bindings, from the same round. Targets
  (issue 15): >= 200k/s with 10,000 bindings, and >= 0.5x the rate with 10.
- pool routing: 4 workers; the pool's `tell` against telling the same workers in the
  same order directly (the targets listed beforehand), so the difference is the
  routing. Every message has its own key (``cart-<i>``), so consistent hashing is
  measured with distinct keys: no memo of owners could help. Target (issue 15):
  >= 0.8x the direct tells.

Run alone with ``python -m bench.routing`` (``--quick`` for a smoke run): it prints the
table and writes ``bench/results/routing.json``; ``python -m bench`` runs it as one of
its extra modules. Profile one figure with ``py-spy record -o out.svg -- python -m
bench.routing profile topic 10000`` (or ``profile topic 10000 ids``, ``profile pool
random``).
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from actors import Actor, ActorRef
from actors.routing import PoolRef
from bench._harness import REPEATS, Result, best_rates
from bench.report import Row, Target, format_table, write_json
from runtime import ActorSystem

__all__ = ("main", "run")

BACKENDS = ("asyncio", "trio")
RESULTS = Path(__file__).parent / "results" / "routing.json"
PUBLISHES = 50_000
POOL_TELLS = 100_000
POOL_SIZE = 4
WORDS = 100  # per key position
MAX_ACTORS = 1000
ROUTINGS = ("round_robin", "random", "broadcast", "consistent_hash", "smallest_mailbox")
DEADLINE = 60.0
# CPU seconds of this process (see the module's docstring).
_clock = time.process_time
# Rounds per figure: ours and its baseline take turns (A B A B) and the table gives
# the median of the per-round ratios and their range. Three left a median that moved
# by 0.2 between runs with the machine's load at 20; five hold it within about 0.1. The
# trio column is a rate beside it, not a ratio: one run does for it. A full run takes
# about 45 s on a loaded 2-core machine.
ROUNDS = {"asyncio": 5, "trio": 1}


class _Tally:
    """Counts handled copies; `done` is set when `expected` have been handled."""

    def __init__(self) -> None:
        self.seen = 0
        self.expected = -1
        self.done = anyio.Event()

    def expect(self, total: int) -> None:
        self.expected = total
        if self.seen >= total:
            self.done.set()


class _Sink(Actor[Any]):
    def __init__(self, tally: _Tally) -> None:
        self.tally = tally

    def receive(self, message: Any) -> None:
        tally = self.tally
        tally.seen += 1
        if tally.seen == tally.expected:
            tally.done.set()


# -- topic publish ------------------------------------------------------------------------------


def _patterns(n: int, rng: random.Random) -> list[str]:
    """`n` binding patterns: one audit ``#`` and `n - 1` of mixed wildcards."""
    patterns = ["#"]
    while len(patterns) < n:
        s, r, e = (f"{part}{rng.randrange(WORDS)}" for part in "sre")
        roll = rng.random()
        if roll < 0.55:
            patterns.append(f"{s}.{r}.{e}")
        elif roll < 0.80:
            words = [s, r, e]
            words[rng.randrange(3)] = "*"
            patterns.append(".".join(words))
        elif roll < 0.90:
            patterns.append(f"{s}.{r}.#")
        else:
            patterns.append(f"#.{r}.{e}")
    return patterns


def _keys(count: int, rng: random.Random, shape: str = "spread") -> list[str]:
    """`count` distinct keys: "spread" over all 1M, or "ids": 200 two-word prefixes
    and an id as the last word (``s3.r7.id912``), as keys that carry ids look."""
    if shape == "ids":
        prefixes = [f"s{rng.randrange(WORDS)}.r{rng.randrange(WORDS)}" for _ in range(200)]
        return [f"{rng.choice(prefixes)}.id{i}" for i in range(count)]
    keys = {f"s{rng.randrange(WORDS)}.r{rng.randrange(WORDS)}.e{rng.randrange(WORDS)}"
            for _ in range(count * 2)}
    return list(keys)[:count]


def _topic_runs(
    n_bindings: int, publishes: int, backend: str, shape: str = "spread",
    reach: dict[str, float] | None = None,
) -> dict[str, Callable[[], float]]:
    """The exchange run and (for 10 bindings) its direct-tell twin, each in a fresh
    system; each exchange run puts its deliveries per publish in `reach`."""
    rng = random.Random(n_bindings)
    patterns = _patterns(n_bindings, rng)
    keys = _keys(publishes, rng, shape)
    actors = min(n_bindings, MAX_ACTORS)

    async def prepared(system: ActorSystem, tally: _Tally) -> Any:
        sinks = [system.spawn(_Sink, tally) for _ in range(actors)]
        exchange = system.exchange("bench", "topic")
        for index, pattern in enumerate(patterns):
            exchange.bind(sinks[index % actors], pattern)
        for sink in sinks:  # all started, so the clock does not time their start
            await sink.ask(None, timeout=5.0)
        tally.seen = 0
        return exchange

    async def through_exchange(system: ActorSystem) -> float:
        tally = _Tally()
        exchange = await prepared(system, tally)
        publish = exchange.publish
        start = _clock()
        total = 0
        for key in keys:
            total += publish(key, key)
        tally.expect(total)
        await tally.done.wait()
        elapsed = _clock() - start
        if reach is not None:
            reach[name] = total / len(keys)
        return elapsed

    async def told_directly(system: ActorSystem) -> float:
        tally = _Tally()
        exchange = await prepared(system, tally)
        plan = [(key, exchange.route(key)) for key in keys]
        total = sum(len(refs) for _, refs in plan)
        start = _clock()
        for key, refs in plan:
            for ref in refs:
                ref.tell(key)
        tally.expect(total)
        await tally.done.wait()
        return _clock() - start

    suffix = "" if shape == "spread" else f"_{shape}"
    name = f"topic_{n_bindings}{suffix}"
    runs = {name: _on(backend, through_exchange)}
    if n_bindings == 10 and shape == "spread":
        runs["topic_direct"] = _on(backend, told_directly)
    return runs


# -- pools --------------------------------------------------------------------------------------


def _pool_runs(routing: str, tells: int, backend: str) -> dict[str, Callable[[], float]]:
    # consistent_hash: every key distinct, so no memo of owners helps (the worst case)
    messages = [(f"cart-{i}", i) for i in range(tells)]

    def spawn(system: ActorSystem, tally: _Tally) -> PoolRef:
        key = (lambda message: message[0]) if routing == "consistent_hash" else None
        return system.spawn_pool(_Sink, tally, size=POOL_SIZE, routing=routing,  # type: ignore[arg-type]
                                 key=key)

    async def through_pool(system: ActorSystem) -> float:
        tally = _Tally()
        pool = spawn(system, tally)
        await _started(pool, tally)
        tell = pool.tell
        copies = POOL_SIZE if routing == "broadcast" else 1
        start = _clock()
        for message in messages:
            tell(message)
        tally.expect(len(messages) * copies)
        await tally.done.wait()
        return _clock() - start

    async def told_directly(system: ActorSystem) -> float:
        tally = _Tally()
        pool = spawn(system, tally)
        await _started(pool, tally)
        # The same workers in the same order as the pool picks them, listed beforehand.
        targets: list[tuple[ActorRef[Any], Any]]
        if routing == "broadcast":
            targets = [(worker, m) for m in messages for worker in pool.workers]
        elif routing == "smallest_mailbox":  # idle workers in turn, as the pool finds them
            targets = [(pool.workers[i % POOL_SIZE], m) for i, m in enumerate(messages)]
        else:
            targets = [(pool.pick(m), m) for m in messages]
        start = _clock()
        for worker, message in targets:
            worker.tell(message)
        tally.expect(len(targets))
        await tally.done.wait()
        return _clock() - start

    return {f"pool_{routing}": _on(backend, through_pool),
            f"pool_{routing}_direct": _on(backend, told_directly)}


async def _started(pool: PoolRef, tally: _Tally) -> None:
    for worker in pool.workers:  # every worker started, so none is told while starting
        await worker.ask(None, timeout=5.0)
    tally.seen = 0


# -- running ------------------------------------------------------------------------------------


def _on(backend: str, work: Callable[[ActorSystem], Awaitable[float]]) -> Callable[[], float]:
    async def main() -> float:
        with anyio.fail_after(DEADLINE):
            async with ActorSystem("bench") as system:
                return await work(system)

    return lambda: anyio.run(main, backend=backend)


def _measure(backend: str, quick: bool) -> dict[str, Result]:
    scale = 10 if quick else 1
    publishes, tells = PUBLISHES // scale, POOL_TELLS // scale
    # One round runs every topic figure in turn (10 bindings, direct, 10k, 10k ids),
    # so that each 10k figure pairs with the 10-binding run of its own round.
    reach: dict[str, float] = {}
    topic_runs = {**_topic_runs(10, publishes, backend, reach=reach),
                  **_topic_runs(10_000, publishes, backend, reach=reach),
                  **_topic_runs(10_000, publishes, backend, "ids", reach=reach)}
    results = best_rates(publishes, topic_runs, ROUNDS[backend])
    for key, shape in (("topic_10", "spread"), ("topic_10000", "spread"),
                       ("topic_10000_ids", "ids")):
        results[key].note = (f"publishes/s, {reach[key]:.2f} deliveries each, distinct "
                             f"keys ({shape})")
    for routing in ROUTINGS:
        results.update(best_rates(tells, _pool_runs(routing, tells, backend), ROUNDS[backend]))
    return results


def run(quick: bool = False) -> list[Row]:
    """Every figure on both backends, as rows for `python -m bench`'s table."""
    measured = {backend: _measure(backend, quick) for backend in BACKENDS}
    on_asyncio, on_trio = measured["asyncio"], measured["trio"]
    rows = [
        Row("topic publish, 10 bindings", "msgs/s", on_asyncio["topic_10"],
            baseline=on_asyncio["topic_direct"],
            baseline_name="topic publish: the same deliveries told directly",
            trio=on_trio["topic_10"], targets=[Target(">=200k/s", "absolute", 200_000)],
            paired=True),
        Row("topic publish, 10k bindings", "msgs/s", on_asyncio["topic_10000"],
            baseline=on_asyncio["topic_10"],
            baseline_name="topic publish 10k: the same with 10 bindings",
            trio=on_trio["topic_10000"],
            targets=[Target(">=200k/s", "absolute", 200_000),
                     Target(">=0.5x 10 bindings", "baseline", 0.5)], paired=True),
        Row("topic publish, 10k bindings, ids in keys", "msgs/s",
            on_asyncio["topic_10000_ids"], baseline=on_asyncio["topic_10"],
            baseline_name="topic publish 10k: the same with 10 bindings",
            trio=on_trio["topic_10000_ids"],
            targets=[Target(">=200k/s", "absolute", 200_000),
                     Target(">=0.5x 10 bindings", "baseline", 0.5)], paired=True),
    ]
    for routing in ROUTINGS:
        rows.append(Row(
            f"pool tell, {routing}", "msgs/s", on_asyncio[f"pool_{routing}"],
            baseline=on_asyncio[f"pool_{routing}_direct"],
            baseline_name="pool tell: the same workers told directly, in the same order",
            trio=on_trio[f"pool_{routing}"],
            targets=[Target(">=0.8x direct", "baseline", 0.8)], paired=True,
        ))
    return rows


def _profile(argv: list[str]) -> int:
    """``profile topic N`` or ``profile pool ROUTING``: one figure in this process."""
    what = argv[0] if argv else "topic"
    if what == "topic":
        n = int(argv[1]) if len(argv) > 1 else 10_000
        runs = _topic_runs(n, PUBLISHES, "asyncio", argv[2] if len(argv) > 2 else "spread")
    else:
        runs = _pool_runs(argv[1] if len(argv) > 1 else "round_robin", POOL_TELLS, "asyncio")
    count = PUBLISHES if what == "topic" else POOL_TELLS
    for name, result in best_rates(count, runs, repeats=REPEATS).items():
        print(f"{name}: {result.value:,.0f}/s (runs {result.runs})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Print the figures; a full run (not ``--quick``) writes them to `RESULTS`."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "profile":
        return _profile(args[1:])
    quick = "--quick" in args
    rows = run(quick=quick)
    print(format_table(rows))
    for row in rows:
        for backend, cell in (("asyncio", row.ours), ("trio", row.trio)):
            if isinstance(cell, Result):
                print(f"{row.figure} [{backend}]: {cell.value:,.0f} {cell.note} runs={cell.runs}")
    if not quick:
        write_json(RESULTS, rows, {"publishes": PUBLISHES, "pool_tells": POOL_TELLS,
                                   "pool_size": POOL_SIZE, "words": WORDS,
                                   "max_actors": MAX_ACTORS}, quick=False)
        print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
