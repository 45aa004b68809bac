"""Backup files and folders written durably, with the modes the home's operators get.

Every file is written under a `.partial` name, fsynced, renamed into place and its folder
fsynced, so a crash (SIGKILL, power loss) leaves either the whole file or a `.partial`
that the next writer removes; never a half file under the real name.

Modes: files 0640 and folders 0750 (set exactly, whatever the umask), given the group of
the bot home directory when that differs from ours and we may (`chown` to a group we
belong to). The home's group is how a home "says" who its operators are: operations
creates the home `tbot:tbot` (docs/operations.md); there is no separate setting.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from tbot.config.atomic_write import fsync_dir
from tbot.ledger.file_modes import (
    OPERATOR_DIR_MODE,
    OPERATOR_FILE_MODE,
    give_to_operators,
    home_group,
    make_operator_dirs,
)

# The modes and group helpers are shared with new ledger files (`tbot.ledger.file_modes`).
BACKUP_FILE_MODE = OPERATOR_FILE_MODE
"""Backup files: the owner writes, the operators' group reads, others nothing."""
BACKUP_DIR_MODE = OPERATOR_DIR_MODE
PARTIAL_SUFFIX = ".partial"
__all__ = ["BACKUP_DIR_MODE", "BACKUP_FILE_MODE", "give_to_operators", "home_group"]


def make_dirs(path: Path, gid: int | None) -> None:
    """Create `path` and missing parents as 0750 folders of the operators' group."""
    make_operator_dirs(path, gid)


def fsync_file(path: Path) -> None:
    """Flush `path`'s content to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_durably(path: Path, data: bytes, gid: int | None) -> None:
    """Write `data` to the new file `path` (0640): under `.partial`, fsynced, renamed,
    folder fsynced. On failure (a full disk...) the partial file is removed and `path`
    does not exist."""
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()  # left by a crash mid-write
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, BACKUP_FILE_MODE)
    try:
        try:
            os.fchmod(descriptor, BACKUP_FILE_MODE)
            if gid is not None:
                with contextlib.suppress(PermissionError):
                    os.fchown(descriptor, -1, gid)
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view):]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    fsync_dir(path.parent)


@contextlib.contextmanager
def exclusive_lock(lock_file: Path, gid: int | None, *, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive `flock` on `lock_file` for the block; yields False (without the
    lock) when `wait` is False and someone else holds it."""
    make_dirs(lock_file.parent, gid)
    descriptor = os.open(lock_file, os.O_RDWR | os.O_CREAT, BACKUP_FILE_MODE)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)
