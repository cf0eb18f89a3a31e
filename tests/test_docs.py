"""Every example in README.md and docs/*.md runs, and every command shown exists.

Fenced blocks are collected per file, in order, by their info string:

- ``python``: a complete program. Each runs on its own, in this process, as a fresh
  module (so its classes resolve by name, as `msgspec.Struct` messages between two
  nodes must), under the suite's warnings-as-errors, within `BLOCK_BUDGET` seconds,
  once on asyncio and once on trio (its `anyio.run` is given the backend).
- ``python test``: a pytest module. It is written to a temporary directory and run by
  pytest in a child process (with its own rootdir, as a user's project would be).
- ``python no-run``: compiled, not run; the prose next to it says why.
- ``sh``: not run. Every ``repertory ...`` line must parse with the real CLI parser,
  and every ``make TARGET`` must name a target of the Makefile.

Relative links between the files must point at files that exist.
"""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from runtime.cli import _parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Seconds one example may take: they are meant to take well under one.
BLOCK_BUDGET = 3.0
_FENCE = re.compile(r"^(`{3,})(.*)$")
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
_anyio_run = anyio.run


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    info: str
    code: str

    @property
    def language(self) -> str:
        return self.info.split()[0] if self.info else ""

    @property
    def flags(self) -> list[str]:
        return self.info.split()[1:]

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks_of(path: Path) -> list[Block]:
    """The fenced blocks of a markdown file, in order."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, info = opening.group(1), opening.group(2).strip()
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not lines[end].startswith(fence):
            body.append(lines[end])
            end += 1
        if end == len(lines):
            raise AssertionError(f"{path.name}:{index + 1}: a code block is never closed")
        blocks.append(Block(path, index + 1, info, "\n".join(body) + "\n"))
        index = end + 1
    return blocks


ALL_BLOCKS = [block for path in DOCS for block in blocks_of(path)]
PYTHON = [block for block in ALL_BLOCKS if block.language == "python"]
SHELL = [block for block in ALL_BLOCKS if block.language == "sh"]


def _id(block: Block) -> str:
    return block.id


def test_every_guide_exists_and_has_a_runnable_example() -> None:
    expected = {"actors", "ask", "supervision", "routing", "cluster", "testing"}
    guides = {path.stem for path in DOCS if path.parent.name == "docs"}
    assert expected <= guides, f"missing guides: {sorted(expected - guides)}"
    for path in DOCS:
        runnable = [b for b in PYTHON if b.path == path and "no-run" not in b.flags]
        assert runnable, f"{path.relative_to(ROOT)} has no example that the tests run"


def test_every_block_names_a_known_language() -> None:
    known = {"python", "sh", "text"}
    for block in ALL_BLOCKS:
        assert block.language in known, f"{block.id}: fence info {block.info!r}"
        if block.language == "python":
            unknown = set(block.flags) - {"no-run", "test"}
            assert not unknown, f"{block.id}: unknown flags {sorted(unknown)}"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("block", [b for b in PYTHON if not b.flags], ids=_id)
def test_python_example_runs(
    block: Block, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The examples call `anyio.run(main)`; they must hold on trio as well.
    monkeypatch.setattr(anyio, "run", functools.partial(_anyio_run, backend=backend))
    code = compile(block.code, block.id, "exec")
    name = "docs_example_" + re.sub(r"\W", "_", block.id)
    module = types.ModuleType(name)
    module.__file__ = str(block.path)
    sys.modules[name] = module  # classes defined in it resolve by module and name
    started = time.perf_counter()
    try:
        exec(code, module.__dict__)
    finally:
        del sys.modules[name]
    took = time.perf_counter() - started
    assert took < BLOCK_BUDGET, f"{block.id} took {took:.2f} s; keep examples fast"


@pytest.mark.parametrize("block", [b for b in PYTHON if "test" in b.flags], ids=_id)
def test_pytest_example_passes(block: Block, tmp_path: Path) -> None:
    (tmp_path / "test_example.py").write_text(block.code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
         "--rootdir", str(tmp_path), str(tmp_path / "test_example.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, f"{block.id}:\n{result.stdout}\n{result.stderr}"


def test_python_examples_that_cannot_run_still_compile() -> None:
    for block in PYTHON:
        if "no-run" in block.flags:
            compile(block.code, block.id, "exec")


def _commands(block: Block) -> list[list[str]]:
    """The commands of a shell block: continuations joined, comments and prompts gone."""
    commands: list[list[str]] = []
    pending = ""
    for raw in block.code.splitlines():
        line = pending + raw
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        words = shlex.split(line, comments=True)
        if words and words[0] == "$":
            words = words[1:]
        if words:
            commands.append(words)
    return commands


def _make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z0-9_-]+):", makefile, flags=re.MULTILINE))


@pytest.mark.parametrize("block", SHELL, ids=_id)
def test_shell_commands_exist(block: Block) -> None:
    targets = _make_targets()
    for words in _commands(block):
        program = Path(words[0]).name
        if program == "repertory":
            try:
                _parser().parse_args(words[1:])
            except SystemExit as stop:
                pytest.fail(f"{block.id}: `{shlex.join(words)}` does not parse ({stop.code})")
        elif program == "make":
            named = [word for word in words[1:] if not word.startswith("-") and "=" not in word]
            for target in named:
                assert target in targets, f"{block.id}: no make target {target!r}"


def test_shell_blocks_show_the_commands_the_readme_promises() -> None:
    shown = [words for block in SHELL for words in _commands(block)]
    assert ["make", "sample"] in shown
    assert ["make", "test"] in shown
    assert any(Path(words[0]).name == "repertory" for words in shown)


@pytest.mark.parametrize("path", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_relative_links_point_at_files(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for target in _LINK.findall(text):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (path.parent / target).exists(), f"{path.relative_to(ROOT)}: broken link {target}"
