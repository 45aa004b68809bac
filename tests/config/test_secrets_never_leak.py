"""A secret value, or a key, never reaches an exception or a log record, on any path.

Each error path runs with logging at DEBUG; the distinctive secret and every key of the home
are then searched for in the raised error (str, repr, args, and its whole cause/context
chain) and in every log record (message, args, exception text).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tbot.config.encrypted_files import (
    create_key_file,
    decrypt_file,
    read_key,
    write_encrypted,
)
from tbot.config.identity_store import load_identity
from tbot.config.key_rotation import rotate_keys
from tbot.config.paths import HomePaths
from tbot.config.secret_names import KEYS
from tbot.config.secret_store import SecretStore, redact
from tbot.errors import TbotError
from tests.config.crypto_fixtures import (
    DISTINCTIVE_SECRET,
    frozen_clock,
    populate_home,
)


@pytest.fixture
def paths(tmp_path: Path) -> HomePaths:
    """A populated bot home whose broker secret holds DISTINCTIVE_SECRET."""
    home = HomePaths(tmp_path / "home")
    populate_home(home)
    return home


@pytest.fixture
def forbidden(paths: HomePaths) -> list[str]:
    """Text that must never appear: the secret and every key of the home."""
    return [DISTINCTIVE_SECRET, *(read_key(paths.key_file(name)).decode() for name in KEYS)]


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every logger at DEBUG, captured."""
    caplog.set_level(logging.DEBUG)
    return caplog


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [current.__cause__, current.__context__]


def _assert_nothing_leaked(
    error: BaseException | None, logs: pytest.LogCaptureFixture, forbidden: list[str]
) -> None:
    texts: list[str] = []
    if error is not None:
        for link in _chain(error):
            texts += [str(link), repr(link), repr(link.args), repr(vars(link))]
    for record in logs.records:
        texts += [record.getMessage(), repr(record.args), record.exc_text or ""]
    for secret in forbidden:
        assert not any(secret in text for text in texts), "a secret or key leaked"


def _raises_tbot_error(action: Callable[[], object]) -> TbotError:
    with pytest.raises(TbotError) as caught:
        action()
    return caught.value


def _broker_file(paths: HomePaths) -> Path:
    return paths.secret_file("broker")


def test_wrong_key_error_leaks_nothing(
    paths: HomePaths, forbidden: list[str], debug_logs: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    other = tmp_path / "other.key"
    forbidden.append(create_key_file(other).decode())
    error = _raises_tbot_error(lambda: decrypt_file(_broker_file(paths), other))
    _assert_nothing_leaked(error, debug_logs, forbidden)


def test_tampered_file_error_leaks_nothing(
    paths: HomePaths, forbidden: list[str], debug_logs: pytest.LogCaptureFixture
) -> None:
    target = _broker_file(paths)
    content = bytearray(target.read_bytes())
    middle = len(content) // 2
    content[middle] = ord("A") if content[middle] != ord("A") else ord("B")
    target.write_bytes(bytes(content))
    error = _raises_tbot_error(lambda: SecretStore(paths).load("broker"))
    _assert_nothing_leaked(error, debug_logs, forbidden)


def test_truncated_file_error_leaks_nothing(
    paths: HomePaths, forbidden: list[str], debug_logs: pytest.LogCaptureFixture
) -> None:
    target = _broker_file(paths)
    target.write_bytes(target.read_bytes()[:90])
    error = _raises_tbot_error(lambda: SecretStore(paths).load("broker"))
    _assert_nothing_leaked(error, debug_logs, forbidden)


def test_bad_json_from_file_leaks_nothing(
    paths: HomePaths, forbidden: list[str], debug_logs: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    bad = tmp_path / "broker.json"
    bad.write_text('{"API_SECRET": "' + DISTINCTIVE_SECRET + '", trailing', encoding="utf-8")
    error = _raises_tbot_error(
        lambda: SecretStore(paths).set_from_file("broker", bad, frozen_clock())
    )
    _assert_nothing_leaked(error, debug_logs, forbidden)


def test_non_object_json_from_file_leaks_nothing(
    paths: HomePaths, forbidden: list[str], debug_logs: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    array = tmp_path / "broker.json"
    array.write_text(f'["{DISTINCTIVE_SECRET}"]', encoding="utf-8")
    error = _raises_tbot_error(
        lambda: SecretStore(paths).set_from_file("broker", array, frozen_clock())
    )
    _assert_nothing_leaked(error, debug_logs, forbidden)


def test_unserialisable_values_leak_nothing(
    paths: HomePaths, forbidden: list[str], debug_logs: pytest.LogCaptureFixture
) -> None:
    values = {"API_SECRET": DISTINCTIVE_SECRET, "BAD": {DISTINCTIVE_SECRET}}
    error = _raises_tbot_error(lambda: SecretStore(paths).set("broker", values, frozen_clock()))
    _assert_nothing_leaked(error, debug_logs, forbidden)


def test_missing_key_error_leaks_nothing(
    paths: HomePaths, forbidden: list[str], debug_logs: pytest.LogCaptureFixture
) -> None:
    paths.secret_key_file("broker").unlink()
    error = _raises_tbot_error(lambda: SecretStore(paths).load("broker"))
    _assert_nothing_leaked(error, debug_logs, forbidden)


def test_open_key_file_error_leaks_nothing(
    paths: HomePaths, forbidden: list[str], debug_logs: pytest.LogCaptureFixture
) -> None:
    paths.secret_key_file("broker").chmod(0o644)
    error = _raises_tbot_error(lambda: SecretStore(paths).load("broker"))
    _assert_nothing_leaked(error, debug_logs, forbidden)


def test_invalid_identity_error_leaks_nothing(
    paths: HomePaths, forbidden: list[str], debug_logs: pytest.LogCaptureFixture
) -> None:
    SecretStore(paths).set(
        "bot_identity", {"ENTITY_CODE": "X", "PASSWORD": DISTINCTIVE_SECRET}, frozen_clock()
    )
    error = _raises_tbot_error(lambda: load_identity(paths))
    _assert_nothing_leaked(error, debug_logs, forbidden)


def test_failed_rotation_leaks_nothing(
    paths: HomePaths, forbidden: list[str], debug_logs: pytest.LogCaptureFixture
) -> None:
    target = _broker_file(paths)
    target.write_bytes(target.read_bytes()[:-20] + b"AAAAAAAAAAAAAAAAAAA\n")
    error = _raises_tbot_error(lambda: rotate_keys(paths, frozen_clock()))
    _assert_nothing_leaked(error, debug_logs, forbidden)


def test_successful_paths_log_nothing_secret(
    paths: HomePaths, forbidden: list[str], debug_logs: pytest.LogCaptureFixture
) -> None:
    store = SecretStore(paths)
    store.set("broker", {"API_SECRET": DISTINCTIVE_SECRET}, frozen_clock())
    assert store.load("broker") == {"API_SECRET": DISTINCTIVE_SECRET}
    write_encrypted(paths.env_bot_enc_file, DISTINCTIVE_SECRET.encode(), paths.key_file("env"))
    report = rotate_keys(paths, frozen_clock())
    forbidden += [read_key(paths.key_file(name)).decode() for name in KEYS]  # the new keys
    assert redact(store.load("broker")) == {"API_SECRET": "••••••"}
    assert debug_logs.records  # the paths above do log; none of it may be secret
    _assert_nothing_leaked(None, debug_logs, forbidden)
    assert not any(secret in repr(report) for secret in forbidden)
