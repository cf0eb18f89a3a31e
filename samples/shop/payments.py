"""The payments node: `Card` (critical) and `Points` (non-critical)."""

from __future__ import annotations

from actors import Actor
from samples.shop.messages import Charge, Crash, UsePoints


class Card(Actor[Charge | Crash]):
    """Charges cards; registers itself cluster-wide as ``card``."""

    def on_start(self) -> None:
        self.context.system.registry.register("card", self.context.ref, scope="cluster")

    def receive(self, message: Charge | Crash) -> int:
        if isinstance(message, Crash):
            raise RuntimeError(f"card: {message.why}")
        return message.amount


# The points backend's outage, as the scenario injects it: restarts left that fail.
# Module state, because it must outlive the actor instances it breaks.
_outage = {"restarts_failing": 0}


class Points(Actor[UsePoints | Crash]):
    """Loyalty points: every VIP customer starts with 10. Non-critical: when it is down,
    orders are paid by card alone."""

    def __init__(self) -> None:
        self.balances: dict[str, int] = {}

    def on_start(self) -> None:
        if _outage["restarts_failing"] > 0:
            _outage["restarts_failing"] -= 1
            raise RuntimeError("points: the points backend is still down")
        self.context.system.registry.register("points", self.context.ref, scope="cluster")

    def receive(self, message: UsePoints | Crash) -> int:
        if isinstance(message, Crash):
            _outage["restarts_failing"] = message.restarts_failing
            raise RuntimeError(f"points: {message.why}")
        balance = self.balances.get(message.customer, 10)
        used = min(balance, message.at_most)
        self.balances[message.customer] = balance - used
        return used
