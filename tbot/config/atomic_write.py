"""Writing a file so that a reader, or a crash, sees either the old content or the new one.

The data goes to a temporary file in the target's own directory (a rename is only atomic
within one file system), is flushed and fsynced, then renamed over the target; the
directory is fsynced last so the rename itself survives a power cut. The temporary file is
created with its final mode, so a secret is never briefly readable by others.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def fsync_dir(directory: Path) -> None:
    """Make the entries of `directory` (creations, renames, deletions) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_missing_dirs(directory: Path, mode: int,
                      set_mode: Callable[[Path], None] | None = None) -> None:
    """Create `directory` and any missing parents with `mode`, each made durable in its
    parent; existing ones are left as they are. `set_mode(folder)` fixes each new folder's
    mode (and group) afterwards, the umask having maybe narrowed it (default: chmod to
    `mode`). `Path.mkdir(parents=True)` would give new parents the default mode instead."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for new_dir in reversed(missing):
        try:
            os.mkdir(new_dir, mode)
        except FileExistsError:
            continue  # created meanwhile by someone else: fine, it exists
        if set_mode is None:
            os.chmod(new_dir, mode)
        else:
            set_mode(new_dir)
        fsync_dir(new_dir.parent)


def ensure_private_dir(directory: Path) -> None:
    """Create `directory` and any missing parents with mode 0700 (see `make_missing_dirs`)."""
    make_missing_dirs(directory, PRIVATE_DIR_MODE)


def _temp_path_beside(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = PRIVATE_FILE_MODE) -> None:
    """Replace `path` with `data` atomically and durably; the file ends with `mode`.

    On any failure the temporary file is removed and `path` keeps its previous content.
    """
    path = Path(path)
    ensure_private_dir(path.parent)
    temp = _temp_path_beside(path)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            os.fchmod(fd, mode)  # exactly `mode`, whatever the umask removed
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
