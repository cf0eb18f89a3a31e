"""Issue 15's table, built from the rows every benchmark module reported in one run.

`build_summary` is a pure function: the rows by module in, one `Line` per row of the
issue's table out (`GOALS`), each with ours, its same-run baseline, the ratio (paired
where ours and the baseline took turns), the range inside this run, the range over the
last three full runs of the same code (`history`), the target, whether it held, and the
peers. A figure that is missing comes out as "n/a (reason)": the module's own error
when it failed, else which row was not found. `other_targets` lists every other row that
carries a target, so a regression outside the issue's table shows too.

Figures are found by their row's name (`Row.figure`) in their module's rows; a goal may
name several sources, tried in turn (a newer row first, an older fallback after it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench._harness import Result
from bench.report import PEERS, Row, cell_json, cell_text, human

__all__ = ("GOALS", "Goal", "Line", "Source", "build_summary", "format_lines",
           "format_other", "history_entry", "other_targets", "summary_json")

Rows = Mapping[str, Sequence[Row]]
# Full runs of the same code kept in bench/results/history.json, for the 3-run range.
HISTORY_RUNS = 3


@dataclass(frozen=True)
class Source:
    """Where a goal's figure is: `figure` in `module`'s rows. With `over`, the baseline
    is the ours of that other (module, figure) of the same run (unpaired), instead of
    the row's own baseline."""

    module: str
    figure: str
    over: tuple[str, str] | None = None
    prefix: bool = False  # any row whose figure starts with `figure`

    def matches(self, row: Row) -> bool:
        return row.figure.startswith(self.figure) if self.prefix else row.figure == self.figure


@dataclass(frozen=True)
class Goal:
    """One row of issue 15's table and how it is judged: on the ratio to the baseline
    (``measure="ratio"``) or on ours itself (``"value"``), against `threshold`."""

    label: str
    sources: tuple[Source, ...]
    measure: str
    threshold: float
    target: str
    higher_is_better: bool = True
    peers: bool = True  # show the row's peer cells, where it has them


def _pool(routing: str) -> Goal:
    return Goal(f"pool tell, {routing}", (Source("routing", f"pool tell, {routing}"),),
                "ratio", 0.8, ">= 0.8x direct tells")


def _mesh(count: int) -> Goal:
    return Goal(f"idle mesh CPU per node, {count} nodes",
                (Source("mesh", f"mesh of {count}: idle CPU per node"),),
                "value", 1.0, "<= 1% of a core", higher_is_better=False)


GOALS: tuple[Goal, ...] = (
    Goal("local tell", (Source("local", "tell throughput"),), "ratio", 1.5,
         ">= 1.5x paired"),
    Goal("local ask, sync handler", (Source("local", "ask, sync receive"),), "ratio", 1.0,
         ">= 1.0x paired"),
    Goal("spawn (until on_start)", (Source("local", "spawn (until on_start)"),), "value",
         100_000, ">= 100k/s"),
    Goal("idle actor, RSS", (Source("local", "idle actor, RSS delta"),), "value", 1024,
         "<= 1,024 B", higher_is_better=False),
    Goal("remote ask", (Source("cluster", "remote ask, sequential"),), "ratio", 0.85,
         ">= 0.85x raw echo"),
    # bench.cluster's own row (remote and local tell taking turns) when it has one; else
    # the remote tell over this run's local tell, which did not take turns with it.
    Goal("remote tell vs local tell",
         (Source("cluster", "remote tell vs local tell", prefix=True),
          Source("cluster", "remote tell, pipelined", over=("local", "tell throughput"))),
         "ratio", 0.6, ">= 0.6x local tell", peers=False),
    Goal("topic exchange, 10k mixed bindings", (Source("routing", "topic publish, 10k bindings"),),
         "value", 200_000, ">= 200k/s", peers=False),
    Goal("topic exchange, 10k vs 10 bindings", (Source("routing", "topic publish, 10k bindings"),),
         "ratio", 0.5, ">= 0.5x 10 bindings", peers=False),
    _pool("round_robin"), _pool("random"), _pool("consistent_hash"), _pool("smallest_mailbox"),
    _mesh(20), _mesh(40),
)


