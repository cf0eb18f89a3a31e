"""A module no peer may make a node import: importing it leaves a mark and exits.

The codec tests name it on the wire (as `venv.__main__` was named in issue 10) and
check that it is never imported, unless this node lists it in `message_modules`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

MARK = os.environ.get("REPERTORY_SIDE_EFFECT_MARK")
if MARK:
    with open(MARK, "a") as mark:
        mark.write("imported\n")


@dataclass
class Listed:
    """A message type of a listed module."""

    value: int


if os.environ.get("REPERTORY_SIDE_EFFECT_EXIT"):
    raise SystemExit("imported because a peer named it")
