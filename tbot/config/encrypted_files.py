"""Fernet-encrypted files and the key files that open them.

File format (UTF-8/ASCII, two lines)::

    tbot-fernet v1 key=<fingerprint>
    <Fernet token>

`<fingerprint>` is the first 16 hex digits of HMAC-SHA256(raw key, b"tbot key id"): it names
the key without revealing it. With it a file opened with the WRONG key (fingerprints differ)
is told apart from a file ALTERED after encryption (fingerprints match, Fernet's HMAC fails).
The token is standard Fernet (url-safe base64 of version, timestamp, IV, AES-CBC ciphertext,
HMAC-SHA256), so the payload can also be opened with any Fernet implementation.

A key file holds one Fernet key (url-safe base64 of 32 bytes) and a newline, mode 0600.
During a key rotation the next key sits beside it at `<key file>.next`
(`pending_key_path`); `decrypt_file` accepts it for files whose header names it, so a
rotation interrupted at any point leaves every file readable.

Plaintext only ever lives in memory. No error message here contains key material or
plaintext: they name the file, the key fingerprints and what to do.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from tbot.config.atomic_write import (
    PRIVATE_FILE_MODE,
    atomic_write_bytes,
    ensure_private_dir,
    fsync_dir,
)
from tbot.errors import TbotError

log = logging.getLogger(__name__)

HEADER_PREFIX = b"tbot-fernet v1 key="
PENDING_KEY_SUFFIX = ".next"
_FINGERPRINT_LABEL = b"tbot key id"
_FINGERPRINT_RE = re.compile(rb"[0-9a-f]{16}")
_TOKEN_RE = re.compile(rb"[A-Za-z0-9_-]+={0,2}")
# Fernet token layout: version(1) + timestamp(8) + IV(16) + ciphertext(16*n, n>=1) + HMAC(32).
_FERNET_VERSION = 0x80
_FERNET_OVERHEAD = 1 + 8 + 16 + 32
_AES_BLOCK = 16


class CryptoError(TbotError):
    """A key or encrypted file that cannot be used. Never carries key material or plaintext."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


class KeyFileMissingError(CryptoError):
    """The key file does not exist."""


class KeyFilePermissionError(CryptoError):
    """The key file is readable or writable by group or others."""


class InvalidKeyFileError(CryptoError):
    """The key file does not hold a Fernet key."""


class EncryptedFileMissingError(CryptoError):
    """The encrypted file does not exist."""


class CorruptEncryptedFileError(CryptoError):
    """The file is not in tbot's encrypted format: bad header, bad base64, truncated token."""


class WrongKeyError(CryptoError):
    """The file was encrypted with a different key than the one given."""


class TamperedFileError(CryptoError):
    """The key is right but the file's authentication check fails: altered after encryption."""


def generate_key() -> bytes:
    """A new random Fernet key (url-safe base64 of 32 random bytes)."""
    return Fernet.generate_key()


def key_fingerprint(key: bytes) -> str:
    """A short, non-reversible id of `key`: 16 hex digits of HMAC-SHA256(key, label)."""
    raw = base64.urlsafe_b64decode(key)
    return hmac.new(raw, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]


def pending_key_path(key_path: Path) -> Path:
    """Where a rotation stages the next key of `key_path` before promoting it."""
    return key_path.with_name(key_path.name + PENDING_KEY_SUFFIX)


def is_fernet_key(key: bytes) -> bool:
    """Whether `key` is a usable Fernet key (url-safe base64 of 32 bytes)."""
    try:
        Fernet(key)
    except (ValueError, TypeError, binascii.Error):
        return False
    return True


