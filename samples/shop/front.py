"""The front node: `Orders` takes orders, `Cart` prices them."""

from __future__ import annotations

from typing import Any

from actors import (
    Actor,
    ActorCrashedError,
    ActorRef,
    ActorStoppedError,
    ActorUnavailableError,
    AskTimeoutError,
    NodeDownError,
)
from samples.shop.messages import (
    ORDER_EVENTS,
    Charge,
    Crash,
    GetCount,
    OrderEvent,
    OrderResult,
    PlaceOrder,
    PriceCart,
    UsePoints,
)

PRICES = {"tea": 4, "cake": 7, "book": 12}
# What can go wrong with a payment service: each means "pay another way, or fail".
PAYMENT_ERRORS = (ActorUnavailableError, ActorStoppedError, ActorCrashedError,
                  AskTimeoutError, NodeDownError)


class Cart(Actor[PriceCart | Crash]):
    """Prices a cart (critical: no order without it)."""

    def receive(self, message: PriceCart | Crash) -> int:
        if isinstance(message, Crash):
            raise RuntimeError(f"cart: {message.why}")
        return sum(PRICES.get(sku, 1) * quantity for sku, quantity in message.items)


class Orders(Actor[PlaceOrder | GetCount]):
    """Places an order: price it, pay with points first where there are some, then card.

    A points service that is down only means paying by card; an ops node that is down
    only means undelivered events (counted by the publisher's return value).
    """

    def __init__(self) -> None:
        self.undelivered_events = 0

    async def receive(self, message: PlaceOrder | GetCount) -> OrderResult | int:
        if isinstance(message, GetCount):
            return self.undelivered_events
        system = self.context.system
        cart: ActorRef[Any] | None = system.registry.whereis("cart")
        if cart is None:
            return OrderResult(message.order_id, False, error="cart is not running")
        try:
            total = await cart.ask(PriceCart(message.items), timeout=0.3)
        except PAYMENT_ERRORS as error:
            return OrderResult(message.order_id, False, error=f"cart unavailable: {error}")
        paid_points = 0
        points = await system.lookup("points")
        if points is not None and message.customer.startswith("vip"):
            try:
                paid_points = await points.ask(UsePoints(message.customer, total), timeout=0.5)
            except PAYMENT_ERRORS:
                paid_points = 0  # points are a nicety: the card pays it all
        rest = total - paid_points
        method = "points" if rest == 0 else ("points+card" if paid_points else "card")
        if rest:
            card = await system.lookup("card")
            if card is None:
                return self._done(message, total, False, method, "card service not linked")
            try:
                await card.ask(Charge(message.order_id, message.customer, rest), timeout=1.0)
            except PAYMENT_ERRORS as error:
                return self._done(message, total, False, method, f"card failed: {error}")
        return self._done(message, total, True, method, "")

    def _done(self, order: PlaceOrder, amount: int, ok: bool, method: str,
              error: str) -> OrderResult:
        event = OrderEvent(order.order_id, order.region, "paid" if ok else "failed",
                           amount, method)
        if self.context.system.topics.publish(ORDER_EVENTS, event) == 0:
            self.undelivered_events += 1
        return OrderResult(order.order_id, ok, method, error)
