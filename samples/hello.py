"""One node, five steps: spawn, tell, ask, a crash and a watch.

Run it with ``python -m samples.hello``. Each step prints one line; the program exits
with status 1 if anything did not happen as the line says, so it doubles as a test.
"""

from __future__ import annotations

import sys
from typing import Any

from actors import Actor, ActorCrashedError, ActorRef, Reply, Terminated
from runtime import ActorSystem, run

__all__ = ("Calculator", "Counter", "Watcher", "main")


class Counter(Actor[int | str]):
    """Adds the numbers it is told; answers ``"get"`` with the total."""

    def __init__(self, start: int = 0) -> None:
        self.count = start

    def receive(self, message: int | str) -> int | None:
        match message:
            case int(n):
                self.count += n
            case "get":
                return self.count
        return None


class Calculator(Actor[tuple[int, int]]):
    """Divides; dividing by zero raises, which crashes the actor."""

    def receive(self, message: tuple[int, int]) -> float:
        numerator, denominator = message
        return numerator / denominator


class Watcher(Actor[Any]):
    """Watches the refs it is told; answers ``"next"`` with the next `Terminated`.

    The answer may come after the handler returned, so it uses `reply_later()`.
    """

    def __init__(self) -> None:
        self.seen: list[Terminated] = []
        self.waiting: list[Reply] = []

    def receive(self, message: Any) -> None:
        if isinstance(message, ActorRef):
            self.context.watch(message)
        elif isinstance(message, Terminated):
            self.seen.append(message)
        elif message == "next":
            self.waiting.append(self.context.reply_later())
        while self.seen and self.waiting:
            self.waiting.pop(0).send(self.seen.pop(0))


class Checks:
    """Prints one line per step and remembers the ones that did not hold."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def step(self, line: str, held: bool) -> None:
        print(f"{'ok  ' if held else 'FAIL'} {line}", flush=True)
        if not held:
            self.failed.append(line)


async def main() -> int:
    checks = Checks()
    async with ActorSystem("hello") as system:
        counter = system.spawn(Counter, 10, name="counter")
        checks.step(f"spawn: Counter(10) runs as {counter.address}", counter.is_alive)

        counter.tell(5)
        counter.tell_many([20, 7])
        checks.step("tell: 5, then 20 and 7 as a batch (returns at once)", True)

        total = await counter.ask("get", timeout=1.0)
        checks.step(f"ask: the counter answers {total} (10 + 5 + 20 + 7 = 42)", total == 42)

        calculator = system.spawn(Calculator, name="calculator")
        watcher = system.spawn(Watcher, name="watcher")
        answer = await watcher.ask(calculator, timeout=1.0)  # answered once it watches
        checks.step(f"watch: {watcher.address} watches {calculator.address}", answer is None)

        half = await calculator.ask((1, 2), timeout=1.0)
        checks.step(f"ask: 1 / 2 = {half}", half == 0.5)

        try:
            await calculator.ask((1, 0), timeout=1.0)
        except ActorCrashedError as crash:
            checks.step(
                f"crash: 1 / 0 raised {crash.error_type} ({crash.error_text}); "
                "the asker got ActorCrashedError",
                isinstance(crash.__cause__, ZeroDivisionError),
            )
        else:
            checks.step("crash: 1 / 0 should have raised ActorCrashedError", False)

        terminated = await watcher.ask("next", timeout=1.0)
        reason = terminated.reason
        checks.step(
            f"watch: the watcher saw Terminated({terminated.ref.address}, "
            f"reason={type(reason).__name__}: {reason})",
            terminated.ref == calculator and isinstance(reason, ZeroDivisionError),
        )
        checks.step(
            "crash: the calculator is stopped, the counter still runs",
            not calculator.is_alive and await counter.ask("get", timeout=1.0) == 42,
        )
    if checks.failed:
        print(f"{len(checks.failed)} expectation(s) failed", flush=True)
        return 1
    print("every expectation held", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