@dataclass
class Line:
    """One row of the summary: what was measured, against what, and whether it held."""

    label: str
    unit: str = ""
    figure: str = ""  # the module row it came from ("module: figure")
    ours: Result | str | None = None
    baseline: Result | str | None = None
    baseline_name: str = ""
    ratio: float | None = None
    paired: bool = False
    run_range: tuple[float, float] | None = None  # of the judged quantity, in this run
    history_range: tuple[float, float, int] | None = None  # low, high, over how many runs
    target: str = ""
    met: bool | None = None
    judged: float | None = None  # the ratio or the value the target is checked on
    peers: dict[str, Result | str] = field(default_factory=dict)


def _find(rows: Rows, source: Source) -> Row | str:
    """The row, or why there is none."""
    module_rows = rows.get(source.module)
    if module_rows is None:
        return f"n/a (bench.{source.module} did not run)"
    for row in module_rows:
        if source.matches(row):
            return row
    # A module that failed reports one row named after itself, saying why.
    for row in module_rows:
        if row.figure == source.module and isinstance(row.ours, str):
            return f"n/a (bench.{source.module}: {row.ours.removeprefix('n/a (').rstrip(')')})"
    return f"n/a (no row {source.figure!r} in bench.{source.module})"


def _value(cell: Result | str | None) -> float | None:
    return cell.value if isinstance(cell, Result) else None


def _spread(cell: Result | str | None) -> tuple[float, float] | None:
    if isinstance(cell, Result) and len(cell.runs) > 1:
        return (float(min(cell.runs)), float(max(cell.runs)))
    return None


def _met(goal: Goal, judged: float | None) -> bool | None:
    if judged is None:
        return None
    return judged >= goal.threshold if goal.higher_is_better else judged <= goal.threshold


def _line(goal: Goal, rows: Rows) -> Line:
    reasons: list[str] = []
    for source in goal.sources:
        found = _find(rows, source)
        if isinstance(found, Row):
            break
        reasons.append(found)
    else:
        # Say why the first (preferred) source is missing, not the last fallback's.
        return Line(goal.label, ours=reasons[0], target=goal.target)
    row = found
    line = Line(goal.label, row.unit, f"{source.module}: {row.figure}", row.ours,
                row.baseline, row.baseline_name, target=goal.target,
                peers=dict(row.peers) if goal.peers else {})
    if source.over is not None:
        over = _find(rows, Source(*source.over))
        line.baseline = over.ours if isinstance(over, Row) else over
        line.baseline_name = f"this run's {source.over[0]}: {source.over[1]}"
        ours, base = _value(line.ours), _value(line.baseline)
        line.ratio = ours / base if ours is not None and base else None
    else:
        line.ratio, line.paired = row.ratio, row.paired and row.ratio_range is not None
    if goal.measure == "ratio":
        line.judged = line.ratio
        line.run_range = row.ratio_range if source.over is None else None
    else:
        line.judged, line.run_range = _value(row.ours), _spread(row.ours)
    line.met = _met(goal, line.judged)
    return line


def build_summary(
    rows: Rows, history: Sequence[Mapping[str, Any]] = (), goals: Sequence[Goal] = GOALS
) -> list[Line]:
    """Issue 15's table from one run's rows (by module name).

    `history` holds earlier full runs of the same code (`history_entry`'s documents,
    oldest first); each line's `history_range` is the low and high of its judged figure
    over this run and up to ``HISTORY_RUNS - 1`` of them, with how many runs that was.
    """
    lines = [_line(goal, rows) for goal in goals]
    earlier = list(history)[-(HISTORY_RUNS - 1):] if HISTORY_RUNS > 1 else []
    for line in lines:
        seen = [float(v) for entry in earlier
                if isinstance(v := entry.get("figures", {}).get(line.label), int | float)]
        if line.judged is not None:
            seen.append(line.judged)
        if seen:
            line.history_range = (min(seen), max(seen), len(seen))
    return lines


def other_targets(rows: Rows, lines: Sequence[Line]) -> list[tuple[str, Row]]:
    """(module, row) for every row with a target that no line of the summary judged."""
    used = {line.figure for line in lines}
    return [(module, row) for module, module_rows in rows.items() for row in module_rows
            if row.targets and f"{module}: {row.figure}" not in used]


def history_entry(lines: Sequence[Line], code: str, date: str) -> dict[str, Any]:
    """What history.json keeps of a run: each line's judged figure, and which code."""
    return {"code": code, "date": date,
            "figures": {line.label: line.judged for line in lines if line.judged is not None}}


# -- text and JSON --------------------------------------------------------------------------


def _judged_text(value: float, measure_is_ratio: bool) -> str:
    return f"{value:.2f}x" if measure_is_ratio else human(value)


