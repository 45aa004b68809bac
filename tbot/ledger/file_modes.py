"""The modes and group the home's operators get on ledger files, backups and archives.

Files 0640 and folders 0750 (set exactly, whatever the umask), given the group of the bot
home directory when that differs from ours and we may (`chown` to a group we belong to).
The home's group is how a home "says" who its operators are: operations creates the home
`tbot:tbot` (docs/operations.md); there is no separate setting. Key files are not here:
they stay 0600 (`tbot.config.encrypted_files`).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from tbot.config.atomic_write import make_missing_dirs

OPERATOR_FILE_MODE = 0o640
"""Ledger, backup and archive files: the owner writes, the operators' group reads."""
OPERATOR_DIR_MODE = 0o750
"""Their folders: the owner writes, the operators' group lists and enters."""


def home_group(home: Path) -> int | None:
    """The group of the bot home directory (the operators' group), or None if unknown."""
    try:
        return home.stat().st_gid
    except OSError:
        return None


def give_to_operators(path: Path, gid: int | None, mode: int) -> None:
    """Set `path` to exactly `mode` and, if allowed, to group `gid`."""
    os.chmod(path, mode)
    if gid is not None and path.stat().st_gid != gid:
        # Only a group we belong to (or root) is allowed: otherwise keep ours.
        with contextlib.suppress(PermissionError):
            os.chown(path, -1, gid)


def make_operator_dirs(path: Path, gid: int | None) -> None:
    """Create `path` and its missing parents as 0750 folders of the operators' group,
    each made durable in its parent."""
    make_missing_dirs(path, OPERATOR_DIR_MODE,
                      lambda folder: give_to_operators(folder, gid, OPERATOR_DIR_MODE))
