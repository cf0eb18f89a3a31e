"""The chaos run's invariants, checked from the nodes' journals and the fault record.

Each check returns a `Row`: what it checked, how many cases, how many failed, and the
first few failures in words. A message may be missing without failing a check only
where the system does not promise it: a fault touched its sender, its receiver or
their link while it was on its way (`IN_FLIGHT` seconds after it left), their link
went down meanwhile (what the kernel's buffers held is lost with it), or it was
dead-lettered. Asks and sends of a node that was frozen (SIGSTOP) or died meanwhile
are not timed: a frozen process keeps no deadline.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samples.chaos.faults import Fault
from samples.chaos.journal import read_records
from samples.chaos.nodes import ChaosNode

__all__ = ("Journals", "Row", "check_all")

IN_FLIGHT = 1.5  # seconds a message may take to arrive while links are slow
ASK_SLACK = 1.0  # an ask may outlive its deadline by this much
SEND_HANG = 10.0  # a send that waits longer than this (its node not frozen) hangs
RELINK = 10.0  # every node linked again this long after its fault ended
EXAMPLES = 3


@dataclass
class Row:
    invariant: str
    checked: int = 0
    failures: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def failed(self) -> int:
        return len(self.failures)

    def fail(self, text: str) -> None:
        self.failures.append(text)


Key = tuple[str, int]  # (node, incarnation)


@dataclass
class Journals:
    """Everything the nodes wrote, by incarnation."""

    events: dict[Key, list[list[Any]]]
    members: dict[Key, list[list[Any]]]

    @classmethod
    def read(cls, directory: Path) -> Journals:
        events: dict[Key, list[list[Any]]] = {}
        members: dict[Key, list[list[Any]]] = {}
        for path in sorted(directory.glob("*.events")):
            events[_key(path)] = list(read_records(path))
        for path in sorted(directory.glob("*.members")):
            members[_key(path)] = list(read_records(path))
        return cls(events, members)


def _key(path: Path) -> Key:
    node, inc = path.stem.split(".")
    return node, int(inc)


@dataclass
class Context:
    nodes: dict[str, ChaosNode]
    faults: list[Fault]
    journals: Journals
    end: float  # when the pumps were told to stop

    def touched(self, a: str, b: str, start: float, end: float) -> bool:
        return any(
            f.touches(a, b) and f.start <= end and (f.end is None or f.end >= start)
            for f in self.faults
        )

    def excused(self, a: str, b: str, start: float, end: float) -> bool:
        """Whether a message from `a` to `b` sent in [start, end] may be lost: a fault
        touched them, or their link went down while it was on its way (what the
        kernel's buffers held is lost with the link)."""
        return self.touched(a, b, start, end + IN_FLIGHT) or self.went_down(
            a, b, start, end + IN_FLIGHT
        )

    def went_down(self, a: str, b: str, start: float, end: float) -> bool:
        for x, y in ((a, b), (b, a)):
            peer = self.address(y)
            for (node, _), records in self.journals.members.items():
                if node == x and any(
                    r[1] == "down" and r[2] == peer and start <= r[0] <= end for r in records
                ):
                    return True
        return False

    def frozen(self, node: str, start: float, end: float) -> bool:
        return any(
            f.kind == "stop" and node in f.nodes and f.start <= end
            and (f.end is None or f.end >= start)
            for f in self.faults
        )

    def lived_to_end(self, key: Key) -> bool:
        life = self.nodes[key[0]].lives[key[1]]
        return life.ended is None or life.ended >= self.end

    def address(self, name: str) -> str:
        return self.nodes[name].address


def check_sends(ctx: Context) -> Row:
    """Every `send` to a node that stayed up delivered once, in order; none hangs."""
    row = Row("send: to a node that stayed up, delivered once and in order; none hangs")
    received = _received(ctx, "recv-send")
    dead = _dead(ctx)
    waits: list[float] = []
    for (src, inc), records in ctx.journals.events.items():
        started: dict[tuple[str, int], float] = {}
        for record in records:
            if record[1] == "send-start":
                started[(record[2], record[3])] = record[0]
            elif record[1] == "send-end":
                t0 = started.pop((record[2], record[3]))
                peer, n, outcome, t1 = record[2], record[3], record[4], record[0]
                row.checked += 1
                if not ctx.frozen(src, t0, t1):
                    waits.append(t1 - t0)
                    if t1 - t0 > SEND_HANG:
                        row.fail(f"{src}#{inc} -> {peer} #{n} waited {t1 - t0:.1f} s ({outcome})")
                if outcome != "ok" or (src, inc, n) in received[peer]:
                    continue
                if (src, inc, n) in dead or ctx.excused(src, peer, t0, t1):
                    continue
                row.fail(f"{src}#{inc} -> {peer} #{n} sent at {t1:.2f} ok, never received")
        for (peer, n), t0 in started.items():
            if ctx.lived_to_end((src, inc)):
                row.fail(f"{src}#{inc} -> {peer} #{n} started at {t0:.2f}, never returned")
    _check_order(ctx, "recv-send", row)
    if waits:
        row.note = f"longest wait {max(waits):.2f} s"
    return row


def check_tells(ctx: Context) -> Row:
    """Tells keep their order, are never duplicated, and are lost only in a fault."""
    row = Row("tell: in order, none duplicated, none lost outside a fault")
    received = _received(ctx, "recv-tell")
    dead = _dead(ctx)
    lost_in_faults = 0
    for (src, inc), records in ctx.journals.events.items():
        for record in records:
            if record[1] != "tell":
                continue
            t, peer, first, last = record[0], record[2], record[3], record[4]
            for n in range(first, last + 1):
                row.checked += 1
                if (src, inc, n) in received[peer] or (src, inc, n) in dead:
                    continue
                if ctx.excused(src, peer, t, t):
                    lost_in_faults += 1
                    continue
                row.fail(f"{src}#{inc} -> {peer} #{n} told at {t:.2f}, lost without a trace")
    _check_order(ctx, "recv-tell", row)
    row.note = f"{lost_in_faults} lost in faults"
    return row


def check_asks(ctx: Context) -> Row:
    """No ask outlives its deadline by more than `ASK_SLACK` seconds."""
    row = Row(f"ask: none outlives its deadline by more than {ASK_SLACK:g} s")
    worst = 0.0
    for key, records in ctx.journals.events.items():
        started: dict[int, tuple[float, str, float]] = {}
        for record in records:
            if record[1] == "ask-start":
                started[record[2]] = (record[0], record[3], record[4])
            elif record[1] == "ask-end":
                t0, target, timeout = started.pop(record[2])
                row.checked += 1
                if ctx.frozen(key[0], t0, record[0]):
                    continue
                over = record[0] - t0 - timeout
                worst = max(worst, over)
                if over > ASK_SLACK:
                    row.fail(f"{key[0]}#{key[1]} ask to {target} (deadline {timeout:.2f} s) "
                             f"took {record[0] - t0:.2f} s, ended {record[3]}")
        if ctx.lived_to_end(key):
            for t0, target, _ in started.values():
                row.checked += 1
                row.fail(f"{key[0]}#{key[1]} ask to {target} at {t0:.2f} never ended")
    row.note = f"worst {worst:+.2f} s past its deadline"
    return row


def check_stream(ctx: Context, host: str) -> list[Row]:
    """Acknowledged entries survive, get distinct offsets, and are committed by the group."""
    kept = Row("stream: acknowledged entries kept, no offset handed out twice")
    committed_row = Row("stream: every acknowledged entry committed by the group")
    acked: dict[int, int] = defaultdict(int)
    for records in ctx.journals.events.values():
        for record in records:
            if record[1] == "appended":
                acked[record[2]] += 1
    final = [r for key, rs in sorted(ctx.journals.members.items()) if key[0] == host
             for r in rs if r[1] == "committed"]
    committed, length = (final[-1][2], final[-1][3]) if final else (None, 0)
    for offset, count in sorted(acked.items()):
        kept.checked += 1
        committed_row.checked += 1
        if offset >= length:
            kept.fail(f"offset {offset} acknowledged, the log has {length} entries")
        if count > 1:
            kept.fail(f"offset {offset} acknowledged {count} times")
        if committed is None or offset > committed:
            committed_row.fail(f"offset {offset} acknowledged, committed through {committed}")
    committed_row.note = f"committed through {committed} of {length}"
    return [kept, committed_row]


def check_relinks(ctx: Context) -> Row:
    """Every node is linked with every node that was up within `RELINK` s of its fault."""
    row = Row(f"link: every node linked again within {RELINK:g} s of its fault ending")
    view = LinkView(ctx)
    worst = 0.0
    interrupted = 0
    for fault in ctx.faults:
        assert fault.end is not None
        pairs = [fault.nodes] if fault.link else [
            (fault.nodes[0], other) for other in sorted(ctx.nodes) if other != fault.nodes[0]
        ]
        for a, b in pairs:
            deadline = fault.end + RELINK
            overlapping = [
                f.start for f in ctx.faults
                if f is not fault and f.touches(a, b) and f.start <= deadline
                and (f.end is None or f.end >= fault.end)
            ]
            if any(start <= fault.end for start in overlapping):
                continue  # the other end was in a fault of its own when this one ended
            deadline = min([deadline, *overlapping])
            row.checked += 1
            linked = view.first_linked(a, b, fault.end, deadline)
            if linked is not None:
                worst = max(worst, linked - fault.end)
            elif deadline < fault.end + RELINK:
                interrupted += 1
            else:
                row.fail(f"{a} and {b} not linked within {RELINK:g} s after "
                         f"{fault.kind} {fault.detail} ended at {fault.end:.2f}")
    row.note = f"slowest {worst:.2f} s; {interrupted} cut short by another fault"
    return row


class LinkView:
    """Whether node `a` counted `b` as linked at a time, from its members journal."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def life_at(self, node: str, t: float) -> int | None:
        for life in self.ctx.nodes[node].lives:
            if life.started <= t and (life.ended is None or life.ended > t):
                return life.inc
        return None

    def linked(self, a: str, b: str, t: float) -> bool:
        inc = self.life_at(a, t)
        if inc is None:
            return False
        state = False
        peer = self.ctx.address(b)
        for record in self.ctx.journals.members.get((a, inc), []):
            if record[0] > t:
                break
            if record[1] in ("up", "down") and record[2] == peer:
                state = record[1] == "up"
        return state

    def first_linked(self, a: str, b: str, start: float, deadline: float) -> float | None:
        times = {start}
        for node in (a, b):
            for key, records in self.ctx.journals.members.items():
                if key[0] == node:
                    times.update(r[0] for r in records if start <= r[0] <= deadline)
        for t in sorted(times):
            if self.linked(a, b, t) and self.linked(b, a, t):
                return t
        return None


def check_stops(ctx: Context, limit: float) -> Row:
    row = Row(f"stop: SIGTERM to exit within shutdown-timeout + 1 s ({limit:g} s)")
    worst = 0.0
    for node in ctx.nodes.values():
        for life in node.lives:
            if life.stop_seconds is None:
                continue
            row.checked += 1
            worst = max(worst, life.stop_seconds)
            if life.stop_seconds > limit:
                row.fail(f"{node.name}#{life.inc} took {life.stop_seconds:.1f} s to stop "
                         f"({life.how})")
    row.note = f"slowest {worst:.2f} s"
    return row


def _received(ctx: Context, kind: str) -> dict[str, set[tuple[str, int, int]]]:
    found: dict[str, set[tuple[str, int, int]]] = defaultdict(set)
    for (node, _), records in ctx.journals.events.items():
        for record in records:
            if record[1] == kind:
                found[node].add((record[2], record[3], record[4]))
    return found


def _dead(ctx: Context) -> set[tuple[str, int, int]]:
    return {
        (r[2], r[3], r[4]) for records in ctx.journals.events.values()
        for r in records if r[1] == "dead"
    }


def _check_order(ctx: Context, kind: str, row: Row) -> None:
    """Per (sender incarnation, receiving node): numbers rise, none comes twice."""
    for node in sorted(ctx.nodes):
        last: dict[tuple[str, int], int] = {}
        seen: set[tuple[str, int, int]] = set()
        for inc in range(len(ctx.nodes[node].lives)):
            for record in ctx.journals.events.get((node, inc), []):
                if record[1] != kind:
                    continue
                src, src_inc, n = record[2], record[3], record[4]
                if (src, src_inc, n) in seen:
                    row.fail(f"{src}#{src_inc} -> {node} #{n} received twice")
                elif n < last.get((src, src_inc), 0):
                    row.fail(f"{src}#{src_inc} -> {node} #{n} received after "
                             f"#{last[(src, src_inc)]}")
                seen.add((src, src_inc, n))
                last[(src, src_inc)] = max(n, last.get((src, src_inc), 0))


def check_all(
    nodes: dict[str, ChaosNode], faults: list[Fault], directory: Path, end: float,
    stream_host: str, stop_limit: float,
) -> list[Row]:
    ctx = Context(nodes, faults, Journals.read(directory), end)
    return [
        *check_stream(ctx, stream_host), check_sends(ctx), check_tells(ctx), check_asks(ctx),
        check_relinks(ctx), check_stops(ctx, stop_limit),
    ]
