"""The shop's scripted scenario: what `make sample` (``repertory sample shop``) plays.

It starts the three nodes with a fresh cookie, waits for the mesh, and then:

1. a stream of orders, all paid;
2. the points actor crashing again and again: it is degraded, orders still succeed
   by card, then it recovers;
3. the ops node killed with ``kill -9``: orders still succeed and the undelivered
   audit events are counted; ops restarts, rejoins, and the audit resumes;
4. the cart crashing past its restart budget: orders fail fast instead of hanging,
   then the front tree recovers and orders succeed again.

It prints each node's supervision tree and a summary table, and exits non-zero if any
expectation failed. Every node process is stopped at the end, even after Ctrl-C.
"""

from __future__ import annotations

import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from actors import Actor, ActorError, ActorRef
from actors.messages import NodeDown, NodeUp
from runtime import ActorSystem
from samples.shop.cluster import NodeProcesses, free_port
from samples.shop.messages import Crash, GetCount, OrderResult, PlaceOrder
from supervisors import DEGRADED, RECOVERED, Degraded, Recovered, graph_from_snapshot, render_text

__all__ = ("main",)

ITEMS = (("tea", 2), ("cake", 1))


class Recorder(Actor[Any]):
    """Keeps what the cluster tells the driver: node events, degradations."""

    def __init__(self, events: list[Any], changed: Callable[[], None]) -> None:
        self.events = events
        self.changed = changed

    def receive(self, message: Any) -> None:
        self.events.append(message)
        self.changed()