def _range_text(low: float, high: float, ratio: bool) -> str:
    return f"{_judged_text(low, ratio)}-{_judged_text(high, ratio)}"


def _columns(
    lines: Sequence[Line], goals: Sequence[Goal], reasons: dict[str, int]
) -> list[list[str]]:
    table = [["issue 15", "unit", "ours", "baseline", "ratio", "range (this run)",
              "range (runs)", "target", "met", *PEERS]]
    for line, goal in zip(lines, goals, strict=True):
        ratio_goal = goal.measure == "ratio"
        ratio = "-" if line.ratio is None else (
            f"{line.ratio:.2f}x" + (" paired" if line.paired else " unpaired"))
        run_range = "-" if line.run_range is None else _range_text(*line.run_range, ratio_goal)
        if line.history_range is None:
            runs = "-"
        else:
            low, high, count = line.history_range
            runs = (f"{_judged_text(low, ratio_goal)} (1 run)" if count == 1 else
                    f"{_range_text(low, high, ratio_goal)} ({count} runs)")
        met = {True: "yes", False: "NO", None: "n/a"}[line.met]
        table.append([line.label, line.unit or "-", cell_text(line.ours, reasons),
                      cell_text(line.baseline, reasons), ratio, run_range, runs, line.target, met,
                      *(cell_text(line.peers.get(p), reasons, show_n=True) for p in PEERS)])
    return table


def _render(table: list[list[str]], reasons: Mapping[str, int]) -> str:
    keep = [i for i in range(len(table[0])) if i < 3 or any(r[i] != "-" for r in table[1:])]
    table = [[r[i] for i in keep] for r in table]
    widths = [max(len(r[i]) for r in table) for i in range(len(keep))]
    text = ["  ".join(c.ljust(w) if i in (0, 1) else c.rjust(w)
                      for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
            for r in table]
    text.insert(1, "-" * max(len(t) for t in text))
    text += [f"[{number}] {reason}" for reason, number in reasons.items()]
    return "\n".join(text)


def format_lines(lines: Sequence[Line], goals: Sequence[Goal] = GOALS) -> str:
    """The summary as text, with the n/a reasons and the baselines under it."""
    reasons: dict[str, int] = {}
    text = _render(_columns(lines, goals, reasons), reasons)
    baselines = [f"{line.label}: {line.baseline_name}" for line in lines if line.baseline_name]
    met = sum(line.met is True for line in lines)
    return "\n".join(part for part in [
        text,
        f"{met} of {len(lines)} targets met. ratio: ours / baseline; paired = the median of "
        "per-round ratios of runs taken in turn (A B A B), with their low-high in 'range "
        "(this run)'; 'range (runs)' is the low-high of the judged figure over the last "
        f"{HISTORY_RUNS} full runs of the same code (bench/results/history.json).",
        ("Baselines: " + "; ".join(baselines) + ".") if baselines else "",
    ] if part)


def format_other(rows: Sequence[tuple[str, Row]]) -> str:
    """Every other row with a target: its figure, ratio and whether each target held."""
    table = [["other targets", "unit", "ours", "ratio", "targets", "met"]]
    reasons: dict[str, int] = {}
    for module, row in rows:
        checks = [t.met(row) for t in row.targets]
        met = "n/a" if any(c is None for c in checks) else "yes" if all(checks) else "NO"
        table.append([f"{module}: {row.figure}", row.unit or "-", cell_text(row.ours, reasons),
                      row.ratio_text(), row.verdict() or "-", met])
    return _render(table, reasons)


def summary_json(lines: Sequence[Line], others: Sequence[tuple[str, Row]]) -> dict[str, Any]:
    """The summary as JSON values: the issue's lines, then every other targeted row."""
    return {
        "issue15": [{
            "figure": line.label, "unit": line.unit, "source": line.figure,
            "ours": cell_json(line.ours), "baseline": cell_json(line.baseline),
            "baseline_name": line.baseline_name, "ratio": line.ratio, "paired": line.paired,
            "range_this_run": line.run_range, "range_runs": line.history_range,
            "target": line.target, "judged": line.judged, "met": line.met,
            "peers": {name: cell_json(cell) for name, cell in line.peers.items()},
        } for line in lines],
        "other_targets": [{
            "module": module, "figure": row.figure, "unit": row.unit,
            "ours": cell_json(row.ours), "ratio": row.ratio,
            "targets": [{"target": t.label, "met": t.met(row)} for t in row.targets],
        } for module, row in others],
    }
