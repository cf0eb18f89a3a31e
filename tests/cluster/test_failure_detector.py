"""The phi-accrual failure detector: a silent node is found out in seconds.

Scenarios put a node process behind the fault proxy and silence it (`drop()`: the
sockets stay open, no byte passes), which no end-of-stream can reveal; the unit tests
pin down `runtime._cluster.phi` itself.
"""

from __future__ import annotations

import itertools
import math
import signal
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.errors import NodeDownError
from actors.messages import NodeDown, NodeUp
from actors.testkit import TestProbe
from runtime import ActorSystem
from runtime._cluster.phi import PhiAccrualDetector
from tests.cluster.apps import Slow
from tests.cluster.faultproxy import FaultProxy
from tests.cluster.nodes import NodeProcess, Nodes, eventually, open_node

HEARTBEAT = 0.5  # the default heartbeat_interval, both nodes'
# How late a loaded machine may make a timer and the work behind it: a detector's
# verdict and its NodeDown reaching a probe, or a tick that credits traffic.
LATE = 1.5


@asynccontextmanager
async def linked_through_proxy(
    system: ActorSystem, node: NodeProcess
) -> AsyncIterator[tuple[FaultProxy, TestProbe]]:
    """`system` linked to `node` through a fault proxy; the probe follows membership."""
    async with FaultProxy("127.0.0.1", node.port) as proxy:
        probe = TestProbe(system)
        system.cluster.subscribe(probe.ref)
        assert await probe.expect(NodeUp) == NodeUp(system.address)
        assert await system.cluster.join(f"127.0.0.1:{proxy.port}") == node.address
        assert await probe.expect(NodeUp) == NodeUp(node.address)
        yield proxy, probe


@contextmanager
def silenced(proxy: FaultProxy, node: NodeProcess) -> Iterator[None]:
    """No byte passes the proxy, and the node process is stopped (SIGSTOP) until the
    block ends: its sockets stay open, so no end-of-stream reveals anything. Stopped
    too, because once its own detector gave up on this node it would dial this node
    directly, around the proxy: that new link replaces the silent one, and no NodeDown
    comes (rightly: the node is reachable)."""
    proxy.drop()
    node.process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        node.process.send_signal(signal.SIGCONT)


@pytest.mark.anyio
async def test_a_silent_node_is_detected_within_a_few_seconds(
    system: ActorSystem, nodes: Nodes
) -> None:
    silent = await nodes.start("silent")
    async with linked_through_proxy(system, silent) as (proxy, probe):
        slow = system.spawn(Slow, node=silent.address)
        assert await slow.ask(0.0, timeout=2.0) == "done"
        outcome: list[NodeDownError] = []

        async def ask_in_flight() -> None:
            try:
                await slow.ask(0.0, timeout=15.0)
            except NodeDownError as error:
                outcome.append(error)

        link = system.cluster.links[silent.address]
        with silenced(proxy, silent):
            async with anyio.create_task_group() as tasks:
                silenced_at = time.monotonic()  # the detector's clock (`Kernel.now`)
                tasks.start_soon(ask_in_flight)
                down = await probe.expect(NodeDown, timeout=15.0)
            down_at = time.monotonic()
    assert down.node == silent.address
    assert "failure detector" in down.reason
    # Defaults (heartbeat 0.5 s, phi 8, pause 1 s): about 2.5 s after the last thing
    # heard, which was before the silence (or on the tick after it); never a minute.
    # Measured from the detector's record, so that load moves the times only.
    heard, gave_up = link.detector.last_heartbeat, link.detector.suspected_at()
    assert heard is not None and heard < silenced_at + HEARTBEAT + LATE
    assert 1.0 < gave_up - heard < 4.0, gave_up - heard
    assert gave_up <= down_at < gave_up + LATE, down_at - gave_up
    assert down_at - silenced_at > 1.0
    assert len(outcome) == 1 and outcome[0].node == silent.address


@pytest.mark.anyio
async def test_tighter_thresholds_detect_sooner(anyio_backend: str, nodes: Nodes) -> None:
    silent = await nodes.start("silent")
    async with (
        open_node(heartbeat_interval=0.1, phi_threshold=3.0) as system,
        linked_through_proxy(system, silent) as (proxy, probe),
    ):
        proxy.drop()
        silenced_at = anyio.current_time()
        down = await probe.expect(NodeDown, timeout=5.0)
        took = anyio.current_time() - silenced_at
    assert down.node == silent.address and "failure detector" in down.reason
    assert took < 2.5, took  # the default takes about 2.5 s (see above)


# -- the heartbeat schedule: traffic counts as liveness --------------------------------------------


def beats(system: ActorSystem, node: str) -> tuple[int, int]:
    """(heartbeats sent, heartbeats received) over `system`'s link to `node`."""
    link = system.cluster.links[node]
    return link.heartbeats_sent, link.heartbeats_received


