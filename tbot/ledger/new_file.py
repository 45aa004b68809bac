"""Creating a new SQLite file all at once: built under a temporary name, then linked into
place only if nothing is there, so a failure never leaves a half-made file and an existing
file is never overwritten.

A new file is 0640 with the operators' group (the bot home directory's group, as for
backups): the console and auditors read ledgers; only the engine's user writes them.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from peewee import SqliteDatabase

from tbot.ledger.database import create_database
from tbot.ledger.errors import LedgerFileError
from tbot.ledger.file_modes import OPERATOR_FILE_MODE, give_to_operators, home_group

LEDGER_FILE_MODE = OPERATOR_FILE_MODE
"""Ledger and chart-of-accounts files: the owner writes, the operators' group reads."""


def build_new_file(
    path: Path,
    what: str,
    *,
    wal: bool,
    build: Callable[[SqliteDatabase], None],
    home: Path | None = None,
) -> None:
    """Create `path` by running `build` on a fresh database; refuse if `path` exists.

    The file is created 0640 with the group of `home` (the bot home directory; without it,
    of the folder the file goes in) when we may give it that group.
    """
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
        # mkstemp made it 0600; set the mode before the link so it is never seen otherwise
        # (SQLite gives -wal and -shm files the mode of their database).
        give_to_operators(
            temporary, home_group(home if home is not None else path.parent), LEDGER_FILE_MODE
        )
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
