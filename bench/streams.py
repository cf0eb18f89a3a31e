"""Streams on disk: append rates per fsync policy, group delivery, opening a big log.

Figures, each beside a baseline measured in the same run:

- append rate, entries/s and MB/s, for ``fsync="always"``, ``"interval"`` and
  ``"never"``: `stream.append` of a 100-byte message on a system with `data_dir`,
  beside raw ``os.write`` of the very same record bytes to a file under the same
  policy (an fdatasync per write; one fsync per `flush_interval`; none). Target
  (issue 12): at least 0.5x raw for ``interval`` and ``never``.
- group delivery with commits, entries/s: one member that commits each entry as it
  handles it, the log already written; beside plain tells of the same messages to an
  actor that counts them (what delivery costs on top of messaging).
- opening a log of `OPEN_BYTES` (1 GB; 32 MB with ``--quick``): the time
  `SegmentedLog.open` takes (every chunk's CRC checked, the tail recovered), beside
  reading the same files from start to end. Both read a warm page cache.

Run alone with ``python -m bench.streams`` (``--quick`` for a smoke run,
``--open-bytes N`` for another log size): it prints the table and writes
``bench/results/streams.json``. ``python -m bench`` runs it as an extra module.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from actors import Actor, StreamEntry
from bench._harness import REPEATS, Result
from bench.report import Row, Target, format_table, write_json
from runtime import ActorSystem, Subscription
from runtime._streams.log import SegmentedLog
from runtime._streams.options import StreamOptions
from runtime._streams.record import pack
from runtime._wire.codec import Codec

__all__ = ("main", "run")

RESULTS = Path(__file__).parent / "results" / "streams.json"
APPENDS = {"always": 500, "interval": 100_000, "never": 100_000}
DELIVERIES = 50_000
OPEN_BYTES = 1 << 30
MESSAGE = "m" * 100
FLUSH_INTERVAL = 0.05


async def _append_seconds(directory: str, fsync: str, n: int) -> float:
    async with ActorSystem("bench", data_dir=directory, flush_interval=FLUSH_INTERVAL) as system:
        stream = system.streams.stream("s", fsync=fsync)  # type: ignore[arg-type]
        append = stream.append
        began = time.perf_counter()
        for _ in range(n):
            append(MESSAGE)
        seconds = time.perf_counter() - began
    return seconds


def _raw_seconds(path: Path, fsync: str, n: int, record: bytes) -> float:
    """Raw appends of `record` to a file, synced as `fsync` says."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        began = time.perf_counter()
        last_sync = began
        for _ in range(n):
            os.write(fd, record)
            if fsync == "always":
                os.fdatasync(fd)
            elif fsync == "interval":
                now = time.perf_counter()
                if now - last_sync >= FLUSH_INTERVAL:
                    os.fsync(fd)
                    last_sync = now
        if fsync == "interval":
            os.fsync(fd)
        return time.perf_counter() - began
    finally:
        os.close(fd)


def _record() -> bytes:
    codec = Codec(allow_pickle=False, ref_encoder=_no_refs, ref_decoder=_no_refs)
    return pack(12345, codec.encode(MESSAGE))


def _no_refs(*args: Any) -> Any:
    raise AssertionError("no refs in the benchmark's messages")


def _appends(fsync: str, n: int) -> tuple[Result, Result, int]:
    """(ours, raw) in entries/s, best of REPEATS taken in turn; and the record size."""
    record = _record()
    ours: list[float] = []
    raw: list[float] = []
    for _ in range(REPEATS):
        with tempfile.TemporaryDirectory(prefix="bench-streams-") as directory:
            ours.append(n / anyio.run(_append_seconds, directory, fsync, n))
            raw.append(n / _raw_seconds(Path(directory) / "raw", fsync, n, record))
    note = f"{len(record)}-byte records, best of {REPEATS}"
    return Result(max(ours), n, note, ours), Result(max(raw), n, note, raw), len(record)


class _Committer(Actor[Any]):
    """A group member that commits each entry; sets `done` at the last one."""

    def __init__(self, last: int, done: anyio.Event) -> None:
        self.last, self.done = last, done
        self.subscription: Subscription | None = None

    def on_start(self) -> None:
        stream = self.context.system.streams.stream("s")
        self.subscription = stream.subscribe(self.context.ref, group="g", start="earliest")

    def receive(self, message: Any) -> None:
        assert isinstance(message, StreamEntry) and self.subscription is not None
        self.subscription.commit(message.offset)
        if message.offset == self.last:
            self.done.set()


class _Counter(Actor[Any]):
    def __init__(self, last: int, done: anyio.Event) -> None:
        self.count, self.last, self.done = 0, last, done

    def receive(self, message: Any) -> None:
        self.count += 1
        if self.count == self.last + 1:
            self.done.set()


