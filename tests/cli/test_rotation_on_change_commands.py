"""`tbot secrets set` and `tbot config encrypt` rotate the affected key by themselves, audit
who, when and why, and fail clearly (changing nothing) when the rotation cannot run."""

from __future__ import annotations

import json
import os
import pwd
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tbot.clock import SystemClock
from tbot.config.encrypted_files import decrypt_file
from tbot.config.identity_store import load_identity
from tbot.config.loader import load_config, load_env
from tbot.config.secret_names import KEYS
from tbot.ledger.posting import BackupPolicy, LedgerWriter
from tests.cli.cli_support import Runner, audit_actions, replace_setting

SECRET_VALUE = "sk-live-rotation-9c1d"


@pytest.fixture
def broker_json(tmp_path: Path) -> Path:
    path = tmp_path / "broker.json"
    path.write_text(json.dumps({"ALPACA_API_KEY": "AK1", "ALPACA_SECRET_KEY": SECRET_VALUE}))
    return path


def _keys(home: Path) -> dict[str, bytes]:
    return {name: (home / f"storage/keys/{name}.key").read_bytes() for name in KEYS}


def _audit_rows(ledger: Path, action: str) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as connection:
        rows = connection.execute(
            "SELECT actor, created_at_utc, subject, details FROM audit_trail "
            "WHERE action = ? ORDER BY id",
            (action,),
        ).fetchall()
    return [
        {"actor": actor, "when": when, "subject": subject, "details": json.loads(details)}
        for actor, when, subject, details in rows
    ]


def test_secrets_set_rotates_the_secrets_key_by_itself(
    home: Path, broker_json: Path, run_tbot: Runner
) -> None:
    before = _keys(home)
    result = run_tbot(
        "secrets", "set", "broker", "--from-file", broker_json, "--home", home, "--json"
    )
    assert result.code == 0, result.err
    after = _keys(home)
    assert [name for name in KEYS if after[name] != before[name]] == ["broker"]
    assert result.json()["rotated_keys"] == ["broker"]
    assert Path(result.json()["key_backup_dir"]).is_dir()
    shown = run_tbot("secrets", "show", "broker", "--reveal", "--json", "--home", home)
    assert shown.json()["values"]["ALPACA_SECRET_KEY"] == SECRET_VALUE


def test_secrets_set_audits_the_rotation_with_who_when_and_why(
    home: Path, broker_json: Path, ledger_path: Path, run_tbot: Runner
) -> None:
    run_tbot("secrets", "set", "broker", "--from-file", broker_json, "--home", home)
    (rotation,) = _audit_rows(ledger_path, "keys.rotate")
    user = pwd.getpwuid(os.getuid()).pw_name
    assert rotation["actor"] == f"cli:{user}(uid={os.getuid()})"
    assert rotation["when"]
    assert rotation["subject"] == "broker"
    assert rotation["details"]["reason"] == "tbot secrets set broker"
    assert SECRET_VALUE not in json.dumps(rotation)
    assert audit_actions(ledger_path)[-2:] == ["keys.rotate", "secrets.set"]
    assert run_tbot("ledger", "verify", "--home", home).code == 0


def test_the_previous_secret_is_kept_beside_the_key_that_opens_it(
    home: Path, broker_json: Path, tmp_path: Path, run_tbot: Runner
) -> None:
    run_tbot("secrets", "set", "broker", "--from-file", broker_json, "--home", home)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"ALPACA_API_KEY": "AK2"}))
    again = run_tbot("secrets", "set", "broker", "--from-file", other, "--home", home, "--json")
    assert again.code == 0, again.err
    backup = Path(again.json()["previous_backup"])
    key_backup = Path(again.json()["key_backup_dir"]) / "storage/keys/broker.key"
    assert json.loads(decrypt_file(backup, key_backup))["ALPACA_SECRET_KEY"] == SECRET_VALUE


def test_config_encrypt_rotates_the_config_key_and_audits_why(
    home: Path, ledger_path: Path, run_tbot: Runner
) -> None:
    before = _keys(home)
    result = run_tbot("config", "encrypt", "--home", home)
    assert result.code == 0, result.err
    after = _keys(home)
    assert [name for name in KEYS if after[name] != before[name]] == ["env"]
    (rotation,) = _audit_rows(ledger_path, "keys.rotate")
    assert rotation["details"]["reason"] == "tbot config encrypt"
    assert run_tbot("config", "validate", "--home", home).code == 0


def test_a_config_read_before_a_rotation_stays_usable_and_a_reread_opens_the_new_file(
    home: Path, run_tbot: Runner
) -> None:
    # What an engine does: it holds what it decrypted at start, and `config.reload` calls
    # load_config again, which reads the key file then.
    assert run_tbot("config", "encrypt", "--home", home).code == 0
    running = load_config(home)
    replace_setting(home, "MAX_OPEN_POSITIONS", "3")
    assert run_tbot("config", "encrypt", "--home", home).code == 0
    reloaded = load_config(home)
    assert reloaded.bot_encrypted
    assert reloaded.bot.MAX_OPEN_POSITIONS == 3
    assert running.bot.MAX_OPEN_POSITIONS != 3


def test_secrets_set_is_refused_while_an_engine_holds_the_writer_lock(
    home: Path, broker_json: Path, run_tbot: Runner
) -> None:
    _, paths = load_env(home)
    bot_paths = paths.for_bot(load_identity(paths))
    before = _keys(home)
    writer = LedgerWriter(bot_paths, SystemClock(), BackupPolicy(retention_days=7, keep_per_day=5))
    with writer:
        result = run_tbot("secrets", "set", "broker", "--from-file", broker_json, "--home", home)
    assert result.code == 2
    assert "lock" in result.err.lower()
    assert _keys(home) == before
    assert not (home / "storage/secrets/broker_credentials.json.enc").exists()


def test_a_rotation_that_cannot_run_exits_non_zero_and_keeps_the_previous_key_and_file(
    home: Path, run_tbot: Runner
) -> None:
    assert run_tbot("config", "encrypt", "--home", home).code == 0
    key = home / "storage/keys/env.key"
    encrypted = home / ".env_bot.enc"
    old_key, old_file = key.read_bytes(), encrypted.read_bytes()
    key.chmod(0o644)  # a key open to others: the rotation refuses to read it
    result = run_tbot("config", "encrypt", "--home", home)
    assert result.code == 2
    assert "chmod 600" in result.err
    assert key.read_bytes() == old_key
    assert encrypted.read_bytes() == old_file
    assert not (home / "storage/keys/env.key.next").exists()
