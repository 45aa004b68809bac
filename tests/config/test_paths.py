"""The path resolver: where the home is, and where each file of a bot lives."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tbot.config.identity import BotIdentity
from tbot.config.paths import HOME_ENV_VAR, HomePaths, resolve_home


@pytest.fixture
def identity() -> BotIdentity:
    return BotIdentity(ENTITY_CODE="RIGD", JURISDICTION_CODE="US", BROKER_CODE="ALP", BOT_ID="B1")


def test_home_is_the_flag_then_the_environment_then_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag, env_home, cwd = tmp_path / "flag", tmp_path / "env", tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv(HOME_ENV_VAR, str(env_home))
    assert resolve_home(flag) == flag.resolve()
    assert resolve_home(None) == env_home.resolve()
    monkeypatch.delenv(HOME_ENV_VAR)
    assert resolve_home(None) == cwd.resolve()


def test_bot_files_live_under_the_bot_identity(tmp_path: Path, identity: BotIdentity) -> None:
    paths = HomePaths(tmp_path).for_bot(identity)
    ledgers = tmp_path / "output" / "RIGD_US_ALP_B1" / "ledgers"
    assert paths.ledger_db == ledgers / "RIGD_US_ALP_B1_BOT_ledger.db"
    assert paths.coa_db() == ledgers / "RIGD_US_ALP_B1_BOT_COA_v1.1.0.db"
    assert paths.coa_db("v1.1.0").name == "RIGD_US_ALP_B1_BOT_COA_v1.1.0.db"
    assert {p.name for p in paths.output_dirs()} == {
        "ledgers",
        "logs",
        "trades",
        "summaries",
        "transfers",
        "transfers_ack",
    }
    assert all(p.parent == tmp_path / "output" / "RIGD_US_ALP_B1" for p in paths.output_dirs())


def test_backups_are_filed_by_utc_date_and_stamp(tmp_path: Path, identity: BotIdentity) -> None:
    paths = HomePaths(tmp_path).for_bot(identity)
    moment = datetime(2026, 11, 20, 23, 59, 58, tzinfo=UTC)
    assert paths.ledger_backup_dir(date(2026, 11, 20)) == tmp_path / "storage/backups/2026-11-20"
    backup = paths.ledger_backup_file(moment)
    assert backup.parent == tmp_path / "storage/backups/2026-11-20"
    assert backup.name == "RIGD_US_ALP_B1_BOT_ledger.20261120T235958Z.db"
    assert paths.key_backup_dir(moment) == tmp_path / "storage/backups/keys/20261120T235958Z"


def test_default_layout_of_keys_and_secrets(tmp_path: Path) -> None:
    paths = HomePaths(tmp_path)
    assert paths.key_file("env") == tmp_path / "storage/keys/env.key"
    assert paths.secret_file("bot_identity") == tmp_path / "storage/secrets/bot_identity.json.enc"
    assert paths.secret_key_file("broker") == tmp_path / "storage/keys/broker.key"
    assert paths.env_bot_enc_file == tmp_path / ".env_bot.enc"


def test_env_overrides_move_files_inside_the_home(tmp_path: Path) -> None:
    paths = HomePaths(tmp_path, {"BROKER_KEY_PATH": "vault/b.key", "ENV_BOT_PATH": "cfg/bot"})
    assert paths.key_file("broker") == tmp_path / "vault/b.key"
    assert paths.env_bot_enc_file == tmp_path / "cfg/bot.enc"


def test_a_path_that_escapes_the_home_is_refused(tmp_path: Path) -> None:
    paths = HomePaths(tmp_path / "home", {"BROKER_KEY_PATH": "../elsewhere/b.key"})
    with pytest.raises(ValueError, match="outside the bot home"):
        paths.key_file("broker")


@pytest.mark.parametrize("code", ["bad_code", "lower", "", "A" * 17, "-LEADING"])
def test_identity_codes_that_would_break_file_names_are_refused(code: str) -> None:
    with pytest.raises(ValueError):
        BotIdentity(ENTITY_CODE=code, JURISDICTION_CODE="US", BROKER_CODE="ALP", BOT_ID="B1")