class Scenario:
    def __init__(self, system: ActorSystem, nodes: NodeProcesses, quick: bool) -> None:
        self.system = system
        self.nodes = nodes
        self.orders_per_step = 12 if quick else 40
        self.events: list[Any] = []
        self._changed = anyio.Event()
        self.failures: list[str] = []
        self.results: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.asks = Counter[str]()
        self.next_order = 1
        self.undelivered_events = 0

    # -- plumbing ------------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_for(self, what: str, check: Callable[[], bool], timeout: float) -> bool:
        """Wait until `check()` holds, re-checking whenever an event arrives."""
        with anyio.move_on_after(timeout):
            while not check():
                with anyio.move_on_after(0.1):  # also re-check state that sends no event
                    await self._changed.wait()
            return True
        self.expect(False, f"{what} within {timeout:g} s")
        return False

    def expect(self, condition: bool, what: str) -> bool:
        if not condition:
            self.failures.append(what)
            print(f"      EXPECTATION FAILED: {what}", flush=True)
        return condition

    async def lookup(self, name: str, timeout: float = 10.0) -> ActorRef[Any]:
        found: list[ActorRef[Any]] = []

        async def probe() -> bool:
            ref = await self.system.lookup(name, node=self.nodes.nodes["front"].address)
            if ref is None:
                ref = self.system.registry.whereis(name)
            if ref is not None:
                found.append(ref)
            return ref is not None

        with anyio.move_on_after(timeout):
            while not await _quietly(probe):
                with anyio.move_on_after(0.1):
                    await self._changed.wait()
        if not found:
            raise RuntimeError(f"{name!r} was not found in the cluster within {timeout:g} s")
        return found[-1]

    async def place(self, orders: ActorRef[Any], customer: str) -> OrderResult | Exception:
        order = PlaceOrder(self.next_order, customer, ITEMS, region="eu")
        self.next_order += 1
        self.asks["sent"] += 1
        started = time.perf_counter()
        try:
            result: OrderResult = await orders.ask(order, timeout=3.0)
        except ActorError as error:
            self.asks["failed with an error"] += 1
            self.results["failed"] += 1
            return error
        finally:
            elapsed = time.perf_counter() - started
        self.asks["answered"] += 1
        self.results["placed"] += 1
        if result.ok:
            self.results["succeeded"] += 1
            self.results[f"paid by {result.method}"] += 1
            self.latencies.append(elapsed)
        else:
            self.results["failed"] += 1
        return result

    async def stream(self, orders: ActorRef[Any], count: int, customer: str) -> list[Any]:
        return [await self.place(orders, f"{customer}{i % 5}") for i in range(count)]

    # -- the steps -------------------------------------------------------------------------

    async def run(self) -> None:
        recorder = self.system.spawn(Recorder, self.events, self._notify, name="recorder")
        self.system.cluster.subscribe(recorder)
        self.system.topics.subscribe(DEGRADED, recorder)
        self.system.topics.subscribe(RECOVERED, recorder)
        await self.step_orders()
        await self.step_points()
        await self.step_ops()
        await self.step_cart()
        await self.print_trees()

    async def step_orders(self) -> None:
        _progress(2, "a stream of orders")
        orders = await self.lookup("orders")
        await self.lookup("card")
        await self.lookup("audit")
        results = await self.stream(orders, self.orders_per_step, "vip")
        ok = sum(1 for r in results if isinstance(r, OrderResult) and r.ok)
        self.expect(ok == len(results), f"all {len(results)} orders succeed (got {ok})")
        _done(f"{ok}/{len(results)} orders paid")

    async def step_points(self) -> None:
        _progress(3, "the points actor crashes again and again")
        points = await self.lookup("points")
        # One crash, then five failing restarts: past its budget of 3 in 5 s.
        points.tell(Crash("points backend is down", restarts_failing=5))
        await self.wait_for("supervisors.degraded for points",
                            lambda: self._seen(Degraded, "points"), 5.0)
        orders = await self.lookup("orders")
        results = await self.stream(orders, self.orders_per_step // 2, "vip")
        ok = [r for r in results if isinstance(r, OrderResult) and r.ok]
        self.expect(len(ok) == len(results), "orders succeed while points is degraded")
        by_card = sum(1 for r in ok if r.method == "card")
        await self.wait_for("supervisors.recovered for points",
                            lambda: self._seen(Recovered, "points"), 10.0)
        # Read from the live tree, as step 6 draws it: the Degraded event was sent at
        # the first failure, before any restart had happened.
        restarts = await self.restarts_of("payments", "points")
        _done(f"points degraded then recovered; {len(ok)}/{len(results)} orders paid, "
              f"{by_card} by card alone (points restarts so far: {restarts})")

    async def restarts_of(self, node: str, name: str) -> int:
        """`name`'s restarts in `node`'s live tree (what `repertory tree` shows)."""
        graph = await self.tree_of(node)
        return next((int(data.get("restarts") or 0) for _, data in graph.nodes(data=True)
                     if data.get("name") == name), 0)

    async def tree_of(self, node: str) -> Any:
        address = self.nodes.nodes[node].address
        return graph_from_snapshot(
            await self.system.cluster.call(address, "$snapshot", None, 5.0))

    async def step_ops(self) -> None:
        _progress(4, "the ops node is killed with kill -9, then restarted")
        ops = self.nodes.nodes["ops"]
        audit = await self.lookup("audit")
        audited_before = await audit.ask(GetCount(), timeout=2.0)
        ops.kill()
        await self.wait_for("NodeDown for ops", lambda: self._node_event(NodeDown, ops.address),
                            10.0)
        orders = await self.lookup("orders")
        results = await self.stream(orders, self.orders_per_step // 2, "plain")
        ok = sum(1 for r in results if isinstance(r, OrderResult) and r.ok)
        self.expect(ok == len(results), "orders succeed while ops is down")
        undelivered = await orders.ask(GetCount(), timeout=2.0)
        self.undelivered_events = undelivered
        self.expect(undelivered >= len(results), "undelivered audit events are counted")
        self.nodes.add("ops", ops.port, seeds=[self.nodes.nodes["front"].address])
        await self.nodes.nodes["ops"].wait_ready()
        await self.wait_for("ops rejoins (NodeUp)",
                            lambda: self._node_event(NodeUp, ops.address, after=NodeDown), 15.0)
        audit = await self.lookup("audit")
        first = await self.wait_for_audit_subscription(orders, audit)
        await self.stream(orders, 5, "plain")
        # Events travel front -> ops while our asks travel driver -> ops: no order holds
        # between the two links, so ask until the last events have landed.
        audited = first
        with anyio.move_on_after(5.0):
            while audited < first + 5:
                audited = await audit.ask(GetCount(), timeout=2.0)
        self.expect(audited >= first + 5, f"audit resumes after ops rejoins (saw {audited})")
        _done(f"{ok}/{len(results)} orders paid while ops was down, {undelivered} events "
              f"undelivered and counted; audit had {audited_before}, resumed with {audited}")

    async def wait_for_audit_subscription(self, orders: ActorRef[Any],
                                          audit: ActorRef[Any]) -> int:
        """Place orders until the restarted audit sees one: the new ops node subscribes
        as it starts, and an event published before its interest reached the front
        node is (correctly) counted as undelivered. Returns the audit count."""
        with anyio.move_on_after(10.0):
            for _ in range(100):
                await self.place(orders, "plain")
                count: int = await audit.ask(GetCount(), timeout=2.0)
                if count:
                    return count
        self.expect(False, "the restarted audit receives order events")
        return 0

    async def step_cart(self) -> None:
        _progress(5, "the cart crashes past its restart budget")
        cart = await self.lookup("cart")
        orders = await self.lookup("orders")
        for _ in range(5):
            cart.tell(Crash("cart database is gone"))
        await self.wait_for("the front tree is degraded",
                            lambda: self._seen(Degraded, "front"), 5.0)
        started = time.perf_counter()
        outcome = await self.place(orders, "plain")
        elapsed = time.perf_counter() - started
        failed = isinstance(outcome, Exception) or not outcome.ok
        self.expect(failed and elapsed < 1.0,
                    f"an order fails fast while the cart is down ({elapsed * 1000:.0f} ms)")
        await self.wait_for("the front tree recovers", lambda: self._seen(Recovered, "front"),
                            15.0)
        orders = await self.lookup("orders")
        result = await self.place(orders, "plain")
        self.expect(isinstance(result, OrderResult) and result.ok,
                    "orders succeed after the front tree recovered")
        _done(f"orders failed in {elapsed * 1000:.0f} ms while the cart was down, then the "
              "tree recovered")

    async def print_trees(self) -> None:
        _progress(6, "each node's supervision tree")
        for name, node in self.nodes.nodes.items():
            print(f"\n  {name} ({node.address})")
            for line in render_text(await self.tree_of(name)).splitlines():
                print(f"    {line}")

    # -- what was seen ------------------------------------------------------------------------

    def _seen(self, kind: type[Degraded | Recovered], child: str) -> bool:
        return any(isinstance(e, kind) and e.child.endswith(f"/{child}") for e in self.events)

    def _node_event(
        self, kind: type[NodeUp | NodeDown], node: str, after: type[NodeDown] | None = None
    ) -> bool:
        events = self.events
        if after is not None:
            marks = [i for i, e in enumerate(events) if isinstance(e, after) and e.node == node]
            if not marks:
                return False
            events = events[marks[-1]:]
        return any(isinstance(e, kind) and e.node == node for e in events)

    def summary(self) -> str:
        latencies = sorted(self.latencies)
        p50 = statistics.median(latencies) * 1000 if latencies else 0.0
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000 if (
            latencies) else 0.0
        rows = [
            ("orders placed", str(self.next_order - 1)),
            ("succeeded", str(self.results["succeeded"])),
            ("failed", str(self.results["failed"])),
            *[(key, str(value)) for key, value in sorted(self.results.items())
              if key.startswith("paid by")],
            ("latency p50 / p99", f"{p50:.1f} ms / {p99:.1f} ms"),
            ("asks (request/reply) lost", str(self.asks["sent"] - self.asks["answered"]
                                             - self.asks["failed with an error"])),
            ("events (at-most-once) undelivered, counted", str(self.undelivered_events)),
        ]
        width = max(len(label) for label, _ in rows)
        return "\n".join(f"  {label.ljust(width)}  {value}" for label, value in rows)


async def _quietly(check: Callable[[], Awaitable[bool]]) -> bool:
    try:
        return await check()
    except ActorError:
        return False


def _progress(number: int, text: str) -> None:
    print(f"[{number}/6] {text} ...", flush=True)


def _done(text: str) -> None:
    print(f"      ok: {text}", flush=True)


async def _play(nodes: NodeProcesses, cookie: str, quick: bool, linger: bool) -> int:
    _progress(1, "starting the front, payments and ops nodes")
    front = nodes.add("front", free_port(), seeds=[], http_port=free_port())
    await front.wait_ready()
    print(f"      web view of the cluster: {front.web_url} (open it while this runs)",
          flush=True)
    for name in ("payments", "ops"):
        nodes.add(name, free_port(), seeds=[front.address])
    for name in ("payments", "ops"):
        await nodes.nodes[name].wait_ready()
    async with ActorSystem("driver", listen="127.0.0.1:0", cookie=cookie,
                           shutdown_timeout=3.0) as system:
        await system.cluster.join(front.address)
        scenario = Scenario(system, nodes, quick)
        expected = {node.address for node in nodes.nodes.values()}
        await scenario.wait_for("the mesh of four nodes",
                                lambda: expected <= system.cluster.members, 15.0)
        _done("mesh: " + ", ".join(sorted(system.cluster.members)))
        await scenario.run()
        print("\nSummary")
        print(scenario.summary())
        code = 0
        if scenario.failures:
            print(f"\n{len(scenario.failures)} expectation(s) failed:")
            for failure in scenario.failures:
                print(f"  - {failure}")
            code = 1
        else:
            print("\nevery expectation held")
        if linger:
            print(f"\nthe cluster stays up (--linger): web view at {front.web_url}; "
                  "Ctrl-C stops every node", flush=True)
            await anyio.sleep_forever()
        return code


def main(quick: bool = False, *, linger: bool = False) -> int:
    """Play the scenario; with `linger`, keep the nodes up afterwards until Ctrl-C."""
    with tempfile.TemporaryDirectory(prefix="repertory-shop-") as tmp:
        directory = Path(tmp)
        cookie = secrets.token_hex(16)
        cookie_file = directory / "cookie"
        cookie_file.write_text(cookie)
        cookie_file.chmod(0o600)
        nodes = NodeProcesses(cookie_file, directory)
        try:
            code: int = anyio.run(_play, nodes, cookie, quick, linger)
            return code
        except KeyboardInterrupt:
            print("\ninterrupted: stopping every node", flush=True)
            return 130
        except Exception as error:
            print(f"\nthe scenario broke: {type(error).__name__}: {error}", flush=True)
            for log in sorted(directory.glob("*.log")):
                print(f"--- {log.name} (last lines)")
                print("\n".join(log.read_text().splitlines()[-15:]))
            return 1
        finally:
            nodes.close()


if __name__ == "__main__":
    sys.exit(main("--quick" in sys.argv, linger="--linger" in sys.argv))