async def _delivery_seconds(directory: str, n: int, baseline: bool) -> float:
    async with ActorSystem("bench", data_dir=directory) as system:
        done = anyio.Event()
        if baseline:
            counter = system.spawn(_Counter, n - 1, done)
            began = time.perf_counter()
            for _ in range(n):
                counter.tell(MESSAGE)
        else:
            stream = system.streams.stream("s")
            for _ in range(n):
                stream.append(MESSAGE)
            began = time.perf_counter()
            system.spawn(_Committer, n - 1, done)
        await done.wait()
        return time.perf_counter() - began


def _delivery(n: int) -> tuple[Result, Result]:
    ours: list[float] = []
    base: list[float] = []
    for _ in range(REPEATS):
        for baseline, into in ((False, ours), (True, base)):
            with tempfile.TemporaryDirectory(prefix="bench-streams-") as directory:
                into.append(n / anyio.run(_delivery_seconds, directory, n, baseline))
    note = f"best of {REPEATS}, window 100"
    return Result(max(ours), n, note, ours), Result(max(base), n, note, base)


def _open_times(size: int) -> tuple[Result, Result]:
    """Seconds to open a log of `size` bytes, and to read its files raw."""
    payload = os.urandom(4000)
    codec = Codec(allow_pickle=False, ref_encoder=_no_refs, ref_decoder=_no_refs)
    with tempfile.TemporaryDirectory(prefix="bench-streams-") as root:
        directory = Path(root) / "s"
        options = StreamOptions(fsync="never")
        log = SegmentedLog.open("s", directory, codec, options, 0)
        written = 0
        while written < size:
            log.append(payload)
            written += len(payload) + 24
        count = log.end
        log.close()
        opens: list[float] = []
        reads: list[float] = []
        for _ in range(REPEATS):
            began = time.perf_counter()
            log = SegmentedLog.open("s", directory, codec, options, 0)
            opens.append(time.perf_counter() - began)
            assert log.end == count and not log.damaged
            log.close()
            began = time.perf_counter()
            for path in sorted(directory.glob("*.seg")):
                with path.open("rb") as file:
                    while file.read(1 << 20):
                        pass
            reads.append(time.perf_counter() - began)
    mb = size / 1e6
    note = f"ms, {mb:.0f} MB in {count} entries, best of {REPEATS}"
    opens = [seconds * 1e3 for seconds in opens]
    reads = [seconds * 1e3 for seconds in reads]
    return Result(min(opens), count, note, opens), Result(min(reads), count, note, reads)


def run(quick: bool = False, open_bytes: int | None = None) -> list[Row]:
    """Every figure, as rows for `python -m bench`'s table."""
    rows: list[Row] = []
    half = [Target(">=0.5x raw", "baseline", 0.5)]
    for fsync, n in APPENDS.items():
        n = max(100, n // 10) if quick else n
        ours, raw, size = _appends(fsync, n)
        to_mb = size / 1e6
        ours_mb = Result(ours.value * to_mb, n, ours.note, [r * to_mb for r in ours.runs])
        raw_mb = Result(raw.value * to_mb, n, raw.note, [r * to_mb for r in raw.runs])
        targets = half if fsync != "always" else []
        rows.append(Row(f"append, fsync={fsync}", "entries/s", ours, raw,
                        f"raw os.write, fsync={fsync}", targets=targets))
        rows.append(Row(f"append, fsync={fsync}", "MB/s", ours_mb, raw_mb,
                        f"raw os.write, fsync={fsync}", targets=targets))
    n = DELIVERIES // 10 if quick else DELIVERIES
    ours, base = _delivery(n)
    rows.append(Row("group delivery, a commit per entry", "entries/s", ours, base,
                    "tells to an actor that counts"))
    size = open_bytes if open_bytes is not None else (32 << 20 if quick else OPEN_BYTES)
    opened, read = _open_times(size)
    rows.append(Row(f"open a {size / 1e6:.0f} MB log", "ms", opened, read,
                    "reading its files raw", higher_is_better=False))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the figures; a full run (not ``--quick``) writes them to `RESULTS`."""
    args = sys.argv[1:] if argv is None else argv
    quick = "--quick" in args
    open_bytes = int(args[args.index("--open-bytes") + 1]) if "--open-bytes" in args else None
    rows = run(quick=quick, open_bytes=open_bytes)
    print(format_table(rows))
    for row in rows:
        for name, cell in (("ours", row.ours), ("baseline", row.baseline)):
            if isinstance(cell, Result):
                detail = f"{cell.note}, n={cell.n}"
                print(f"{row.figure} [{name}]: {cell.value:.6g} {row.unit} ({detail})")
    if not quick:
        write_json(RESULTS, rows, {"appends": APPENDS, "deliveries": DELIVERIES,
                                   "open_bytes": open_bytes or OPEN_BYTES,
                                   "flush_interval": FLUSH_INTERVAL}, quick=False)
        print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