@asynccontextmanager
async def traffic(system: ActorSystem, node: NodeProcess) -> AsyncIterator[list[float]]:
    """Tells to the node's echo every 50 ms while the block runs; it tells each back:
    frames both ways, ten per heartbeat interval. Yields the list of the gaps between
    two tells that lasted half an interval or more (a loaded machine stalled this
    loop), in each of which a heartbeat may rightly have gone out."""
    echo = await system.lookup("echo", node=node.address)
    assert echo is not None
    echoes = TestProbe(system)
    stalls: list[float] = []
    async with anyio.create_task_group() as tasks:

        async def tell_on() -> None:
            last = time.monotonic()
            for i in itertools.count():
                echo.tell(i, sender=echoes.ref)
                await anyio.sleep(0.05)  # the pace of the traffic, not a synchronisation
                now = time.monotonic()
                if now - last >= HEARTBEAT / 2:
                    stalls.append(now - last)
                last = now

        tasks.start_soon(tell_on)
        await echoes.expect(0)
        yield stalls
        tasks.cancel_scope.cancel()


@pytest.mark.anyio
async def test_an_idle_link_carries_one_heartbeat_per_interval_each_way(
    system: ActorSystem, nodes: Nodes
) -> None:
    idle = await nodes.start("idle")
    async with linked_through_proxy(system, idle):
        # The first tick after the link formed saw the handshake's frames go out.
        await eventually(lambda: min(beats(system, idle.address)) > 0,
                         what="a heartbeat each way")
        sent, received = beats(system, idle.address)
        began = time.monotonic()
        await anyio.sleep(2.0)  # the window measured
        now_sent, now_received = beats(system, idle.address)
        window = time.monotonic() - began  # longer than 2 s on a loaded machine
    # heartbeat_interval=0.5 on both nodes: one per interval of the window (four in
    # 2 s), one more or less at its edges; a loaded loop may skip a tick, never add one.
    intervals = window / HEARTBEAT
    assert intervals - 2 <= now_sent - sent <= intervals + 1, (sent, now_sent, window)
    assert intervals - 2 <= now_received - received <= intervals + 1, (
        received, now_received, window
    )


@pytest.mark.anyio
async def test_a_link_with_traffic_carries_no_heartbeats_and_its_peer_stays_up(
    system: ActorSystem, nodes: Nodes
) -> None:
    busy = await nodes.start("busy")
    async with (
        linked_through_proxy(system, busy) as (_, membership),
        traffic(system, busy) as stalls,
    ):
        await anyio.sleep(0.6)  # past a tick that may have seen the link idle before
        sent, received = beats(system, busy.address)
        stalls.clear()
        # Longer than a silent peer lasts (about 2.5 s): only the traffic keeps it up.
        await membership.expect_no_message(3.5)
        now_sent, now_received = beats(system, busy.address)
        link = system.cluster.links[busy.address]
        assert link.detector.available(system.cluster.kernel.now())
    # Idle, that would be seven each way. A stall of this loop (counted) may let one
    # through each way, and one of the peer's (which this test cannot see) one more.
    assert now_sent - sent <= 1 + len(stalls), (sent, now_sent, stalls)
    assert now_received - received <= 1 + len(stalls) + 1, (received, now_received, stalls)


@pytest.mark.anyio
async def test_a_silent_peer_is_down_in_about_2_5_s_while_this_node_keeps_sending(
    system: ActorSystem, nodes: Nodes
) -> None:
    silent = await nodes.start("silent")
    async with (
        linked_through_proxy(system, silent) as (proxy, membership),
        traffic(system, silent),
    ):
        await anyio.sleep(1.0)  # traffic, not heartbeats, is what was last heard
        link = system.cluster.links[silent.address]
        with silenced(proxy, silent):
            silenced_at = time.monotonic()  # the clock the detector reads (`Kernel.now`)
            # Our tells still leave: this node has sent something every interval, so
            # it sends no heartbeats; the verdict comes from what it hears, or not.
            down = await membership.expect(NodeDown, timeout=15.0)
            down_at = time.monotonic()
    assert down.node == silent.address and "failure detector" in down.reason
    # What the detector did, from its own record (a loaded machine moves these times,
    # not their relations). The last frame it credited came before the silence, on
    # the next tick at most: what this node kept sending counted for nothing.
    detector = link.detector
    credited = detector.last_heartbeat
    assert credited is not None
    assert credited < silenced_at + HEARTBEAT + LATE, credited - silenced_at
    # phi 8 after intervals of 0.5 s with a 1 s pause: it gives up about 2.54 s after
    # the last credit (later if load made the intervals it heard irregular)...
    patience = detector.suspected_at() - credited
    assert 2.0 < patience < 4.0, patience
    # ...and the NodeDown came then: not before, and no later than a loaded loop's lag.
    assert detector.suspected_at() <= down_at < detector.suspected_at() + LATE, (
        down_at - detector.suspected_at()
    )
    assert down_at - silenced_at > 2.0  # never sooner than the defaults allow


# -- runtime._cluster.phi ------------------------------------------------------------------------


