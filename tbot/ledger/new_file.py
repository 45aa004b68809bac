"""Creating a new SQLite file all at once: built under a temporary name, then linked into
place only if nothing is there, so a failure never leaves a half-made file and an existing
file is never overwritten."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from peewee import SqliteDatabase

from tbot.ledger.database import create_database
from tbot.ledger.errors import LedgerFileError


def build_new_file(
    path: Path, what: str, *, wal: bool, build: Callable[[SqliteDatabase], None]
) -> None:
    """Create `path` by running `build` on a fresh database; refuse if `path` exists."""
    if path.exists():
        raise LedgerFileError(f"{what} {path} already exists; it is never overwritten")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                              suffix=".new")
    os.close(handle)
    temporary = Path(temporary_name)
    try:
        database = create_database(temporary, wal=wal)
        try:
            with database.atomic():
                build(database)
        finally:
            database.close()  # the last close checkpoints and removes -wal / -shm
        try:
            os.link(temporary, path)  # fails if `path` appeared meanwhile: no overwrite
        except FileExistsError:
            raise LedgerFileError(
                f"{what} {path} already exists; it is never overwritten"
            ) from None
    finally:
        for leftover in (temporary, Path(f"{temporary}-wal"), Path(f"{temporary}-shm")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
