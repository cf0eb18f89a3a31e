"""bench.ab's verdict: the median of per-round ratios, and which way is worse."""

from __future__ import annotations

import pytest

from bench.ab import SMALLER_IS_BETTER, _report


def test_a_rate_more_than_the_tolerance_lower_is_worse(capsys: pytest.CaptureFixture[str]) -> None:
    old = [{"tell": 100.0}, {"tell": 100.0}, {"tell": 100.0}]
    new = [{"tell": 90.0}, {"tell": 99.0}, {"tell": 93.0}]  # ratios 0.90, 0.99, 0.93
    assert _report("asyncio", old, new, 0.05, SMALLER_IS_BETTER) is True
    out = capsys.readouterr().out
    assert "new/old 0.930 [0.900-0.990]  WORSE" in out


def test_one_slow_round_does_not_make_a_regression() -> None:
    old = [{"tell": 100.0}] * 3
    new = [{"tell": 50.0}, {"tell": 100.0}, {"tell": 101.0}]
    assert _report("asyncio", old, new, 0.05, SMALLER_IS_BETTER) is False


def test_bytes_and_latencies_are_worse_when_they_grow(capsys: pytest.CaptureFixture[str]) -> None:
    old = [{"idle_rss": 1000.0, "latency [µs]": 100.0}] * 2
    new = [{"idle_rss": 1100.0, "latency [µs]": 96.0}] * 2
    assert _report("asyncio", old, new, 0.05, {"idle_rss", "latency [µs]"}) is True
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("WORSE") and "idle_rss" in lines[0]
    assert not lines[1].endswith("WORSE")
