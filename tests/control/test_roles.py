"""CONTROL_ROLES resolved to uids and gids: who gets which role, and who gets none."""

from __future__ import annotations

import grp
import pwd

import pytest

from tbot.config.setting_types import RoleGrant, UserRole, parse_role_grants
from tbot.control.roles import Role, RoleConfigError, RoleMap

ROOT_UID = 0
ROOT_GID = 0
OWNER_UID = 4242  # the engine's own uid in these tests
NOBODY_HERE = 54321  # a uid with no account on this machine


def _unused_name(prefix: str, taken: set[str]) -> str:
    name = prefix
    while name in taken:
        name += "x"
    return name


def test_roles_are_ordered_so_higher_includes_lower() -> None:
    assert Role.VIEWER < Role.AUDITOR < Role.OPERATOR < Role.ADMIN
    assert Role.from_user_role(UserRole.OPERATOR) is Role.OPERATOR
    assert Role.AUDITOR.label == "auditor"


def test_owner_is_the_engines_own_uid() -> None:
    roles = RoleMap.from_grants(parse_role_grants("@owner=admin"), owner_uid=OWNER_UID)
    assert roles.role_for(OWNER_UID) is Role.ADMIN
    assert roles.role_for(NOBODY_HERE) is None


def test_uid_grant() -> None:
    roles = RoleMap.from_grants(parse_role_grants("uid:54321=viewer"), owner_uid=OWNER_UID)
    assert roles.role_for(NOBODY_HERE) is Role.VIEWER
    assert roles.role_for(OWNER_UID) is None


def test_user_name_resolves_to_its_uid() -> None:
    roles = RoleMap.from_grants(parse_role_grants("user:root=auditor"), owner_uid=OWNER_UID)
    assert roles.role_for(ROOT_UID) is Role.AUDITOR


def test_group_grant_reaches_members_through_their_primary_group() -> None:
    assert pwd.getpwuid(ROOT_UID).pw_gid == ROOT_GID
    roles = RoleMap.from_grants(parse_role_grants("group:root=operator"), owner_uid=OWNER_UID)
    assert roles.role_for(ROOT_UID) is Role.OPERATOR
    assert roles.role_for(NOBODY_HERE) is None  # no account, so no groups


def _supplementary_member() -> tuple[int, str] | None:
    """(uid, group name) of some account that is a supplementary member of a group."""
    for group in grp.getgrall():
        for member in group.gr_mem:
            try:
                account = pwd.getpwnam(member)
            except KeyError:
                continue
            if account.pw_gid != group.gr_gid:
                return account.pw_uid, group.gr_name
    return None


def test_group_grant_reaches_supplementary_members() -> None:
    found = _supplementary_member()
    if found is None:
        pytest.skip("no account on this machine is a supplementary member of a group")
    uid, group = found
    roles = RoleMap.from_grants((RoleGrant("group", group, UserRole.VIEWER),), owner_uid=OWNER_UID)
    assert roles.role_for(uid) is Role.VIEWER


def test_the_highest_matching_role_wins() -> None:
    grants = parse_role_grants("uid:0=viewer,group:root=operator,user:root=auditor")
    assert RoleMap.from_grants(grants, owner_uid=OWNER_UID).role_for(ROOT_UID) is Role.OPERATOR
    grants = parse_role_grants("@owner=admin,uid:0=viewer")
    assert RoleMap.from_grants(grants, owner_uid=ROOT_UID).role_for(ROOT_UID) is Role.ADMIN


def test_unknown_user_name_is_a_configuration_error_naming_it() -> None:
    name = _unused_name("nosuchuser", {entry.pw_name for entry in pwd.getpwall()})
    with pytest.raises(RoleConfigError, match=f"user '{name}'") as caught:
        RoleMap.from_grants(parse_role_grants(f"user:{name}=viewer"), owner_uid=OWNER_UID)
    assert f"user:{name}=viewer" in caught.value.message
    assert caught.value.exit_code == 2


def test_unknown_group_name_is_a_configuration_error_naming_it() -> None:
    name = _unused_name("nosuchgroup", {entry.gr_name for entry in grp.getgrall()})
    with pytest.raises(RoleConfigError, match=f"group '{name}'"):
        RoleMap.from_grants(parse_role_grants(f"group:{name}=viewer"), owner_uid=OWNER_UID)
