"""``--log-format json`` writes one object per line, crash reports with their fields."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from actors import Actor
from actors.testkit import TestProbe
from runtime import ActorSystem
from runtime.cli.logs import JsonFormatter
from tests.runtime.cli.conftest import repertory, start_node, stop

pytestmark = pytest.mark.anyio


class Fails(Actor[Any]):
    def receive(self, message: Any) -> None:
        raise KeyError("no such order")


async def test_a_crash_report_as_json_has_its_fields(anyio_backend: str) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("repertory")
    logger.addHandler(handler)
    try:
        async with ActorSystem("json") as system:
            ref = system.spawn(Fails, name="fails")
            probe = TestProbe(system)
            probe.watch(ref)
            ref.tell(42)
            await probe.expect_terminated(ref, timeout=2.0)
    finally:
        logger.removeHandler(handler)
    entries = [json.loads(line) for line in out.getvalue().splitlines()]
    (crash,) = [e for e in entries if e["logger"] == "repertory.actors"]
    assert crash["level"] == "ERROR"
    assert (crash["actor"], crash["actor_class"], crash["message_type"], crash["decision"]) == (
        "json/fails", "Fails", "int", "stop")
    assert "KeyError: 'no such order'" in crash["traceback"]


def test_the_node_logs_json_lines_at_the_level_asked(cookie_file: Path) -> None:
    node = start_node(cookie_file, "--log-format", "json", "--log-level", "info")
    try:
        assert repertory("tree", node.address, "--cookie-file", str(cookie_file)).returncode == 0
        logged = [json.loads(line) for line in node.rest().splitlines() if line.startswith("{")]
    finally:
        stop(node.process)
    assert any(e["logger"] == "repertory.cluster" and "is up" in e["message"]
               and e["level"] == "INFO" for e in logged), logged
    quiet = start_node(cookie_file, "--log-level", "warning", name="quiet")
    try:
        assert repertory("tree", quiet.address, "--cookie-file", str(cookie_file)).returncode == 0
        rest = quiet.rest()
    finally:
        stop(quiet.process)
    assert " is up" not in rest
