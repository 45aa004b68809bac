"""Encrypted files and key files: round trip, and a distinct clear error for each failure."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from tbot.config.encrypted_files import (
    HEADER_PREFIX,
    CorruptEncryptedFileError,
    CryptoError,
    EncryptedFileMissingError,
    InvalidKeyFileError,
    KeyFileMissingError,
    KeyFilePermissionError,
    TamperedFileError,
    WrongKeyError,
    create_key_file,
    decrypt_bytes,
    decrypt_file,
    encrypt_bytes,
    file_key_fingerprint,
    generate_key,
    key_fingerprint,
    pending_key_path,
    read_key,
    write_encrypted,
)
from tbot.errors import EXIT_BAD_INPUT, TbotError
from tests.config.crypto_fixtures import mode_of

PLAINTEXT = b'{"API_KEY": "abc", "API_SECRET": "s3cr3t"}'


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    """A fresh key file in a keys directory."""
    path = tmp_path / "keys" / "broker.key"
    create_key_file(path)
    return path


@pytest.fixture
def encrypted(tmp_path: Path, key_path: Path) -> Path:
    """A file encrypted with `key_path`."""
    path = tmp_path / "secrets" / "broker.json.enc"
    write_encrypted(path, PLAINTEXT, key_path)
    return path


def _replace_token(path: Path, edit: bytes) -> None:
    header, _, _ = path.read_bytes().partition(b"\n")
    path.write_bytes(header + b"\n" + edit + b"\n")


def _token(path: Path) -> bytes:
    return path.read_bytes().partition(b"\n")[2].strip()


# -- round trip and format -------------------------------------------------------------


def test_round_trip_through_a_file(encrypted: Path, key_path: Path) -> None:
    assert decrypt_file(encrypted, key_path) == PLAINTEXT


def test_round_trip_in_memory_picks_the_key_the_header_names() -> None:
    right, other = generate_key(), generate_key()
    blob = encrypt_bytes(PLAINTEXT, right)
    assert decrypt_bytes(blob, [other, right], source="memory") == PLAINTEXT


def test_file_is_header_plus_token_and_never_holds_plaintext_or_key(
    encrypted: Path, key_path: Path
) -> None:
    content = encrypted.read_bytes()
    key = read_key(key_path)
    header, _, rest = content.partition(b"\n")
    assert header == HEADER_PREFIX + key_fingerprint(key).encode()
    assert rest.endswith(b"\n") and rest.count(b"\n") == 1
    assert b"s3cr3t" not in content and key not in content
    assert file_key_fingerprint(encrypted) == key_fingerprint(key)


def test_encrypted_file_is_private(encrypted: Path) -> None:
    assert mode_of(encrypted) == 0o600


def test_fingerprint_is_stable_short_and_distinct_per_key() -> None:
    key = generate_key()
    assert key_fingerprint(key) == key_fingerprint(key)
    assert len(key_fingerprint(key)) == 16
    assert key_fingerprint(key) != key_fingerprint(generate_key())
    assert key_fingerprint(key) not in key.decode()


def test_new_key_file_is_0600_in_a_0700_directory(key_path: Path) -> None:
    assert mode_of(key_path) == 0o600
    assert mode_of(key_path.parent) == 0o700
    assert read_key(key_path)


def test_key_file_is_never_overwritten(key_path: Path) -> None:
    before = key_path.read_bytes()
    with pytest.raises(CryptoError, match="already exists"):
        create_key_file(key_path)
    assert key_path.read_bytes() == before


# -- each failure its own error ----------------------------------------------------------


def test_wrong_key_names_both_key_ids_and_the_key_file(encrypted: Path, tmp_path: Path) -> None:
    other_key_path = tmp_path / "keys" / "other.key"
    other = create_key_file(other_key_path)
    file_fp = file_key_fingerprint(encrypted)
    with pytest.raises(WrongKeyError) as caught:
        decrypt_file(encrypted, other_key_path)
    message = str(caught.value)
    assert f"was encrypted with key {file_fp}" in message
    assert f"{other_key_path} is key {key_fingerprint(other)}" in message


def test_truncated_file_is_reported_as_damaged(encrypted: Path, key_path: Path) -> None:
    content = encrypted.read_bytes()
    encrypted.write_bytes(content[: len(content) // 2])
    with pytest.raises(CorruptEncryptedFileError, match="damaged"):
        decrypt_file(encrypted, key_path)


@pytest.mark.parametrize("cut", [1, 4, 8, 64])
def test_token_cut_short_at_any_length_is_refused(
    encrypted: Path, key_path: Path, cut: int
) -> None:
    _replace_token(encrypted, _token(encrypted)[:-cut])
    with pytest.raises((CorruptEncryptedFileError, TamperedFileError)):
        decrypt_file(encrypted, key_path)


def test_empty_file_is_reported_as_not_an_encrypted_file(encrypted: Path, key_path: Path) -> None:
    encrypted.write_bytes(b"")
    with pytest.raises(CorruptEncryptedFileError, match="not a tbot encrypted file"):
        decrypt_file(encrypted, key_path)


def test_altered_byte_in_token_is_reported_as_tampered(encrypted: Path, key_path: Path) -> None:
    token = bytearray(_token(encrypted))
    middle = len(token) // 2
    token[middle] = ord("A") if token[middle] != ord("A") else ord("B")
    _replace_token(encrypted, bytes(token))
    with pytest.raises(TamperedFileError, match="altered after encryption"):
        decrypt_file(encrypted, key_path)


def test_altered_header_is_reported_as_not_an_encrypted_file(
    encrypted: Path, key_path: Path
) -> None:
    encrypted.write_bytes(encrypted.read_bytes().replace(b"tbot-fernet v1", b"tbot-fernet v9", 1))
    with pytest.raises(CorruptEncryptedFileError, match="header"):
        decrypt_file(encrypted, key_path)


def test_damaged_key_id_in_header_is_reported(encrypted: Path, key_path: Path) -> None:
    header, _, rest = encrypted.read_bytes().partition(b"\n")
    encrypted.write_bytes(header[:-3] + b"\n" + rest)
    with pytest.raises(CorruptEncryptedFileError, match="key id"):
        decrypt_file(encrypted, key_path)


def test_raw_fernet_token_without_header_is_refused(encrypted: Path, key_path: Path) -> None:
    encrypted.write_bytes(_token(encrypted) + b"\n")
    with pytest.raises(CorruptEncryptedFileError, match="not a tbot encrypted file"):
        decrypt_file(encrypted, key_path)


def test_token_that_is_not_base64_is_refused(encrypted: Path, key_path: Path) -> None:
    _replace_token(encrypted, b"this is not base64 at all!")
    with pytest.raises(CorruptEncryptedFileError, match="base64"):
        decrypt_file(encrypted, key_path)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_open_to_group_or_others_is_refused(
    key_path: Path, encrypted: Path, mode: int
) -> None:
    key_path.chmod(mode)
    with pytest.raises(KeyFilePermissionError) as caught:
        decrypt_file(encrypted, key_path)
    assert f"{mode:04o}" in str(caught.value)
    assert f"chmod 600 {key_path}" in str(caught.value)


def test_world_readable_key_file_is_refused(key_path: Path) -> None:
    key_path.chmod(0o644)
    with pytest.raises(KeyFilePermissionError, match="0644"):
        read_key(key_path)


def test_group_readable_key_file_is_refused(key_path: Path) -> None:
    key_path.chmod(0o640)
    with pytest.raises(KeyFilePermissionError, match="0640"):
        read_key(key_path)


def test_owner_only_read_key_file_is_accepted(key_path: Path) -> None:
    key_path.chmod(0o400)
    assert read_key(key_path)


@pytest.mark.parametrize(
    "content",
    [b"", b"not a key\n", base64.urlsafe_b64encode(b"too short"), b"A" * 44],
    ids=["empty", "text", "short", "bad-base64-length"],
)
def test_invalid_key_file_content_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.key"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(InvalidKeyFileError, match="does not hold a Fernet key"):
        read_key(path)


def test_key_file_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dir.key").mkdir(mode=0o700)
    with pytest.raises(InvalidKeyFileError, match="not a regular file"):
        read_key(tmp_path / "dir.key")


def test_missing_key_file_is_reported(encrypted: Path, tmp_path: Path) -> None:
    missing = tmp_path / "keys" / "nope.key"
    with pytest.raises(KeyFileMissingError, match=re.escape(f"key file {missing} not found")):
        decrypt_file(encrypted, missing)


def test_missing_encrypted_file_is_reported(tmp_path: Path, key_path: Path) -> None:
    missing = tmp_path / "secrets" / "absent.json.enc"
    expected = re.escape(f"encrypted file {missing} not found")
    with pytest.raises(EncryptedFileMissingError, match=expected):
        decrypt_file(missing, key_path)


def test_every_crypto_error_is_an_operator_error_for_bad_input() -> None:
    for error_type in (
        KeyFileMissingError,
        KeyFilePermissionError,
        InvalidKeyFileError,
        EncryptedFileMissingError,
        CorruptEncryptedFileError,
        WrongKeyError,
        TamperedFileError,
    ):
        assert issubclass(error_type, CryptoError)
        assert issubclass(error_type, TbotError)
        assert error_type("x").exit_code == EXIT_BAD_INPUT


# -- the pending key of a rotation -------------------------------------------------------


def test_pending_key_opens_files_whose_header_names_it(tmp_path: Path, key_path: Path) -> None:
    pending = pending_key_path(key_path)
    assert pending.name == "broker.key.next"
    next_key = create_key_file(pending)
    path = tmp_path / "moved.enc"
    path.write_bytes(encrypt_bytes(PLAINTEXT, next_key))
    assert decrypt_file(path, key_path) == PLAINTEXT


def test_pending_key_stands_in_for_a_missing_key_file(tmp_path: Path) -> None:
    key_path = tmp_path / "keys" / "login.key"
    next_key = create_key_file(pending_key_path(key_path))
    path = tmp_path / "file.enc"
    path.write_bytes(encrypt_bytes(PLAINTEXT, next_key))
    assert decrypt_file(path, key_path) == PLAINTEXT


def test_a_pending_key_the_header_does_not_name_is_no_help(tmp_path: Path, key_path: Path) -> None:
    create_key_file(pending_key_path(key_path))
    path = tmp_path / "foreign.enc"
    path.write_bytes(encrypt_bytes(PLAINTEXT, generate_key()))
    with pytest.raises(WrongKeyError) as caught:
        decrypt_file(path, key_path)
    assert str(pending_key_path(key_path)) in str(caught.value)
