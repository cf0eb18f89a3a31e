"""The ops node: `Audit` and `Metrics`, fed by a topic exchange of order events."""

from __future__ import annotations

from collections import Counter
from typing import Any

from actors import Actor
from samples.shop.messages import ORDER_EVENTS, GetCount, OrderEvent


class EventRouter(Actor[OrderEvent]):
    """Subscribes to the cluster-wide order events and routes each through the local
    topic exchange ``orders`` by key ``order.<region>.<status>``."""

    def on_start(self) -> None:
        system = self.context.system
        self.exchange = system.exchange("orders", "topic")
        system.topics.subscribe(ORDER_EVENTS, self.context.ref)

    def receive(self, message: OrderEvent) -> None:
        self.exchange.publish(f"order.{message.region}.{message.status}", message)


class Audit(Actor[OrderEvent | GetCount]):
    """Keeps every order event (bound to ``order.#``)."""

    def __init__(self) -> None:
        self.entries: list[OrderEvent] = []

    def on_start(self) -> None:
        system = self.context.system
        system.exchange("orders", "topic").bind(self.context.ref, "order.#")
        system.registry.register("audit", self.context.ref, scope="cluster")

    def receive(self, message: OrderEvent | GetCount) -> Any:
        if isinstance(message, GetCount):
            return len(self.entries)
        self.entries.append(message)
        return None


class Metrics(Actor[OrderEvent | GetCount]):
    """Counts paid and failed orders per region (bound to ``order.*.paid`` and
    ``order.*.failed``)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def on_start(self) -> None:
        system = self.context.system
        orders = system.exchange("orders", "topic")
        orders.bind(self.context.ref, "order.*.paid")
        orders.bind(self.context.ref, "order.*.failed")
        system.registry.register("metrics", self.context.ref, scope="cluster")

    def receive(self, message: OrderEvent | GetCount) -> Any:
        if isinstance(message, GetCount):
            return sum(self.counts.values())
        self.counts[f"{message.region}.{message.status}"] += 1
        return None
