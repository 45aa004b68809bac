"""One archived file on disk: compressed, encrypted in frames, written atomically.

Format (`.tbarc`):

    b"TBOTARC1\\n"
    frame*   where frame = 4-byte big-endian length + one Fernet token

Each token's plaintext is one flag byte (`0x00` more frames follow, `0x01` the last frame)
followed by up to `FRAME_BYTES` of the gzip stream of the content. Why frames: Fernet
encrypts a whole message in memory, and a ledger backup set weighs up to a gigabyte; frames
keep memory flat while each frame stays authenticated. The last-frame flag is inside the
encryption, so a file cut at a frame boundary is refused like one cut mid-frame.

A file is built under `.partial`, fsynced, renamed into place and its folder fsynced (the
same rule as the ledger's backups): a crash leaves the whole file or a `.partial`.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from cryptography.fernet import Fernet, InvalidToken

from tbot.config.atomic_write import fsync_dir
from tbot.errors import TbotError
from tbot.ledger.file_modes import OPERATOR_FILE_MODE

MAGIC = b"TBOTARC1\n"
FRAME_BYTES = 4 << 20
"""Plaintext bytes per frame (of the gzip stream): 4 MiB."""
_MORE, _LAST = b"\x00", b"\x01"
_LENGTH = struct.Struct(">I")
_MAX_TOKEN = 64 << 20  # a length beyond this is damage, not a frame
PARTIAL_SUFFIX = ".partial"


class ArchiveError(TbotError):
    """The archive cannot do what was asked (the message says why)."""


class SealedFileDamaged(ArchiveError):
    """A sealed file cannot be read back: altered, truncated, or sealed with another key."""

    exit_code = 1

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path.name}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class SealedFacts:
    """What sealing a file produced: the stored file's size and SHA-256 (checkable without
    the key), and the content's size and SHA-256 (checked after decryption)."""

    stored_bytes: int
    stored_sha256: str
    content_bytes: int
    content_sha256: str


class _FrameWriter(io.RawIOBase):
    """A write-only stream that encrypts what gzip writes into frames on `target`."""

    def __init__(self, target: io.BufferedWriter, fernet: Fernet, digest: hashlib._Hash) -> None:
        self._target, self._fernet, self._digest = target, fernet, digest
        self._pending = bytearray()
        self.stored = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._pending += data
        while len(self._pending) > FRAME_BYTES:
            self._emit(_MORE + bytes(self._pending[:FRAME_BYTES]))
            del self._pending[:FRAME_BYTES]
        return len(data)

    def finish(self) -> None:
        """Write the last frame (possibly empty)."""
        self._emit(_LAST + bytes(self._pending))
        self._pending.clear()

    def _emit(self, plaintext: bytes) -> None:
        token = self._fernet.encrypt(plaintext)
        framed = _LENGTH.pack(len(token)) + token
        self._target.write(framed)
        self._digest.update(framed)
        self.stored += len(framed)


class _ContentWriter(io.RawIOBase):
    """The stream a sealer writes content to: counted, hashed, then gzip-compressed."""

    def __init__(self, packed: gzip.GzipFile) -> None:
        self._packed = packed
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self.digest.update(data)
        self.size += len(data)
        self._packed.write(data)
        return len(data)


def seal_stream(write_content: Callable[[BinaryIO], None], target: Path, fernet: Fernet, *,
                gid: int | None = None, level: int = 6) -> SealedFacts:
    """Seal what `write_content` writes to the stream it is given into the new file
    `target` (replaced if it exists). On any failure nothing is left under `target`'s name.
    """
    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    stored_digest = hashlib.sha256(MAGIC)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OPERATOR_FILE_MODE)
    try:
        os.fchmod(descriptor, OPERATOR_FILE_MODE)
        if gid is not None:
            with contextlib.suppress(PermissionError):
                os.fchown(descriptor, -1, gid)
        with os.fdopen(descriptor, "wb", closefd=False) as raw:
            raw.write(MAGIC)
            frames = _FrameWriter(raw, fernet, stored_digest)
            # mtime=0: the same content seals to the same gzip stream.
            with gzip.GzipFile(fileobj=frames, mode="wb", compresslevel=level, mtime=0) as packed:
                content = _ContentWriter(packed)
                write_content(cast(BinaryIO, content))
            frames.finish()
            raw.flush()
            os.fsync(descriptor)
        os.close(descriptor)
        descriptor = -1
        os.replace(partial, target)
    except BaseException:
        if descriptor >= 0:
            os.close(descriptor)
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    fsync_dir(target.parent)
    return SealedFacts(len(MAGIC) + frames.stored, stored_digest.hexdigest(),
                       content.size, content.digest.hexdigest())


def seal_chunks(chunks: Iterable[bytes], target: Path, fernet: Fernet, *,
                gid: int | None = None) -> SealedFacts:
    """Seal the content given as `chunks` into `target`."""
    def write(out: BinaryIO) -> None:
        for chunk in chunks:
            out.write(chunk)
    return seal_stream(write, target, fernet, gid=gid)


def seal_file(source: Path, target: Path, fernet: Fernet, *, gid: int | None = None
              ) -> SealedFacts:
    """Seal the file `source` into `target`."""
    def write(out: BinaryIO) -> None:
        with source.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                out.write(chunk)
    return seal_stream(write, target, fernet, gid=gid)


def open_sealed(path: Path, fernet: Fernet) -> Iterator[bytes]:
    """The content of the sealed file `path`, in chunks, decrypted and decompressed.

    SealedFileDamaged (naming the file) when it is not a sealed file, a frame does not
    decrypt (altered, or another key), the file ends before its last frame, or bytes
    follow the last frame.
    """
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    with path.open("rb") as stream:
        if stream.read(len(MAGIC)) != MAGIC:
            raise SealedFileDamaged(path, "not a tbot archive file (its first bytes differ)")
        last = False
        while not last:
            header = stream.read(_LENGTH.size)
            if len(header) < _LENGTH.size:
                raise SealedFileDamaged(path, "truncated: it ends before its last frame")
            (length,) = _LENGTH.unpack(header)
            if length > _MAX_TOKEN:
                raise SealedFileDamaged(path, f"damaged: a frame claims {length:,} bytes")
            token = stream.read(length)
            if len(token) < length:
                raise SealedFileDamaged(path, "truncated: it ends inside a frame")
            try:
                plaintext = fernet.decrypt(token)
            except InvalidToken:
                raise SealedFileDamaged(
                    path, "a frame does not decrypt: altered, or sealed with another key"
                ) from None
            flag, body = plaintext[:1], plaintext[1:]
            if flag not in (_MORE, _LAST):
                raise SealedFileDamaged(path, "damaged: a frame has no valid flag")
            last = flag == _LAST
            try:
                content = inflater.decompress(body)
            except zlib.error as problem:
                raise SealedFileDamaged(path, f"its compressed content is damaged: {problem}"
                                        ) from None
            if content:
                yield content
        if stream.read(1):
            raise SealedFileDamaged(path, "bytes follow its last frame")
    if not inflater.eof:
        raise SealedFileDamaged(path, "its compressed content ends early")
    rest = inflater.flush()
    if rest:
        yield rest


def stored_sha256(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of the stored (encrypted) file: checkable without the key."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
