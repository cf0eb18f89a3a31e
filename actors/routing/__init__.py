"""Routing: exchanges with AMQP rules, and pools of workers behind one ref.

Use an exchange when publishers should not know their consumers: actors bind to it by
key, publishers publish by key (`system.exchange(name, kind)`). Use a pool when several
identical workers share a load (`system.spawn_pool(Worker, size=4, routing=...)`, or a
`Pool(Worker, size=4, routing=...)` spec spawned on its own or as a supervisor's
`Child(Pool(...), name=...)`). For
one known consumer, tell its ref directly: that is cheaper than either.

The matching rules are plain data structures you can use on their own: `TopicTrie`
(topic patterns, scaling with the words of a key, not the number of bindings),
`headers_match`, and `HashRing` (consistent hashing).
"""

from __future__ import annotations

from actors.routing._exchange import Exchange as Exchange
from actors.routing._exchange import ExchangeKind as ExchangeKind
from actors.routing._hashring import HashRing as HashRing
from actors.routing._headers import headers_match as headers_match
from actors.routing._pool import Pool as Pool
from actors.routing._pool_routing import PoolRef as PoolRef
from actors.routing._pool_routing import Routing as Routing
from actors.routing._topic import TopicTrie as TopicTrie

__all__ = (
    "Exchange",
    "ExchangeKind",
    "HashRing",
    "Pool",
    "PoolRef",
    "Routing",
    "TopicTrie",
    "headers_match",
)
