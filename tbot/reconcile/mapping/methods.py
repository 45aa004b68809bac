"""The `mapping.*` control methods: reads are open to every role; every change (assign,
undo, rule changes, import, activate, rollback) needs admin."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from tbot.control.methods import Caller, MethodSpec, NoParams, RpcError
from tbot.control.roles import Role
from tbot.control.wire import INVALID_PARAMS, REFUSED
from tbot.ledger.errors import LedgerError
from tbot.reconcile.mapping.service import MAX_PAGE, MappingError, MappingService

T = TypeVar("T")


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QueueParams(_Params):
    """`mapping.queue`: a page of items, newest first."""

    state: Literal["queued", "mapped", "settled", "all"] = "queued"
    search: str | None = Field(default=None, max_length=100)
    activity_type: str | None = Field(default=None, max_length=40)
    limit: int = Field(default=100, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0)


class ItemParams(_Params):
    """`mapping.show`."""

    id: int = Field(ge=1)


class RuleParams(_Params):
    """A rule as JSON fields (see docs/protocol.md); the id, debit and credit of a rule
    saved with an assignment come from the assignment."""

    model_config = ConfigDict(extra="allow", frozen=True)


class AssignParams(_Params):
    """`mapping.assign`."""

    id: int = Field(ge=1)
    account: str = Field(min_length=1, max_length=16)
    reason: str = Field(default="", max_length=500)
    save_rule: dict[str, Any] | None = None
    reclassify: bool = False
    dry_run: bool = False


class UndoParams(_Params):
    """`mapping.undo`."""

    id: int = Field(ge=1)
    reason: str = Field(min_length=1, max_length=500)


class VersionParams(_Params):
    """`mapping.rules` / `mapping.export`: a version (default the active one)."""

    version: int | None = Field(default=None, ge=1)


class DiffParams(_Params):
    """`mapping.diff`."""

    a: int = Field(ge=1)
    b: int = Field(ge=1)


class ReplayParams(_Params):
    """`mapping.replay`: a stored version, or a document not imported yet."""

    version: int | None = Field(default=None, ge=1)
    document: str | None = Field(default=None, max_length=5_000_000)


class ChangeParams(_Params):
    """`mapping.activate` / `mapping.rollback`."""

    version: int = Field(ge=1)
    reason: str = Field(min_length=1, max_length=500)


class RuleChangeParams(_Params):
    """`mapping.set_rule`: add (no id) or edit a rule; or enable/disable one by id."""

    reason: str = Field(min_length=1, max_length=500)
    rule: dict[str, Any] | None = None
    rule_id: str | None = Field(default=None, max_length=16)
    enabled: bool | None = None


class PreviewRuleParams(_Params):
    """`mapping.preview_rule`: a rule as `mapping.set_rule` takes it, not saved."""

    rule: dict[str, Any]


class ImportParams(_Params):
    """`mapping.import`: the document's text."""

    document: str = Field(min_length=2, max_length=5_000_000)
    reason: str = Field(default="", max_length=500)