def create_key_file(path: Path) -> bytes:
    """Create `path` holding a new random key (mode 0600, directory 0700) and return the key.

    Refuses to overwrite an existing file: a lost key makes its files unreadable.
    """
    path = Path(path)
    ensure_private_dir(path.parent)
    key = generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        raise CryptoError(
            f"key file {path} already exists; refusing to overwrite it "
            "(use `tbot keys rotate` to replace keys)",
            path,
        ) from None
    try:
        try:
            os.fchmod(fd, PRIVATE_FILE_MODE)
            os.write(fd, key + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        path.unlink(missing_ok=True)  # never leave a half-written key behind
        raise
    fsync_dir(path.parent)
    return key


def read_key(path: Path) -> bytes:
    """The key in `path`, after checking the file exists, is private (no group/other bits)
    and holds a valid Fernet key."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise KeyFileMissingError(
            f"key file {path} not found; restore it from storage/backups/keys/ "
            "or re-create the secrets it opens",
            path,
        ) from None
    except OSError as error:
        raise CryptoError(f"cannot read key file {path} ({error.strerror})", path) from None
    if not stat.S_ISREG(info.st_mode):
        raise InvalidKeyFileError(f"key file {path} is not a regular file", path)
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise KeyFilePermissionError(
            f"key file {path} has mode {mode:04o}: a key must be readable by its owner only; "
            f"fix it with: chmod 600 {path}",
            path,
        )
    try:
        key = path.read_bytes().strip()
    except OSError as error:
        raise CryptoError(
            f"cannot read key file {path} ({error.strerror}); check its owner and mode", path
        ) from None
    if not is_fernet_key(key):
        raise InvalidKeyFileError(
            f"key file {path} does not hold a Fernet key (url-safe base64 of 32 bytes); "
            "restore it from storage/backups/keys/",
            path,
        )
    return key


def encrypt_bytes(plaintext: bytes, key: bytes) -> bytes:
    """`plaintext` encrypted with `key`, as the full file content (header and token)."""
    token = Fernet(key).encrypt(plaintext)
    return HEADER_PREFIX + key_fingerprint(key).encode() + b"\n" + token + b"\n"


def _decode_token(token: bytes) -> bytes | None:
    """The raw bytes of a url-safe base64 token, or None if it is not one."""
    if not _TOKEN_RE.fullmatch(token):
        return None
    try:
        return base64.urlsafe_b64decode(token)
    except (ValueError, binascii.Error):
        return None


def _split(blob: bytes, source: str) -> tuple[str, bytes]:
    """The header's fingerprint and the checked token of `blob`."""
    header, newline, rest = blob.partition(b"\n")
    if not newline or not header.startswith(HEADER_PREFIX):
        raise CorruptEncryptedFileError(
            f"{source} is not a tbot encrypted file (its first line is not a "
            f"'{HEADER_PREFIX.decode()}<key id>' header); restore it from a backup or "
            "re-create it"
        )
    fingerprint = header[len(HEADER_PREFIX) :].strip()
    if not _FINGERPRINT_RE.fullmatch(fingerprint):
        raise CorruptEncryptedFileError(
            f"{source} has a damaged header (the key id is not 16 hex digits); "
            "restore it from a backup or re-create it"
        )
    token = rest.strip()
    raw = _decode_token(token)
    if raw is None:
        raise CorruptEncryptedFileError(
            f"{source} is damaged: its token is not valid base64 (truncated or edited?); "
            "restore it from a backup or re-create it"
        )
    body = len(raw) - _FERNET_OVERHEAD
    if raw[:1] != bytes([_FERNET_VERSION]) or body < _AES_BLOCK or body % _AES_BLOCK:
        raise CorruptEncryptedFileError(
            f"{source} is damaged: its token has the wrong length or version (truncated?); "
            "restore it from a backup or re-create it"
        )
    return fingerprint.decode(), token


def header_fingerprint(blob: bytes, *, source: str) -> str:
    """The fingerprint of the key `blob` says it was encrypted with (blob fully checked)."""
    return _split(blob, source)[0]


def _decrypt(blob: bytes, candidates: Sequence[tuple[str, bytes]], source: str) -> bytes:
    """Decrypt with whichever of the labelled `candidates` the header names."""
    wanted, token = _split(blob, source)
    for label, key in candidates:
        if key_fingerprint(key) == wanted:
            try:
                plaintext = Fernet(key).decrypt(token)
            except InvalidToken:
                raise TamperedFileError(
                    f"{source} fails its integrity check although {label} is the key it was "
                    "encrypted with: it was altered after encryption. Restore it from a "
                    "backup or re-create it"
                ) from None
            log.debug("decrypted %s with key %s", source, wanted)
            return plaintext
    offered = ", ".join(f"{label} is key {key_fingerprint(key)}" for label, key in candidates)
    raise WrongKeyError(
        f"{source} was encrypted with key {wanted}, but {offered or 'no key was given'}; "
        "use the matching key (see storage/backups/keys/) or re-create the file"
    )


def decrypt_bytes(blob: bytes, keys: Sequence[bytes], *, source: str) -> bytes:
    """Decrypt a file's content with whichever of `keys` its header names.

    `source` names the content in error messages (usually its path).
    """
    return _decrypt(blob, [(f"given key #{n}", key) for n, key in enumerate(keys, 1)], source)


def _read_encrypted(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise EncryptedFileMissingError(
            f"encrypted file {path} not found; create it (or restore it from a backup)", path
        ) from None
    except OSError as error:
        raise CryptoError(
            f"cannot read encrypted file {path} ({error.strerror}); check its owner and mode",
            path,
        ) from None


def file_key_fingerprint(path: Path) -> str:
    """The fingerprint of the key the encrypted file at `path` names in its header."""
    path = Path(path)
    return header_fingerprint(_read_encrypted(path), source=str(path))


def write_encrypted(path: Path, plaintext: bytes, key_path: Path) -> None:
    """Encrypt `plaintext` with the key in `key_path` and write it atomically, mode 0600."""
    atomic_write_bytes(Path(path), encrypt_bytes(plaintext, read_key(key_path)))


def decrypt_file(path: Path, key_path: Path) -> bytes:
    """The plaintext of the encrypted file at `path`, in memory only.

    Opens it with the key in `key_path`, or with the rotation's pending key beside it when
    the file's header names that one (a rotation was interrupted mid-way).
    """
    path, key_path = Path(path), Path(key_path)
    blob = _read_encrypted(path)
    wanted, _ = _split(blob, str(path))
    pending = pending_key_path(key_path)
    candidates: list[tuple[str, bytes]] = []
    try:
        candidates.append((str(key_path), read_key(key_path)))
    except KeyFileMissingError:
        # Only a rotation's pending key can stand in for a missing key file.
        if not (pending.exists() and key_fingerprint(read_key(pending)) == wanted):
            raise
    if all(key_fingerprint(key) != wanted for _, key in candidates) and pending.exists():
        candidates.append((str(pending), read_key(pending)))
    return _decrypt(blob, candidates, str(path))
