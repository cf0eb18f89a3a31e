"""Where the local figures spend their time: py-spy over ``python -m bench.local``.

``python -m bench._profile [FIGURE [N [BACKEND]]]`` (FIGURE: tell, ask, ask_async,
spawn) samples one in-process run with py-spy and prints the hottest functions by own
time and by inclusive time. Stacks through the baseline and through imports are left
out, so the shares are of the runtime's work. py-spy must be installed in the venv
(``.venv/bin/pip install py-spy``); it needs permission to ptrace its child.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

__all__ = ("hot_functions", "main")

_FRAME = re.compile(r"^(?P<function>.*) \((?P<where>[^()]*)\)$")
# Samples inside these are outside the clock: the baseline's turns, imports, and the
# system's start and shutdown (stopping 50k actors is not part of the spawn figure).
_EXCLUDE = ("bench/baselines.py", "_find_and_load", "<frozen importlib",
            "ActorSystem.__aenter__", "ActorSystem.__aexit__")
_OURS = re.compile(r"\((actors|runtime)/")


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    where = match["where"].rsplit(":", 1)[0]
    return f"{match['function']} ({where})"


Ranking = list[tuple[str, int]]


def hot_functions(raw: str, top: int = 10) -> tuple[int, Ranking, Ranking]:
    """From py-spy's raw (collapsed) output: the samples kept, the top functions by own
    time (any code), and the top runtime functions (``actors/``, ``runtime/``) by
    inclusive time: the event loop's frames would otherwise fill that list."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or any(marker in stack for marker in _EXCLUDE):
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";")]
        if frames[-1].endswith("(bench/_harness.py)"):
            continue  # gc.collect() between runs, outside the clock
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    inclusive = Counter({f: c for f, c in inclusive.items() if _OURS.search(f)})
    return total, own.most_common(top), inclusive.most_common(top)


def main(argv: list[str]) -> int:
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if py_spy is None:
        print("py-spy is not installed: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "raw.txt"
        cmd = [py_spy, "record", "--rate", "1000", "--format", "raw", "--output", str(out),
               "--", sys.executable, "-m", "bench.local", *argv]
        subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
        total, own, inclusive = hot_functions(out.read_text())
    print(f"{' '.join(argv) or 'tell'}: {total} samples of the runtime's work")
    for title, rows in (("own time", own), ("inclusive time (runtime only)", inclusive)):
        print(f"  top by {title}:")
        for frame, count in rows:
            print(f"    {100 * count / max(total, 1):5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
