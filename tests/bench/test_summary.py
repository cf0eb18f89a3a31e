"""bench._summary: issue 15's table from rows, without running any benchmark."""

from __future__ import annotations

import json

from bench._harness import Result
from bench._summary import (
    GOALS,
    build_summary,
    format_lines,
    format_other,
    history_entry,
    other_targets,
    summary_json,
)
from bench.report import Row, Target


def _paired(figure: str, ours: list[float], base: list[float], **extra: object) -> Row:
    return Row(figure, "msgs/s", Result(max(ours), 1000, runs=ours),
               baseline=Result(max(base), 1000, runs=base), baseline_name="base",
               paired=True, **extra)  # type: ignore[arg-type]


def _rows() -> dict[str, list[Row]]:
    """A whole run's worth of rows, every issue figure present."""
    pools = [_paired(f"pool tell, {r}", [90, 80, 85], [100, 100, 100])
             for r in ("round_robin", "random", "consistent_hash", "smallest_mailbox")]
    mesh = [Row(f"mesh of {n}: idle CPU per node", "% core", Result(0.5 * n / 20, n))
            for n in (20, 40)]
    return {
        "local": [
            _paired("tell throughput", [2.0e6, 1.8e6, 2.2e6], [1.0e6, 1.0e6, 1.0e6],
                    peers={"pykka": Result(1e5, 50_000), "thespian": "n/a (timed out)"}),
            _paired("ask, sync receive", [50, 60, 40], [60, 60, 50]),
            Row("spawn (until on_start)", "actors/s", Result(120_000, 1, runs=[90_000, 120_000])),
            Row("idle actor, RSS delta", "bytes/actor", Result(900, 1), higher_is_better=False),
            Row("ask, async receive", "round trips/s", Result(1, 1),
                targets=[Target(">=1 absolute", "absolute", 2.0)]),
        ],
        "cluster": [_paired("remote ask, sequential", [90, 80, 70], [100, 100, 100]),
                    _paired("remote tell vs local tell", [70, 60, 65], [100, 100, 100])],
        "routing": [_paired("topic publish, 10k bindings", [250_000, 260_000, 240_000],
                            [400_000, 400_000, 400_000]), *pools],
        "mesh": mesh,
        "supervision": [Row("restart latency, median", "µs", Result(150, 1),
                            targets=[Target("<200 µs", "absolute", 200)],
                            higher_is_better=False)],
    }


def test_one_line_per_issue_row_in_the_issues_order() -> None:
    lines = build_summary(_rows())
    assert [line.label for line in lines] == [goal.label for goal in GOALS]
    assert [line.label for line in lines] == [
        "local tell", "local ask, sync handler", "spawn (until on_start)", "idle actor, RSS",
        "remote ask", "remote tell vs local tell", "topic exchange, 10k mixed bindings",
        "topic exchange, 10k vs 10 bindings", "pool tell, round_robin", "pool tell, random",
        "pool tell, consistent_hash", "pool tell, smallest_mailbox",
        "idle mesh CPU per node, 20 nodes", "idle mesh CPU per node, 40 nodes"]


def test_ratio_targets_are_judged_on_the_median_of_paired_rounds() -> None:
    lines = {line.label: line for line in build_summary(_rows())}
    tell = lines["local tell"]
    assert tell.paired and tell.ratio == 2.0 and tell.judged == 2.0
    assert tell.run_range == (1.8, 2.2)
    assert tell.met is True
    # Per-round ratios 50/60, 60/60, 40/50: the median is 50/60, not best/best (1.0).
    ask = lines["local ask, sync handler"]
    assert ask.ratio == 50 / 60 and ask.run_range == (0.8, 1.0)
    assert ask.met is False


def test_value_targets_respect_direction() -> None:
    lines = {line.label: line for line in build_summary(_rows())}
    assert lines["spawn (until on_start)"].met is True
    assert lines["spawn (until on_start)"].run_range == (90_000, 120_000)
    assert lines["idle actor, RSS"].met is True  # 900 B <= 1,024 B, lower is better
    assert lines["idle mesh CPU per node, 20 nodes"].met is True  # 0.5%
    assert lines["idle mesh CPU per node, 40 nodes"].met is True  # 1.0% <= 1%
    assert lines["topic exchange, 10k mixed bindings"].met is True  # 260k >= 200k
    assert lines["topic exchange, 10k vs 10 bindings"].judged == 0.625


