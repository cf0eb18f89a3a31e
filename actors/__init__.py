"""The actor model users write against: `Actor`, `ActorRef`, `Context`, mailboxes, errors.

This package imports nothing of `runtime` or `supervisors`; `runtime.ActorSystem` runs
what is written here.
"""

from __future__ import annotations

from actors import errors as errors
from actors._actor import Actor as Actor
from actors._context import ActorFactory as ActorFactory
from actors._context import Cancel as Cancel
from actors._context import Context as Context
from actors._context import Reply as Reply
from actors._context import SpawnSpec as SpawnSpec
from actors._ref import ActorRef as ActorRef
from actors.errors import ActorCrashedError as ActorCrashedError
from actors.errors import ActorError as ActorError
from actors.errors import ActorStoppedError as ActorStoppedError
from actors.errors import ActorUnavailableError as ActorUnavailableError
from actors.errors import AskTimeoutError as AskTimeoutError
from actors.errors import AuthenticationError as AuthenticationError
from actors.errors import MailboxFullError as MailboxFullError
from actors.errors import NameTakenError as NameTakenError
from actors.errors import NodeDownError as NodeDownError
from actors.errors import SerializationError as SerializationError
from actors.errors import StreamCorruptError as StreamCorruptError
from actors.errors import UnroutableError as UnroutableError
from actors.mailbox import Mailbox as Mailbox
from actors.messages import DeadLetter as DeadLetter
from actors.messages import StreamEntry as StreamEntry
from actors.messages import Terminated as Terminated

__all__ = (
    "Actor",
    "ActorCrashedError",
    "ActorError",
    "ActorFactory",
    "ActorRef",
    "ActorStoppedError",
    "ActorUnavailableError",
    "AskTimeoutError",
    "AuthenticationError",
    "Cancel",
    "Context",
    "DeadLetter",
    "Mailbox",
    "MailboxFullError",
    "NameTakenError",
    "NodeDownError",
    "Reply",
    "SerializationError",
    "SpawnSpec",
    "StreamCorruptError",
    "StreamEntry",
    "Terminated",
    "UnroutableError",
    "errors",
)
