"""The three nodes' supervision trees, for ``repertory node --app samples.shop.apps:NAME``."""

from __future__ import annotations

from samples.shop.front import Cart, Orders
from samples.shop.ops import Audit, EventRouter, Metrics
from samples.shop.payments import Card, Points
from supervisors import Backoff, Child, Supervisor

# The front: if the cart fails past its budget the `front` supervisor gives up; `shop`
# restarts it after a back-off. Meanwhile orders fail at once (the old `orders` actor is
# gone), and after it the names `orders` and `cart` are back.
front = Supervisor(
    "shop",
    children=[
        Supervisor(
            "front",
            strategy="one_for_all",
            max_restarts=3,
            within=5.0,
            critical=False,
            backoff=Backoff(initial=0.5, maximum=2.0, jitter=0.0),
            children=[Child(Cart, name="cart"), Child(Orders, name="orders")],
        ),
    ],
)

payments = Supervisor(
    "payments",
    strategy="rest_for_one",
    max_restarts=3,
    within=5.0,
    children=[
        Child(Card, name="card"),
        Child(Points, name="points", critical=False,
              backoff=Backoff(initial=0.05, maximum=1.0, jitter=0.0)),
    ],
)

ops = Supervisor(
    "ops",
    children=[
        Child(EventRouter, name="events"),
        Child(Audit, name="audit", critical=False),
        Child(Metrics, name="metrics", critical=False),
    ],
)
