"""A crash report's traceback is exactly the standard library's rendering, rendered once
per failure, and the same text reaches the report and every log handler."""

from __future__ import annotations

import io
import json
import logging
import traceback
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors import Actor
from runtime import ActorSystem
from runtime._engine import crashes
from runtime._engine.crashes import format_traceback
from runtime.cli.logs import TEXT_FORMAT, JsonFormatter
from supervisors import Child, Supervisor

EMPTY: dict[str, int] = {}


def _deep(depth: int, error: BaseException) -> None:
    if depth:
        _deep(depth - 1, error)
    raise error


def _caught(action: Any) -> BaseException:
    try:
        action()
    except BaseException as error:
        return error
    raise AssertionError("nothing raised")


def _chained() -> None:
    try:
        EMPTY["missing"]
    except KeyError as error:
        raise ValueError("wrapped") from error


def _in_handler() -> None:
    try:
        1 / 0  # noqa: B018 - raises on purpose
    except ZeroDivisionError:
        raise RuntimeError("while handling")  # noqa: B904 - the context is the point


def _suppressed() -> None:
    try:
        1 / 0  # noqa: B018 - raises on purpose
    except ZeroDivisionError:
        raise RuntimeError("context suppressed") from None


def _group() -> None:
    raise ExceptionGroup("two", [ValueError("a"), KeyError("b")])


def _noted() -> None:
    error = OSError(5, "disk")
    error.add_note("on the second disk")
    raise error


class Unprintable(Exception):
    def __str__(self) -> str:
        raise TypeError("no text")


class OwnError(LookupError):
    """Defined here: its name is printed with this module's."""


def _recursive(n: int) -> None:
    _recursive(n + 1) if n < 40 else _deep(0, RuntimeError("deep"))


SHAPES = {
    "plain": lambda: _deep(2, RuntimeError("plain")),
    "empty message": lambda: _deep(0, LookupError()),
    "chained": _chained,
    "context": _in_handler,
    "suppressed context": _suppressed,
    "group": _group,
    "notes": _noted,
    "recursion": lambda: _recursive(0),
    "str fails": lambda: _deep(1, Unprintable()),
    "own class": lambda: _deep(1, OwnError("mine")),
    "keyerror repr": lambda: EMPTY["absent"],
    "carets": lambda: [1][0] + EMPTY["k"],
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_text_is_the_standard_librarys(shape: str) -> None:
    error = _caught(SHAPES[shape])
    expected = "".join(traceback.format_exception(error))
    assert format_traceback(error) == expected
    assert format_traceback(error) == expected, "and again, from the rendered stacks"


@given(st.lists(st.sampled_from(sorted(SHAPES)), min_size=1, max_size=30))
def test_repeated_failures_at_mixed_places_each_render_as_the_standard_library(
    shapes: list[str],
) -> None:
    for shape in shapes:
        error = _caught(SHAPES[shape])
        assert format_traceback(error) == "".join(traceback.format_exception(error))


def test_the_rendered_stacks_are_bounded() -> None:
    for index in range(crashes._STACKS_KEPT + 50):
        code = compile(f"def f{index}():\n    raise RuntimeError({index})\n", "<gen>", "exec")
        space: dict[str, Any] = {}
        exec(code, space)
        error = _caught(space[f"f{index}"])
        assert format_traceback(error).endswith(f"RuntimeError: {index}\n")
    assert len(crashes._STACKS) <= crashes._STACKS_KEPT


class Fragile(Actor[Any]):
    def receive(self, message: Any) -> None:
        raise RuntimeError(f"broke on {message}")


class Counting(logging.Formatter):
    """Counts how often logging itself renders a traceback."""

    rendered = 0

    def formatException(self, ei: Any) -> str:
        Counting.rendered += 1
        return super().formatException(ei)


class Arrived(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.event = anyio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.event.set()


@pytest.mark.anyio
async def test_one_rendering_serves_the_report_and_every_handler(anyio_backend: str) -> None:
    text, json_lines = io.StringIO(), io.StringIO()
    arrived = Arrived()
    handlers = [logging.StreamHandler(text), logging.StreamHandler(json_lines), arrived]
    handlers[0].setFormatter(Counting(TEXT_FORMAT))
    handlers[1].setFormatter(JsonFormatter())
    logger = logging.getLogger("repertory.supervision")
    for handler in handlers:
        logger.addHandler(handler)
    Counting.rendered = 0
    try:
        async with ActorSystem("once") as system:
            system.spawn(Supervisor("app", children=[Child(Fragile, name="w")]))
            worker = system.registry.whereis("w")
            assert worker is not None
            worker.tell("first")
            with anyio.fail_after(5):
                await arrived.event.wait()
            report = system._crashes.recent[-1]
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
    assert Counting.rendered == 0, "logging did not render the traceback again"
    assert report.traceback.startswith("Traceback (most recent call last):\n")
    assert report.traceback.endswith("RuntimeError: broke on first\n")
    logged = text.getvalue()
    assert "once/w (Fragile) failed handling a str" in logged
    assert "decision by once/app: restart" in logged
    assert report.traceback.rstrip("\n") in logged
    (entry,) = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    assert entry["traceback"] == report.traceback.rstrip("\n")
    assert entry["decision"] == "restart" and entry["actor"] == "once/w"
