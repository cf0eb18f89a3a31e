"""The results table and JSON: each figure beside its baseline, ratio, peers and targets.

Other benchmark modules in ``bench/`` join the table by exposing
``run(quick: bool = False) -> list[Row]`` (see ``bench.__main__``).
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._harness import REPEATS, Result, paired_ratio, ratio_range

__all__ = (
    "PEERS", "Row", "Target", "cell_json", "cell_text", "format_table", "human", "legend",
    "machine_info", "module_rows", "write_json",
)

PEERS = ("pykka", "thespian", "xoscar")


@dataclass
class Target:
    """A goal for a row: a ratio to the baseline, a multiple of a peer, or a bound."""

    label: str
    against: str  # "baseline", "absolute", or a peer's name
    threshold: float

    def met(self, row: Row) -> bool | None:
        ours = _value(row.ours)
        if ours is None:
            return None
        if self.against == "baseline":
            ratio = row.ratio  # paired where ours and the baseline took turns
        else:
            reference = 1.0 if self.against == "absolute" else _value(
                row.peers.get(self.against))
            ratio = ours / reference if reference else None
        if ratio is None:
            return None
        return ratio >= self.threshold if row.higher_is_better else ratio <= self.threshold


@dataclass
class Row:
    """One figure of the table; cells are `Result`s or "n/a (reason)" strings."""

    figure: str
    unit: str
    ours: Result | str | None
    baseline: Result | str | None = None
    baseline_name: str = ""
    trio: Result | str | None = None
    peers: dict[str, Result | str] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    higher_is_better: bool = True
    # Ours and the baseline took turns, run for run (A B A B): the ratio is then the
    # median of the per-round ratios, not best / best.
    paired: bool = False

    @property
    def ratio(self) -> float | None:
        """ours / baseline: paired (see `paired`) when it can be, else best / best."""
        if self.paired and isinstance(self.ours, Result) and isinstance(self.baseline, Result):
            paired = paired_ratio(self.ours, self.baseline)
            if paired is not None:
                return paired
        ours, base = _value(self.ours), _value(self.baseline)
        return ours / base if ours is not None and base else None

    @property
    def ratio_range(self) -> tuple[float, float] | None:
        """The lowest and highest per-round ratio, for a paired row."""
        if self.paired and isinstance(self.ours, Result) and isinstance(self.baseline, Result):
            return ratio_range(self.ours, self.baseline)
        return None

    def ratio_text(self) -> str:
        """``0.93x [0.88-0.97]`` paired (median [range]), ``~0.93x`` best / best."""
        ratio = self.ratio
        if ratio is None:
            return "-"
        spread = self.ratio_range
        if spread is None:
            return f"~{ratio:.2f}x"
        return f"{ratio:.2f}x [{spread[0]:.2f}-{spread[1]:.2f}]"

    def verdict(self) -> str:
        checks = [(t.label, t.met(self)) for t in self.targets]
        return "; ".join(f"{label} {'ok' if ok else 'MISSED' if ok is False else '?'}"
                         for label, ok in checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "figure": self.figure,
            "unit": self.unit,
            "ours_asyncio": cell_json(self.ours),
            "ours_trio": cell_json(self.trio),
            "baseline": cell_json(self.baseline),
            "baseline_name": self.baseline_name,
            "ratio": self.ratio,
            "paired": self.paired,
            "ratio_range": self.ratio_range,
            "peers": {name: cell_json(cell) for name, cell in self.peers.items()},
            "targets": [{"target": t.label, "against": t.against, "threshold": t.threshold,
                         "met": t.met(self)} for t in self.targets],
            "higher_is_better": self.higher_is_better,
        }


    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Row:
        return cls(
            str(data["figure"]), str(data.get("unit", "")),
            ours=_cell_from_json(data.get("ours_asyncio")),
            baseline=_cell_from_json(data.get("baseline")),
            baseline_name=str(data.get("baseline_name", "")),
            trio=_cell_from_json(data.get("ours_trio")),
            peers={k: c for k, v in (data.get("peers") or {}).items()
                   if (c := _cell_from_json(v)) is not None},
            targets=[Target(t["target"], t["against"], t["threshold"])
                     for t in data.get("targets", ())],
            higher_is_better=bool(data.get("higher_is_better", True)),
            paired=bool(data.get("paired", False)),
        )


def _cell_from_json(data: Any) -> Result | str | None:
    return Result.from_json(data) if isinstance(data, Mapping) else data


def _value(cell: Result | str | None) -> float | None:
    return cell.value if isinstance(cell, Result) else None


def cell_json(cell: Result | str | None) -> Any:
    return cell.to_json() if isinstance(cell, Result) else cell


def human(value: float) -> str:
    if abs(value) >= 1e6:
        return f"{value / 1e6:.3g}M"
    if abs(value) >= 1e4:  # below this the full number is short enough
        return f"{value / 1e3:.0f}k"
    if abs(value) < 100:  # seconds, percentages, ratios: keep three digits
        return f"{value:.3g}"
    return f"{value:,.0f}"


def cell_text(cell: Result | str | None, reasons: dict[str, int], show_n: bool = False) -> str:
    if cell is None:
        return "-"
    if isinstance(cell, str):
        # Reasons can be long (a traceback's last line): a numbered note keeps the
        # table readable, and the note under it says the whole thing once.
        number = reasons.setdefault(cell, len(reasons) + 1)
        return f"n/a [{number}]"
    return f"{human(cell.value)} (n={human(cell.n)})" if show_n else human(cell.value)


def format_table(rows: Sequence[Row]) -> str:
    """The table as text: ours (asyncio, then trio), baseline, ratio, peers, targets.

    Columns that are empty in every row (no trio run, no peers) are left out.
    """
    header = ["figure", "unit", "ours", "ours/trio", "baseline", "ratio", *PEERS, "targets"]
    lines = [header]
    reasons: dict[str, int] = {}
    for row in rows:
        ratio = row.ratio_text()
        ours = [cell_text(cell, reasons) for cell in (row.ours, row.trio, row.baseline)]
        peers = [cell_text(row.peers.get(name), reasons, show_n=True) for name in PEERS]
        lines.append([row.figure, row.unit, *ours, ratio, *peers, row.verdict() or "-"])
    keep = [i for i in range(len(header))
            if i < 3 or any(line[i] != "-" for line in lines[1:])]
    lines = [[line[i] for i in keep] for line in lines]
    widths = [max(len(line[i]) for line in lines) for i in range(len(keep))]
    text = []
    for line in lines:
        # Names read best left-aligned, numbers right-aligned; targets stay ragged.
        cells = [c.ljust(w) if i < 2 else c.rjust(w)
                 for i, (c, w) in enumerate(zip(line[:-1], widths, strict=False))]
        text.append("  ".join([*cells, line[-1]]).rstrip())
    text.insert(1, "-" * max(len(t) for t in text))
    text += [f"[{number}] {reason}" for reason, number in reasons.items()]
    return "\n".join(text)


def legend(rows: Sequence[Row]) -> str:
    """What each baseline is, and how the figures were taken."""
    baselines = dict.fromkeys(row.baseline_name for row in rows if row.baseline_name)
    return "\n".join([
        f"Rates: best of {REPEATS} runs, each in a fresh event loop and system; a rate's "
        "baseline runs take turns with ours in the same process.",
        "Memory: one run (it barely varies), started idle actors with their refs kept.",
        "ratio = ours on asyncio / baseline: where they took turns (A B A B), the median of "
        "the per-round ratios [lowest-highest]; ~ marks best / best.",
        "Peers ran their own counts (n); every figure is a rate or a per-actor cost, so the "
        "counts do not change what it means.",
        ("Baselines: " + "; ".join(baselines) + ".") if baselines else "",
    ]).rstrip()


def module_rows(name: str, quick: bool) -> dict[str, Any]:
    """Run ``bench.<name>.run(quick=...)`` (in a child: see `bench.__main__.run_extra`)
    and return its rows; a mapping of names to `Result`s becomes one row per name."""
    module = importlib.import_module(f"bench.{name}")
    runner = getattr(module, "run", None)
    if runner is None:
        # A helper for other benchmarks (a baseline, say), not a benchmark itself.
        return {"skipped": f"bench.{name} has no run(quick) -> list[Row]"}
    got = runner(quick=quick)
    if isinstance(got, Mapping):
        rows = [Row(key, cell.note if isinstance(cell, Result) else "", cell)
                for key, cell in got.items() if isinstance(cell, Result | str)]
    else:
        rows = [row for row in got if isinstance(row, Row)]
    return {"rows": rows}


def machine_info() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or _cpu_model(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def write_json(path: Path, rows: Sequence[Row], raw: Mapping[str, Any], quick: bool,
               top: Mapping[str, Any] | None = None) -> None:
    """Write every figure with the date, Python and machine it was measured on (and
    `top`'s keys beside them: summary.json's issue table)."""
    document = {
        **(top or {}),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "machine": machine_info(),
        "quick": quick,
        "method": f"rates: best of {REPEATS} runs, each in a fresh event loop; "
                  "memory: tracemalloc and RSS delta over started idle actors, refs kept",
        "rows": [row.to_json() for row in rows],
        "raw": raw,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=cell_json) + "\n")
