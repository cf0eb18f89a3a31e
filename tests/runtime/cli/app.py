"""A small app for the CLI tests: `repertory node --app tests.runtime.cli.app:tree`."""

from __future__ import annotations

from typing import Any

import anyio

from actors import Actor
from supervisors import Child, Supervisor

NOT_AN_APP = {"tea": 2}  # for the test of an --app that names something else


class Echo(Actor[Any]):
    def receive(self, message: Any) -> Any:
        return message


class Ticker(Actor[str]):
    """Handles a steady ~200 messages a second, so that `top` has a rate to show."""

    def on_start(self) -> None:
        self.context.send_after(0.005, "tick")

    def receive(self, message: str) -> None:
        self.context.send_after(0.005, "tick")


tree = Supervisor("app", children=[Child(Echo, name="echo"),
                                   Child(Echo, name="spare", critical=False),
                                   Child(Ticker, name="ticker")])


class Busy(Actor[Any]):
    """Takes a minute to stop: the second-signal test stops it."""

    def receive(self, message: Any) -> Any:
        return message

    async def on_stop(self, reason: BaseException | None) -> None:
        await anyio.sleep(60)


busy = Supervisor("busy", children=[Child(Busy, name="slowpoke", shutdown=None)])