class MappingMethods:
    """Binds the `mapping.*` methods to one bot's mapping service."""

    def __init__(self, service: MappingService) -> None:
        self.service = service

    def specs(self) -> list[MethodSpec]:
        """The method table entries."""
        viewer, admin = Role.VIEWER, Role.ADMIN
        return [
            MethodSpec("mapping.queue", "mapping queue items, newest first, with suggestions",
                       self.queue, QueueParams, viewer, False),
            MethodSpec("mapping.show", "one queue item: record, states, decisions, payload",
                       self.show, ItemParams, viewer, False),
            MethodSpec("mapping.assign", "map a queue item to an account (optionally saving "
                       "a rule)", self.assign, AssignParams, admin, True),
            MethodSpec("mapping.undo", "reverse an item's mapping and queue it again",
                       self.undo, UndoParams, admin, True),
            MethodSpec("mapping.rules", "the rules of a version (default the active one)",
                       self.rules, VersionParams, viewer, False),
            MethodSpec("mapping.set_rule", "add, edit, enable or disable a rule (a new "
                       "version)", self.set_rule, RuleChangeParams, admin, True),
            MethodSpec("mapping.preview_rule", "how many queued items and past decisions a "
                       "rule would match (nothing is saved)", self.preview_rule,
                       PreviewRuleParams, viewer, False),
            MethodSpec("mapping.versions", "every rule-set version, newest first",
                       self.versions, NoParams, viewer, False),
            MethodSpec("mapping.diff", "how version b differs from version a",
                       self.diff, DiffParams, viewer, False),
            MethodSpec("mapping.replay", "what a candidate rule set would decide differently "
                       "over the past decisions", self.replay, ReplayParams, viewer, False),
            MethodSpec("mapping.activate", "make a version active (a new version, copied)",
                       self.activate, ChangeParams, admin, True),
            MethodSpec("mapping.rollback", "roll back to a version (a new version equal "
                       "to it)", self.rollback, ChangeParams, admin, True),
            MethodSpec("mapping.export", "a version as an export document",
                       self.export, VersionParams, viewer, False),
            MethodSpec("mapping.import", "import a document as a candidate version",
                       self.import_, ImportParams, admin, True),
        ]

    async def _call(self, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except MappingError as error:
            raise RpcError(REFUSED, error.message, {"code": error.code}) from None
        except (sqlite3.Error, LedgerError) as error:
            raise RpcError(REFUSED, f"the ledger could not be read: {error}") from None

    async def queue(self, params: QueueParams, caller: Caller) -> dict[str, Any]:
        return await self._call(self.service.queue(
            state=params.state, search=params.search, activity_type=params.activity_type,
            limit=params.limit, offset=params.offset))

    async def show(self, params: ItemParams, caller: Caller) -> dict[str, Any]:
        return await self._call(self.service.show(params.id))

    async def assign(self, params: AssignParams, caller: Caller) -> dict[str, Any]:
        return await self._call(self.service.assign(
            params.id, params.account, actor=f"control:{caller.name}", reason=params.reason,
            save_rule=params.save_rule, reclassify=params.reclassify, dry_run=params.dry_run))

    async def undo(self, params: UndoParams, caller: Caller) -> dict[str, Any]:
        return await self._call(self.service.undo(
            params.id, actor=f"control:{caller.name}", reason=params.reason))

    async def rules(self, params: VersionParams, caller: Caller) -> dict[str, Any]:
        return await self._call(self.service.rules(params.version))

    async def set_rule(self, params: RuleChangeParams, caller: Caller) -> dict[str, Any]:
        return await self._call(self.service.change_rule(
            actor=f"control:{caller.name}", reason=params.reason, rule=params.rule,
            rule_id=params.rule_id, enabled=params.enabled))

    async def preview_rule(self, params: PreviewRuleParams, caller: Caller) -> dict[str, Any]:
        try:
            return await self._call(self.service.preview_rule(params.rule))
        except RpcError as error:
            # An invalid rule is a fault of the parameters, not a refusal of the ledger.
            if isinstance(error.data, dict) and error.data.get("code") == "invalid":
                raise RpcError(INVALID_PARAMS, error.message, error.data) from None
            raise

    async def versions(self, _: NoParams, caller: Caller) -> dict[str, Any]:
        return await self._call(self.service.versions())

    async def diff(self, params: DiffParams, caller: Caller) -> dict[str, Any]:
        return await self._call(self.service.diff(params.a, params.b))

    async def replay(self, params: ReplayParams, caller: Caller) -> dict[str, Any]:
        return await self._call(self.service.replay(version=params.version,
                                                    document=params.document))

    async def activate(self, params: ChangeParams, caller: Caller) -> dict[str, Any]:
        return await self._call(self.service.activate(
            params.version, actor=f"control:{caller.name}", reason=params.reason))

    async def rollback(self, params: ChangeParams, caller: Caller) -> dict[str, Any]:
        return await self._call(self.service.rollback(
            params.version, actor=f"control:{caller.name}", reason=params.reason))

    async def export(self, params: VersionParams, caller: Caller) -> dict[str, Any]:
        return await self._call(self.service.export(params.version))

    async def import_(self, params: ImportParams, caller: Caller) -> dict[str, Any]:
        return await self._call(self.service.import_document(
            params.document, actor=f"control:{caller.name}", reason=params.reason))