def regular(interval: float = 0.5, beats: int = 20, **options: Any) -> PhiAccrualDetector:
    detector = PhiAccrualDetector(**options)
    for i in range(beats):
        detector.heartbeat(i * interval)
    return detector


def detection_delay(detector: PhiAccrualDetector, last: float) -> float:
    """Seconds of silence after `last` until the detector gives up (10 ms steps)."""
    elapsed = 0.0
    while detector.available(last + elapsed):
        elapsed += 0.01
        assert elapsed < 120, "never detected"
    return elapsed


def test_phi_is_zero_before_any_heartbeat_and_low_on_time() -> None:
    detector = PhiAccrualDetector()
    assert detector.phi(100.0) == 0.0 and detector.available(100.0)
    detector = regular()
    assert detector.phi(9.5) < 0.5  # the next beat is just due
    assert detector.available(9.5 + 1.0)  # a second late is within acceptable_pause


def test_phi_grows_with_silence_and_crosses_the_threshold() -> None:
    detector = regular()
    values = [detector.phi(9.5 + t / 10) for t in range(100)]
    assert values == sorted(values)
    assert values[-1] > detector.threshold
    # Defaults for a 0.5 s heartbeat: detected after a few seconds, not a minute.
    assert 1.5 < detection_delay(detector, 9.5) < 4.0


def test_a_lower_threshold_and_a_shorter_pause_detect_sooner() -> None:
    default = detection_delay(regular(), 9.5)
    assert detection_delay(regular(threshold=3.0), 9.5) < default
    assert detection_delay(regular(acceptable_pause=0.0), 9.5) < default
    # The pause widens the mean: two more seconds of pause, two more of patience.
    assert detection_delay(regular(acceptable_pause=3.0), 9.5) == pytest.approx(default + 2.0)


def test_the_first_silence_is_judged_against_first_interval() -> None:
    detector = PhiAccrualDetector(first_interval=0.1, acceptable_pause=0.0)
    detector.heartbeat(0.0)
    assert detection_delay(detector, 0.0) < 2.0


def test_phi_never_overflows() -> None:
    detector = regular()
    for silence in (1e3, 1e9, 1e300, -1e9):
        value = detector.phi(9.5 + silence)  # no OverflowError, no NaN
        assert value >= 0.0 and not math.isnan(value)
    assert math.isfinite(detector.phi(9.5 + 1e9))
    assert not detector.available(9.5 + 1e300)


def test_the_window_keeps_only_recent_intervals() -> None:
    detector = PhiAccrualDetector(window=10, acceptable_pause=0.0, min_std=0.01)
    for i in range(100):  # slow beats first...
        detector.heartbeat(i * 5.0)
    start = 99 * 5.0
    for i in range(1, 11):  # ...then ten fast ones: the slow ones are forgotten
        detector.heartbeat(start + i * 0.1)
    assert not detector.available(start + 1.0 + 1.0)


@pytest.mark.parametrize(
    "options",
    [{"threshold": 0.0}, {"window": 0}, {"min_std": 0.0}, {"acceptable_pause": -1.0}],
)
def test_bad_options_are_refused_with_what_was_given(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"phi detector needs threshold > 0, .*; got "):
        PhiAccrualDetector(**options)


def test_suspected_at_is_infinite_before_any_heartbeat_and_moves_with_each() -> None:
    detector = PhiAccrualDetector()
    assert detector.suspected_at() == math.inf and detector.available(1e12)
    detector = regular()
    first = detector.suspected_at()
    assert first == pytest.approx(9.5 + detection_delay(detector, 9.5), abs=0.011)
    detector.heartbeat(10.0)
    assert detector.suspected_at() > first


@given(
    st.lists(st.floats(0.0, 10.0), min_size=0, max_size=50),
    st.floats(0.01, 300.0),
    st.floats(0.0, 5.0),
)
def test_suspected_at_is_where_phi_reaches_the_threshold(
    intervals: list[float], threshold: float, pause: float
) -> None:
    detector = PhiAccrualDetector(threshold=threshold, acceptable_pause=pause)
    now = 0.0
    detector.heartbeat(now)
    for interval in intervals:
        now += interval
        detector.heartbeat(now)
    at = detector.suspected_at()
    step = 1e-6 * max(1.0, at)
    assert detector.phi(at - step) < threshold <= detector.phi(at + step) + 1e-9
    assert detector.available(at - step) and not detector.available(at)


@given(
    st.lists(st.floats(0.0, 10.0), min_size=1, max_size=50),
    st.lists(st.floats(0.0, 1e6), min_size=2, max_size=20),
)
def test_phi_is_finite_non_negative_and_grows_with_silence(
    intervals: list[float], silences: list[float]
) -> None:
    detector = PhiAccrualDetector()
    now = 0.0
    detector.heartbeat(now)
    for interval in intervals:
        now += interval
        detector.heartbeat(now)
    values = [detector.phi(now + silence) for silence in sorted(silences)]
    assert all(math.isfinite(v) and v >= 0.0 for v in values)
    assert all(a <= b for a, b in itertools.pairwise(values))
