"""Each package's `__all__` is exactly what it exports, as anyio checks its own."""

from __future__ import annotations
import __future__

import importlib
import inspect
import subprocess
import sys
from types import ModuleType

import pytest

PACKAGES = ["actors", "actors.lowlevel", "actors.routing", "runtime", "supervisors"]


def exported(module: ModuleType) -> set[str]:
    """Public names bound in `module`, less what Python binds by itself: the
    `annotations` feature of ``from __future__ import annotations`` and submodules that
    were merely imported (a submodule is public only when `__all__` lists it)."""
    names = set()
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, __future__._Feature):
            continue
        if inspect.ismodule(value) and name not in module.__all__:
            continue
        names.add(name)
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_all_equals_the_public_names(package: str) -> None:
    module = importlib.import_module(package)
    assert isinstance(module.__all__, tuple)
    assert len(set(module.__all__)) == len(module.__all__), "a name is listed twice"
    assert set(module.__all__) == exported(module)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_listed_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name


def test_the_documented_names_are_exported() -> None:
    import actors
    import runtime

    for name in (
        "Actor", "ActorRef", "Context", "Mailbox", "Terminated", "DeadLetter", "Cancel",
        "Reply", "ActorError", "AskTimeoutError", "ActorStoppedError", "ActorCrashedError",
        "ActorUnavailableError", "MailboxFullError", "NameTakenError", "NodeDownError",
        "SerializationError", "AuthenticationError", "errors",
    ):
        assert name in actors.__all__, name
    assert "ActorSystem" in runtime.__all__


def test_actors_imports_nothing_of_runtime_or_supervisors() -> None:
    code = (
        "import sys, actors, actors.errors, actors.mailbox, actors.messages; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('runtime', 'supervisors')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# -- class surfaces: what a user can reach on the handles, against DESIGN.md and docs/ --

SYSTEM_SURFACE = {
    "address", "cluster", "clustered", "dead_letters", "exchange", "fail", "failure",
    "lookup", "name", "registry", "snapshot", "spawn", "spawn_pool", "start", "stop",
    "streams", "topics", "wait_stopped",
}
CONTEXT_SURFACE = {
    "become", "children", "parent", "ref", "reply_later", "send_after", "sender", "spawn",
    "spawn_pool", "stash", "stop", "system", "unbecome", "unstash_all", "unwatch", "watch",
}
REF_SURFACE = {"address", "ask", "is_alive", "name", "send", "tell", "tell_many"}


def public(names: object) -> set[str]:
    return {name for name in dir(names) if not name.startswith("_")}


def test_actor_system_exposes_exactly_the_documented_api() -> None:
    from runtime import ActorSystem

    assert public(ActorSystem) | public(ActorSystem("surface")) == SYSTEM_SURFACE


async def test_a_running_system_exposes_nothing_more(anyio_backend: str) -> None:
    from runtime import ActorSystem

    async with ActorSystem("surface") as system:
        assert public(system) == SYSTEM_SURFACE


def test_context_and_actor_ref_expose_exactly_the_documented_api() -> None:
    import actors

    assert public(actors.Context) == CONTEXT_SURFACE
    assert public(actors.ActorRef) == REF_SURFACE
