"""Export and import files of the mapping view: the engine makes and checks the documents
(`mapping.export`, `mapping.import`); the console only moves them between the socket and a
file the operator names.

A file is written whole or not at all (a temporary file beside it, then a rename), so an
interrupted export never leaves half a document where a good one was; overwriting an
existing file is the caller's question to ask first.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tbot.reconcile.mapping.documents import MAX_DOCUMENT_BYTES, document_text


class TransferError(Exception):
    """A file that cannot be read or written; the message says which and why."""


def resolve_path(text: str) -> Path:
    """The path the operator typed: `~` expanded, a relative one from the working folder."""
    return Path(text.strip()).expanduser().absolute()


def write_document(path: Path, document: Mapping[str, Any]) -> int:
    """Write `document` to `path` atomically (replacing it); the bytes written."""
    data = document_text(document).encode("utf-8")
    folder = path.parent
    if not folder.is_dir():
        raise TransferError(f"cannot write {path}: the folder {folder} does not exist")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    except OSError as error:
        raise TransferError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise TransferError(f"cannot write {path}: {error.strerror or error}") from None
    return len(data)


def read_document_file(path: Path) -> str:
    """The text of a document file, refusing one larger than any document may be."""
    try:
        size = path.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            raise TransferError(f"{path} is {size:,} bytes: a mapping document is at most "
                                f"{MAX_DOCUMENT_BYTES:,}")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TransferError(f"there is no file {path}") from None
    except UnicodeDecodeError:
        raise TransferError(f"{path} is not a text file (UTF-8)") from None
    except OSError as error:
        raise TransferError(f"cannot read {path}: {error.strerror or error}") from None
