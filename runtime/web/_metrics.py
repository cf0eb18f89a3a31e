"""Prometheus metrics, read from the system at scrape time (nothing per message).

`SystemCollector` is a prometheus-client custom collector: each scrape takes one
snapshot of the system and turns it into metric families. Counters that the engine
keeps anyway (messages handled, failures, restarts, dead letters, link traffic) are
read, not duplicated. Counts summed over actors cover the actors alive at the scrape:
an actor's counts leave with it (a restart keeps them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from runtime._system import ActorSystem
from runtime.web._state import members_of, stream_lags

__all__ = ("SystemCollector",)


class SystemCollector(Collector):
    """The metric families of one system; see docs/operations.md for the list."""

    def __init__(self, system: ActorSystem) -> None:
        self.system = system

    def collect(self) -> Iterator[Metric]:
        yield from self._actors()
        yield from self._delivery()
        yield from self._links()
        yield from self._streams()

    def _actors(self) -> Iterator[Metric]:
        snapshot = self.system.snapshot()
        by_status: Counter[tuple[str, str]] = Counter()
        handled: Counter[str] = Counter()
        failures: Counter[str] = Counter()
        restarts: Counter[str] = Counter()
        queued: Counter[str] = Counter()
        deepest: dict[str, int] = {}
        for info in snapshot:
            kind = info.actor_type
            by_status[(info.status, kind)] += 1
            handled[kind] += info.processed
            failures[kind] += info.failures
            restarts[kind] += info.restarts
            queued[kind] += info.mailbox
            deepest[kind] = max(deepest.get(kind, 0), info.mailbox)
        actors = GaugeMetricFamily("repertory_actors", "Live actors by status and class",
                                   labels=["status", "actor_class"])
        for (status, kind), count in sorted(by_status.items()):
            actors.add_metric([status, kind], count)
        yield actors
        for name, text, values in (
            ("repertory_messages_handled", "Messages handled by live actors", handled),
            ("repertory_actor_failures", "Failures of live actors (handler or hook raised)",
             failures),
            ("repertory_restarts", "Restarts of live actors", restarts),
        ):
            family = CounterMetricFamily(name, text, labels=["actor_class"])
            for kind, value in sorted(values.items()):
                family.add_metric([kind], value)
            yield family
        total = GaugeMetricFamily("repertory_mailbox_messages",
                                  "Messages waiting in mailboxes, summed by class",
                                  labels=["actor_class"])
        most = GaugeMetricFamily("repertory_mailbox_depth_max",
                                 "The deepest mailbox of each class", labels=["actor_class"])
        for kind in sorted(queued):
            total.add_metric([kind], queued[kind])
            most.add_metric([kind], deepest[kind])
        yield total
        yield most

    def _delivery(self) -> Iterator[Metric]:
        system = self.system
        letters = CounterMetricFamily("repertory_dead_letters",
                                      "Messages that reached no actor, by kind of reason",
                                      labels=["reason"])
        for reason, count in sorted(system.dead_letters.by_reason.items()):
            letters.add_metric([reason], count)
        yield letters
        yield CounterMetricFamily("repertory_asks_timed_out",
                                  "Asks that got no answer in time (local and remote)",
                                  value=system._asks_timed_out)
        yield CounterMetricFamily("repertory_crashes", "Actor failures since the system started",
                                  value=system._crashes.count)

    def _links(self) -> Iterator[Metric]:
        members = members_of(self.system)
        yield GaugeMetricFamily("repertory_cluster_members",
                                "Nodes this node is linked to, and itself",
                                value=len(members))
        peers = [member for member in members if member.status != "self"]
        phi = GaugeMetricFamily("repertory_link_phi", "Failure detector suspicion per peer",
                                labels=["peer"])
        age = GaugeMetricFamily("repertory_link_age_seconds",
                                "Seconds since the link to each peer was made", labels=["peer"])
        up = GaugeMetricFamily("repertory_link_up",
                               "1 while the peer's heartbeats are on time, 0 when suspect",
                               labels=["peer"])
        for member in peers:
            phi.add_metric([member.node], member.phi)
            age.add_metric([member.node], member.link_age)
            up.add_metric([member.node], 1 if member.status == "up" else 0)
        yield from (phi, age, up)
        for name, text, field in (
            ("repertory_link_bytes_received", "Bytes read from each peer's link", "bytes_in"),
            ("repertory_link_bytes_sent", "Bytes written to each peer's link", "bytes_out"),
            ("repertory_link_frames_received", "Frames read from each peer's link",
             "frames_in"),
            ("repertory_link_frames_sent", "Frames queued on each peer's link", "frames_out"),
        ):
            family = CounterMetricFamily(name, text, labels=["peer"])
            for member in peers:
                family.add_metric([member.node], getattr(member, field))
            yield family

    def _streams(self) -> Iterator[Metric]:
        entries = GaugeMetricFamily("repertory_stream_entries", "Entries in each stream",
                                    labels=["stream"])
        lag = GaugeMetricFamily("repertory_stream_lag",
                                "Entries a consumer group has not committed yet",
                                labels=["stream", "group"])
        seen: set[str] = set()
        for row in stream_lags(self.system):
            if row["stream"] not in seen:
                seen.add(row["stream"])
                entries.add_metric([row["stream"]], row["entries"])
            if row["group"] is not None:
                lag.add_metric([row["stream"], row["group"]], row["lag"])
        yield entries
        yield lag
