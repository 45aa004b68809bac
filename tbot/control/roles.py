"""Who may use the control socket, and as what: CONTROL_ROLES resolved to uids and gids.

The server learns a peer's uid from the kernel (SO_PEERCRED), so a role is granted to a
uid, never to anything the client claims. Names (``user:alice``, ``group:tbot-ops``) are
resolved once, when the engine starts; an unknown name is a configuration error rather
than a silently dead grant.
"""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Mapping, Sequence
from enum import IntEnum

from tbot.config.setting_types import RoleGrant, UserRole
from tbot.errors import TbotError


class Role(IntEnum):
    """A control-protocol role. Ordered: a higher role may do everything a lower one may."""

    VIEWER = 1
    AUDITOR = 2
    OPERATOR = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        """The role as CONTROL_ROLES and the protocol spell it: ``operator``."""
        return self.name.lower()

    @classmethod
    def from_user_role(cls, role: UserRole) -> Role:
        """The role a CONTROL_ROLES grant names."""
        return cls[role.name]


class RoleConfigError(TbotError):
    """CONTROL_ROLES names a user or group this machine does not know."""


def user_name(uid: int) -> str | None:
    """The login name of `uid`, or None when the account database does not know it."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _resolve_uid(grant: RoleGrant) -> int:
    try:
        return pwd.getpwnam(grant.name).pw_uid
    except KeyError:
        raise RoleConfigError(
            f"CONTROL_ROLES grants {grant.principal}={grant.role.value}, but there is no "
            f"user {grant.name!r} on this machine"
        ) from None


def _resolve_gid(grant: RoleGrant) -> int:
    try:
        return grp.getgrnam(grant.name).gr_gid
    except KeyError:
        raise RoleConfigError(
            f"CONTROL_ROLES grants {grant.principal}={grant.role.value}, but there is no "
            f"group {grant.name!r} on this machine"
        ) from None


def _grant(table: dict[int, Role], key: int, role: Role) -> None:
    # The same uid or gid may be reached twice (uid:0 and user:root): the higher role wins.
    table[key] = max(role, table.get(key, role))


class RoleMap:
    """Roles by uid and by gid. `role_for` gives a peer its highest matching role."""

    def __init__(self, by_uid: Mapping[int, Role], by_gid: Mapping[int, Role]) -> None:
        self._by_uid = dict(by_uid)
        self._by_gid = dict(by_gid)

    @classmethod
    def from_grants(cls, grants: Sequence[RoleGrant], *, owner_uid: int) -> RoleMap:
        """Resolve CONTROL_ROLES. ``@owner`` is `owner_uid` (the uid the engine runs as);
        ``user:`` and ``group:`` names are looked up now. Raises `RoleConfigError` naming
        a user or group that does not exist."""
        by_uid: dict[int, Role] = {}
        by_gid: dict[int, Role] = {}
        for grant in grants:
            role = Role.from_user_role(grant.role)
            if grant.kind == "owner":
                _grant(by_uid, owner_uid, role)
            elif grant.kind == "uid":
                _grant(by_uid, int(grant.name), role)
            elif grant.kind == "user":
                _grant(by_uid, _resolve_uid(grant), role)
            elif grant.kind == "group":
                _grant(by_gid, _resolve_gid(grant), role)
            else:
                raise RoleConfigError(f"CONTROL_ROLES: unknown principal {grant.principal!r}")
        return cls(by_uid, by_gid)

    def role_for(self, uid: int) -> Role | None:
        """The role of a peer running as `uid`, None for no access at all.

        Grants to the uid itself (``uid:``, ``user:``, ``@owner``) and to every group the
        account belongs to (its primary group and supplementary groups) all count; the
        highest wins. A uid unknown to the account database has no groups.
        """
        candidates: list[Role] = []
        if uid in self._by_uid:
            candidates.append(self._by_uid[uid])
        if self._by_gid:
            candidates.extend(self._by_gid[gid] for gid in _groups_of(uid) if gid in self._by_gid)
        return max(candidates, default=None)

    def __repr__(self) -> str:
        return f"RoleMap(by_uid={self._by_uid!r}, by_gid={self._by_gid!r})"


def _groups_of(uid: int) -> list[int]:
    """The gids `uid` belongs to: primary and supplementary, from the account database."""
    try:
        account = pwd.getpwuid(uid)
    except KeyError:
        return []
    try:
        return os.getgrouplist(account.pw_name, account.pw_gid)
    except OSError:
        return [account.pw_gid]
