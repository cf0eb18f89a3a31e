"""A small app for the CLI tests: `repertory node --app tests.runtime.cli_app:tree`."""

from __future__ import annotations

from typing import Any

from actors import Actor
from supervisors import Child, Supervisor


class Echo(Actor[Any]):
    def receive(self, message: Any) -> Any:
        return message


tree = Supervisor("app", children=[Child(Echo, name="echo"),
                                   Child(Echo, name="spare", critical=False)])
