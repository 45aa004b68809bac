"""load_identity / save_identity: a valid identity round trips; every problem is a
ConfigError that names the file and each bad key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tbot.config.encrypted_files import create_key_file
from tbot.config.identity import CODE_RULE, BotIdentity
from tbot.config.identity_store import load_identity, save_identity
from tbot.config.paths import HomePaths
from tbot.config.problems import ConfigError
from tbot.config.secret_store import SecretStore
from tests.config.crypto_fixtures import frozen_clock

IDENTITY_FILE = "storage/secrets/bot_identity.json.enc"
VALID: dict[str, Any] = {
    "ENTITY_CODE": "ACME",
    "JURISDICTION_CODE": "US",
    "BROKER_CODE": "ALPACA",
    "BOT_ID": "BOT-01",
}


@pytest.fixture
def paths(tmp_path: Path) -> HomePaths:
    """An empty bot home."""
    return HomePaths(tmp_path)


def _store_raw(paths: HomePaths, values: dict[str, Any]) -> None:
    SecretStore(paths).set("bot_identity", values, frozen_clock())


def _problem_lines(error: ConfigError) -> list[str]:
    return [str(problem) for problem in error.problems]


def test_saved_identity_loads_back(paths: HomePaths) -> None:
    identity = BotIdentity.model_validate(VALID)
    save_identity(paths, identity)
    assert load_identity(paths) == identity
    assert load_identity(paths).bot_identity == "ACME_US_ALPACA_BOT-01"


def test_missing_identity_file_is_a_config_error_naming_it(paths: HomePaths) -> None:
    with pytest.raises(ConfigError) as caught:
        load_identity(paths)
    [line] = _problem_lines(caught.value)
    assert line.startswith(f"{IDENTITY_FILE}: file not found")
    assert "tbot init" in line


def test_undecryptable_identity_is_a_config_error_naming_the_file(paths: HomePaths) -> None:
    save_identity(paths, BotIdentity.model_validate(VALID))
    key_path = paths.secret_key_file("bot_identity")
    key_path.unlink()
    create_key_file(key_path)  # a different key: the file no longer opens
    with pytest.raises(ConfigError) as caught:
        load_identity(paths)
    [line] = _problem_lines(caught.value)
    assert line.startswith(f"{IDENTITY_FILE}: ")
    assert "was encrypted with key" in line


def test_invalid_codes_are_each_named_with_value_and_rule(paths: HomePaths) -> None:
    _store_raw(paths, {**VALID, "ENTITY_CODE": "acme", "BOT_ID": "BOT_01"})
    with pytest.raises(ConfigError) as caught:
        load_identity(paths)
    lines = _problem_lines(caught.value)
    assert lines == [
        f"{IDENTITY_FILE}: ENTITY_CODE='acme': expected {CODE_RULE}",
        f"{IDENTITY_FILE}: BOT_ID='BOT_01': expected {CODE_RULE}",
    ]


def test_missing_code_is_named(paths: HomePaths) -> None:
    _store_raw(paths, {k: v for k, v in VALID.items() if k != "BROKER_CODE"})
    with pytest.raises(ConfigError) as caught:
        load_identity(paths)
    assert _problem_lines(caught.value) == [
        f"{IDENTITY_FILE}: BROKER_CODE is missing; expected {CODE_RULE}"
    ]


def test_code_that_is_not_text_is_named(paths: HomePaths) -> None:
    _store_raw(paths, {**VALID, "JURISDICTION_CODE": 44})
    with pytest.raises(ConfigError) as caught:
        load_identity(paths)
    assert _problem_lines(caught.value) == [
        f"{IDENTITY_FILE}: JURISDICTION_CODE='44': expected {CODE_RULE}"
    ]


def test_unknown_key_is_named_without_its_value(paths: HomePaths) -> None:
    _store_raw(paths, {**VALID, "PASSWORD": "hidden-value"})
    with pytest.raises(ConfigError) as caught:
        load_identity(paths)
    [line] = _problem_lines(caught.value)
    assert "unknown key 'PASSWORD'" in line and "hidden-value" not in line


def test_every_problem_is_reported_at_once(paths: HomePaths) -> None:
    _store_raw(paths, {"ENTITY_CODE": "", "EXTRA": 1})
    with pytest.raises(ConfigError) as caught:
        load_identity(paths)
    # empty ENTITY_CODE, three missing codes, one unknown key
    assert len(caught.value.problems) == 5
    assert str(caught.value).startswith("invalid bot identity (5 problems):")
