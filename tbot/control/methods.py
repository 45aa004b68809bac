"""What the engine hands the control server: its methods, and what a handler receives.

A handler is ``async def handler(params: SomeParamsModel, caller: Caller) -> object``. It
gets params already validated by its pydantic model and a caller whose role already
allows the call; it returns anything `wire.to_json_ready` can send, or raises `RpcError`
with one of the codes of `tbot.control.wire` (e.g. ``REFUSED`` while halted).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from tbot.control.roles import Role, user_name


@dataclass(frozen=True)
class Caller:
    """The peer of one connection, as the kernel reports it (SO_PEERCRED), and its role."""

    uid: int
    gid: int
    pid: int
    role: Role
    name: str

    @classmethod
    def from_peer(cls, uid: int, gid: int, pid: int, role: Role) -> Caller:
        """A caller named ``alice(uid=1001)`` (``uid=1001`` alone when the account database
        does not know the uid)."""
        login = user_name(uid)
        name = f"{login}(uid={uid})" if login else f"uid={uid}"
        return cls(uid=uid, gid=gid, pid=pid, role=role, name=name)


class RpcError(Exception):
    """A JSON-RPC error a handler returns to the caller: `code` from `tbot.control.wire`,
    a message for a person, and optional JSON-ready `data`."""

    def __init__(self, code: int, message: str, data: object = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def __str__(self) -> str:
        return f"{self.message} ({self.code})"


class NoParams(BaseModel):
    """The params model of a method that takes none (an absent or empty ``params``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# The first argument is an instance of the method's own params model; typed Any so a handler
# can annotate its concrete model without fighting parameter contravariance.
Handler = Callable[[Any, Caller], Awaitable[object]]


@dataclass(frozen=True)
class MethodSpec:
    """One control method: its name, a one-line summary for people, the handler, the
    pydantic model of its params (``extra="forbid"``), the lowest role that may call it,
    and whether it changes state (those are audited and run one at a time)."""

    name: str
    summary: str
    handler: Handler
    params: type[BaseModel]
    min_role: Role
    changes_state: bool

    def __post_init__(self) -> None:
        if not self.name or not self.summary:
            raise ValueError("a method needs a name and a summary")
        # A misspelt parameter must be an error, not silently ignored: fail closed.
        if self.params.model_config.get("extra") != "forbid":
            raise ValueError(
                f"the params model of {self.name} must forbid unknown fields (extra='forbid')"
            )
