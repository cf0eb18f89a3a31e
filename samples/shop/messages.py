"""The shop's messages: typed `msgspec.Struct`s, the same on every node."""

from __future__ import annotations

import msgspec


class PlaceOrder(msgspec.Struct, frozen=True):
    order_id: int
    customer: str
    items: tuple[tuple[str, int], ...]  # (sku, quantity)
    region: str = "eu"


class OrderResult(msgspec.Struct, frozen=True):
    order_id: int
    ok: bool
    method: str = ""  # "card", "points", "points+card"
    error: str = ""


class PriceCart(msgspec.Struct, frozen=True):
    items: tuple[tuple[str, int], ...]


class UsePoints(msgspec.Struct, frozen=True):
    customer: str
    at_most: int


class Charge(msgspec.Struct, frozen=True):
    order_id: int
    customer: str
    amount: int


class OrderEvent(msgspec.Struct, frozen=True):
    order_id: int
    region: str
    status: str  # "paid" or "failed"
    amount: int
    method: str


class Crash(msgspec.Struct, frozen=True):
    """Makes the receiving actor raise: how the scenario injects failures. With
    `restarts_failing`, that many of its next restarts fail too (a backend that stays
    down for a while)."""

    why: str = "injected failure"
    restarts_failing: int = 0


class GetCount(msgspec.Struct, frozen=True):
    """Asks audit or metrics how many events it has seen."""


ORDER_EVENTS = "shop.order-events"  # the cluster-wide topic the front node publishes on