def test_peers_come_from_the_module_row() -> None:
    tell = {line.label: line for line in build_summary(_rows())}["local tell"]
    assert tell.peers["pykka"] == Result(1e5, 50_000)
    text = format_lines(build_summary(_rows()))
    assert "100k (n=50k)" in text
    assert "n/a (timed out)" in text  # thespian's reason, as a numbered note


def test_missing_rows_say_why() -> None:
    rows = _rows()
    del rows["mesh"]
    rows["routing"] = [Row("routing", "", "n/a (timed out after 300 s)")]
    rows["local"] = [row for row in rows["local"] if row.figure != "spawn (until on_start)"]
    lines = {line.label: line for line in build_summary(rows)}
    assert lines["idle mesh CPU per node, 20 nodes"].ours == "n/a (bench.mesh did not run)"
    assert lines["pool tell, random"].ours == "n/a (bench.routing: timed out after 300 s)"
    assert lines["spawn (until on_start)"].ours == (
        "n/a (no row 'spawn (until on_start)' in bench.local)")
    assert all(lines[label].met is None for label in (
        "idle mesh CPU per node, 20 nodes", "pool tell, random", "spawn (until on_start)"))
    text = format_lines(list(lines.values()))
    assert "n/a (bench.routing: timed out after 300 s)" in text
    assert "bench.mesh did not run" in text


def test_an_empty_run_gives_every_line_as_na() -> None:
    lines = build_summary({})
    assert len(lines) == len(GOALS)
    assert all(isinstance(line.ours, str) and line.met is None for line in lines)
    assert "0 of 14 targets met" in format_lines(lines)


def test_remote_tell_falls_back_to_this_runs_local_tell() -> None:
    rows = _rows()
    rows["cluster"] = [Row("remote tell, pipelined", "msgs/s", Result(1.2e6, 1))]
    line = {line.label: line for line in build_summary(rows)}["remote tell vs local tell"]
    assert line.figure == "cluster: remote tell, pipelined"
    assert not line.paired and line.ratio == 1.2e6 / 2.2e6
    assert line.met is False


def test_range_over_runs_uses_the_history_of_the_same_code() -> None:
    history = [history_entry(build_summary(_rows()), "abc", "d1")]
    history[0]["figures"]["local tell"] = 1.6  # type: ignore[index]
    line = {line.label: line for line in build_summary(_rows(), history)}["local tell"]
    assert line.history_range == (1.6, 2.0, 2)
    assert "1.60x-2.00x (2 runs)" in format_lines(build_summary(_rows(), history))


def test_other_targets_list_every_targeted_row_not_in_the_issue_table() -> None:
    rows = _rows()
    others = other_targets(rows, build_summary(rows))
    assert [(module, row.figure) for module, row in others] == [
        ("local", "ask, async receive"), ("supervision", "restart latency, median")]
    text = format_other(others)
    assert "local: ask, async receive" in text and "NO" in text
    assert "supervision: restart latency, median" in text and "yes" in text


def test_summary_json_round_trips_through_json() -> None:
    rows = _rows()
    del rows["mesh"]
    lines = build_summary(rows)
    document = json.loads(json.dumps(summary_json(lines, other_targets(rows, lines))))
    issue = {entry["figure"]: entry for entry in document["issue15"]}
    assert issue["local tell"]["met"] is True and issue["local tell"]["paired"] is True
    assert issue["local tell"]["ours"]["value"] == 2.2e6
    assert issue["idle mesh CPU per node, 40 nodes"]["ours"] == "n/a (bench.mesh did not run)"
    assert issue["idle mesh CPU per node, 40 nodes"]["met"] is None
    assert [entry["figure"] for entry in document["other_targets"]] == [
        "ask, async receive", "restart latency, median"]


def test_remote_tell_takes_bench_clusters_own_paired_row_by_its_name() -> None:
    rows = _rows()
    rows["cluster"] = [Row("remote tell, pipelined", "msgs/s", Result(1.2e6, 1)),
                       _paired("remote tell vs local tell (same process, in turns)",
                               [62, 60, 70], [100, 100, 100])]
    line = {line.label: line for line in build_summary(rows)}["remote tell vs local tell"]
    assert line.figure == "cluster: remote tell vs local tell (same process, in turns)"
    assert line.paired and line.ratio == 0.62 and line.met is True
