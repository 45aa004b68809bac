"""The encrypted JSON secrets of a bot home: `storage/secrets/<name>.json.enc`.

Each secret is one JSON object encrypted with its own key (see `secret_names.SECRETS`).
Changing a secret rotates its key (`set`, `set_from_file`): the new value is written under a
new key, atomically and backed up, by `key_rotation.rotate_keys`. Only a secret that does not
exist yet can be written under the key already there (`write_new`, for a new home).
Values are decrypted in memory only; nothing here logs them or puts them in an error. A
file given by an operator that is not valid JSON is reported by line and column, never by
quoting it (it may be the secret itself).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tbot.clock import Clock
from tbot.config.encrypted_files import (
    CorruptEncryptedFileError,
    create_key_file,
    decrypt_file,
    write_encrypted,
)
from tbot.config.key_rotation import BeforeReplace, RotationReport, rotate_keys
from tbot.config.paths import HomePaths
from tbot.config.secret_names import SECRETS
from tbot.errors import TbotError

log = logging.getLogger(__name__)

REDACTED = "••••••"


class UnknownSecretError(TbotError):
    """A secret name that is not in the registry."""


class SecretValueError(TbotError):
    """Values that cannot be stored as a secret (not a JSON object, unreadable file...)."""


def redact(values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `values` with every leaf replaced by a mask; nested objects keep their keys.

    Lists count as leaves: even their length can say something about a secret.
    """
    return {
        key: redact(value) if isinstance(value, Mapping) else REDACTED
        for key, value in values.items()
    }


def _describe_json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _encode(values: Any, source: str) -> bytes:
    """`values` as JSON bytes, refusing anything but an object of JSON-serialisable values."""
    if not isinstance(values, Mapping):
        raise SecretValueError(
            f"{source}: a secret must be a JSON object, got {_describe_json_type(values)}"
        )
    problem: str | None = None
    try:
        return json.dumps(dict(values), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as error:
        # The message of a json error names only the offending type, never a value.
        problem = type(error).__name__
    raise SecretValueError(
        f"{source}: the values cannot be stored as JSON ({problem}); use strings, numbers, "
        "booleans, null, arrays and objects only"
    )


class SecretStore:
    """Reads and writes the encrypted secrets of one bot home."""

    def __init__(self, paths: HomePaths) -> None:
        self.paths = paths

    def names(self) -> list[str]:
        """Every secret name the registry knows, in registry order."""
        return list(SECRETS)

    def _check_name(self, name: str) -> None:
        if name not in SECRETS:
            raise UnknownSecretError(f"unknown secret {name!r}; valid names: {', '.join(SECRETS)}")

    def path(self, name: str) -> Path:
        """The encrypted file of secret `name`."""
        self._check_name(name)
        return self.paths.secret_file(name)

    def exists(self, name: str) -> bool:
        """Whether secret `name` has been written."""
        return self.path(name).exists()

    def write_new(self, name: str, values: Mapping[str, Any]) -> Path:
        """Write secret `name`, which must not exist yet, under its current key (creating the
        key if needed); returns the file. For building a new home: a secret that already
        exists is changed only through `set`, which rotates its key."""
        target = self.path(name)
        if target.exists():
            raise SecretValueError(
                f"secret {name!r} already exists; change it with `tbot secrets set {name}`, "
                "which rotates its key"
            )
        plaintext = _encode(values, f"secret {name!r}")
        key_path = self.paths.secret_key_file(name)
        if not key_path.exists():
            create_key_file(key_path)
            log.info("created key file %s for secret %s", key_path, name)
        write_encrypted(target, plaintext, key_path)
        log.info("wrote secret %s to %s", name, target)
        return target

    def set(
        self,
        name: str,
        values: Mapping[str, Any],
        clock: Clock,
        *,
        before_replace: BeforeReplace | None = None,
    ) -> RotationReport:
        """Store `values` (a JSON object) as secret `name` under a NEW key.

        The secret's key is rotated in the same step (`rotate_keys`): previous key and file
        backed up first, every file of that key re-encrypted, each write atomic, and an
        interruption leaves every file readable. `clock` names the backup directory;
        `before_replace` is `rotate_keys`' hook for tests that inject failures. The caller
        holds the home's rotation lock (`key_rotation.rotation_lock`).
        """
        target = self.path(name)
        plaintext = _encode(values, f"secret {name!r}")
        report = rotate_keys(
            self.paths,
            clock,
            keys=[SECRETS[name].key.name],
            new_contents={target: plaintext},
            before_replace=before_replace,
        )
        log.info("wrote secret %s to %s under a new key", name, target)
        return report

    def set_from_file(self, name: str, file: Path, clock: Clock) -> RotationReport:
        """Store the JSON object held in `file` as secret `name`, rotating its key (`set`)."""
        return self.set(name, self.read_values_file(name, file), clock)

    def read_values_file(self, name: str, file: Path) -> Mapping[str, Any]:
        """The JSON object held in `file`, checked to be storable as secret `name`.

        A malformed file is reported by position only: its content is never echoed.
        """
        self._check_name(name)
        file = Path(file)
        problem: str | None = None
        try:
            text = file.read_bytes().decode("utf-8")
        except FileNotFoundError:
            problem = "file not found"
        except UnicodeDecodeError as error:
            problem = f"not UTF-8 text (invalid byte at offset {error.start})"
        except OSError as error:
            problem = f"cannot be read ({error.strerror})"
        if problem is None:
            # The decode error keeps the whole document in `.doc`: take its position, then
            # raise outside the except block so the error chain does not carry it along.
            try:
                values = json.loads(text)
            except json.JSONDecodeError as error:
                problem = f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        if problem is not None:
            raise SecretValueError(f"{file}: {problem}; expected a JSON object")
        return _require_object(values, str(file))

    def load(self, name: str) -> dict[str, Any]:
        """The decrypted values of secret `name` (in memory only)."""
        target = self.path(name)
        plaintext = decrypt_file(target, self.paths.secret_key_file(name))
        problem: str | None = None
        try:
            values = json.loads(plaintext.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            problem = "does not decrypt to JSON"
        if problem is None and not isinstance(values, dict):
            problem = f"decrypts to {_describe_json_type(values)}, not a JSON object"
        if problem is not None:
            raise CorruptEncryptedFileError(
                f"{target} {problem}; re-create it with `tbot secrets set {name} --from-file FILE`",
                target,
            )
        return values


def _require_object(values: Any, source: str) -> Mapping[str, Any]:
    if not isinstance(values, dict):
        raise SecretValueError(
            f"{source}: holds {_describe_json_type(values)}; expected a JSON object"
        )
    return values
