"""Helpers shared by the encryption, secret and rotation tests: a populated bot home and
checks on it. Plain functions, so each test module wraps them in its own fixtures."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tbot.clock import FrozenClock
from tbot.config.encrypted_files import (
    create_key_file,
    decrypt_file,
    pending_key_path,
    write_encrypted,
)
from tbot.config.paths import HomePaths
from tbot.config.secret_names import KEYS, SECRETS
from tbot.config.secret_store import SecretStore

# A value distinctive enough that finding it anywhere means it leaked.
DISTINCTIVE_SECRET = "pw-Zq7!distinctive-4431-XKCD"

SECRET_VALUES: dict[str, dict[str, Any]] = {
    "broker": {"ALPACA": {"API_KEY": "AKTEST", "API_SECRET": DISTINCTIVE_SECRET}, "IBKR": {}},
    "smtp": {"SMTP_USER": "bot@example.com", "SMTP_PASS": "smtp-pass", "SMTP_PORT": 587},
    "screener_api": {"FINNHUB_API_KEY": "fh-123"},
    "acct_api": {"TOKEN": "acct-token"},
    "alert": {"channels": ["email", "console"]},
    "network_config": {"LOCAL_IP": "127.0.0.1", "LOCAL_PORT": 6900},
    "bot_identity": {
        "ENTITY_CODE": "ACME",
        "JURISDICTION_CODE": "US",
        "BROKER_CODE": "SIM",
        "BOT_ID": "BOT01",
    },
}

ENV_BOT_TEXT = b"VERSION_TAG=v1\nSTRATEGY_SEQUENCE=open,mid,close\n"

START = datetime(2026, 11, 21, 14, 25, 1, tzinfo=UTC)


def frozen_clock() -> FrozenClock:
    """A clock at a fixed instant, so backup directory names are known in advance."""
    return FrozenClock(START)


def populate_home(paths: HomePaths) -> dict[Path, bytes]:
    """Create every key, every secret and `.env_bot.enc`; return each file's plaintext."""
    for name in KEYS:
        create_key_file(paths.key_file(name))
    store = SecretStore(paths)
    expected: dict[Path, bytes] = {}
    for name, values in SECRET_VALUES.items():
        written = store.write_new(name, values)
        plaintext = written_plaintext(paths, written)
        assert json.loads(plaintext) == values  # the baseline itself is checked
        expected[written] = plaintext
    write_encrypted(paths.env_bot_enc_file, ENV_BOT_TEXT, paths.key_file("env"))
    expected[paths.env_bot_enc_file] = ENV_BOT_TEXT
    return expected


def written_plaintext(paths: HomePaths, file: Path) -> bytes:
    """The plaintext currently in `file`, opened with its registry key."""
    return decrypt_file(file, key_path_of(paths, file))


def key_path_of(paths: HomePaths, file: Path) -> Path:
    """The key file that encrypts `file` (a secret or `.env_bot.enc`)."""
    if file == paths.env_bot_enc_file:
        return paths.key_file("env")
    for name in SECRETS:
        if paths.secret_file(name) == file:
            return paths.secret_key_file(name)
    raise AssertionError(f"{file} is not an encrypted file of the home")


def assert_all_decrypt(paths: HomePaths, expected: dict[Path, bytes]) -> None:
    """Every file opens with its key (or a pending one) and holds what was written."""
    for file, plaintext in expected.items():
        assert decrypt_file(file, key_path_of(paths, file)) == plaintext, file


def key_files(paths: HomePaths) -> list[Path]:
    """Every key file of the registry."""
    return [paths.key_file(name) for name in KEYS]


def leftover_work_files(paths: HomePaths) -> list[Path]:
    """Pending keys and temporary files left anywhere under the home's storage."""
    pending = [pending_key_path(key) for key in key_files(paths)]
    temps = list(paths.home.rglob("*.tmp"))
    return [p for p in pending if p.exists()] + temps


def mode_of(path: Path) -> int:
    """The permission bits of `path`."""
    return stat.S_IMODE(path.stat().st_mode)


class InjectedFailure(Exception):
    """The stand-in for a crash at one exact point of a rotation."""


class FailAt:
    """A before_replace hook that raises on its `fail_at`-th call (0-based) and counts calls."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.calls: list[Path] = []

    def __call__(self, path: Path) -> None:
        self.calls.append(path)
        if len(self.calls) - 1 == self.fail_at:
            raise InjectedFailure(f"injected failure before replacing {path}")
