"""A chaos run: five real node processes, random faults from a seed, then checks.

``make chaos`` (or ``python -m samples.chaos --duration 60 --seed N``) starts five
nodes ``n1``..``n5`` on 127.0.0.1 (``repertory node --app samples.chaos.app:app``).
Every node seeds ``n1`` and ``n2`` through a `samples.faultproxy.FaultProxy` of its
own, so those links can be cut, delayed and partitioned. The nodes load each other:
``await send`` into a bounded mailbox, numbered tells, asks with deadlines (some bound
to time out), and appends to a stream on ``n1`` read by a consumer group with a member
on every node. For ``--duration`` seconds the driver injects faults drawn from a
seeded RNG (`samples.chaos.faults`): ``kill -9`` and restart at the same address,
SIGTERM and restart, SIGSTOP/SIGCONT, and cut, delayed or silent links.

Then it heals everything, stops the load, and checks from the nodes' journals
(`samples.chaos.checks`), printing one table row per invariant:

- the mesh formed at the start and re-formed after the faults;
- every acknowledged stream entry is kept (no offset handed out twice) and committed
  by the group, at least once;
- every ``send`` to a node that stayed up is delivered once and in order; a send to a
  node that died fails or is dead-lettered; none waits more than 10 s;
- tells keep their order, are never duplicated, and are lost only in a fault;
- no ask outlives its deadline by more than 1 s;
- every node is linked again within 10 s of its fault ending;
- a SIGTERM stops a node within its shutdown timeout + 1 s; no process is left.

It exits 1 when an invariant failed, printing the seed to replay it and keeping the
journals and logs. A seed replays the same proposed faults at the same moments; which
of them land depends on timing (a busy target skips one), so a replay is close, not
identical. Nothing outlives the run: each node has its own process group, the driver
kills them all in a ``finally``, and the kernel kills them if the driver dies.
"""
