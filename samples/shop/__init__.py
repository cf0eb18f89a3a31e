"""The shop: an order service spread over three nodes, each its own OS process.

- ``front``: ``orders`` and ``cart`` (both critical) under the ``front`` supervisor;
- ``payments``: ``card`` (critical) and ``points`` (non-critical) under a
  ``rest_for_one`` supervisor;
- ``ops``: ``audit`` and ``metrics`` (non-critical for the shop), fed with order events
  through a topic exchange (``order.<region>.<status>``).

Run it with ``make sample`` (``repertory sample shop``); `samples.shop.run` is the
scripted scenario, `samples.shop.apps` the three nodes' trees.
"""
