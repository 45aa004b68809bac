"""`tbot secrets set|show|list` and `tbot keys rotate` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tbot.clock import SystemClock
from tbot.config.identity_store import load_identity
from tbot.config.loader import load_env
from tbot.ledger.posting import BackupPolicy, LedgerWriter
from tests.cli.cli_support import Runner, audit_actions

SECRET_VALUE = "sk-live-7f3a-very-distinctive"


@pytest.fixture
def broker_json(tmp_path: Path) -> Path:
    path = tmp_path / "broker.json"
    path.write_text(json.dumps({"ALPACA_API_KEY": "AK123", "ALPACA_SECRET_KEY": SECRET_VALUE}))
    return path


def test_secret_set_then_show_is_redacted(home: Path, broker_json: Path, run_tbot: Runner) -> None:
    assert (
        run_tbot("secrets", "set", "broker", "--from-file", broker_json, "--home", home).code == 0
    )
    shown = run_tbot("secrets", "show", "broker", "--home", home)
    assert shown.code == 0
    assert "ALPACA_SECRET_KEY" in shown.out
    assert SECRET_VALUE not in shown.out


def test_secret_show_reveal_prints_the_value(
    home: Path, broker_json: Path, run_tbot: Runner
) -> None:
    run_tbot("secrets", "set", "broker", "--from-file", broker_json, "--home", home)
    shown = run_tbot("secrets", "show", "broker", "--reveal", "--json", "--home", home)
    assert shown.json()["values"]["ALPACA_SECRET_KEY"] == SECRET_VALUE


def test_secret_set_backs_up_the_previous_version_and_audits(
    home: Path, broker_json: Path, ledger_path: Path, run_tbot: Runner
) -> None:
    run_tbot("secrets", "set", "broker", "--from-file", broker_json, "--home", home)
    again = run_tbot(
        "secrets", "set", "broker", "--from-file", broker_json, "--home", home, "--json"
    )
    assert again.code == 0
    assert Path(again.json()["previous_backup"]).exists()
    assert audit_actions(ledger_path).count("secrets.set") == 2


def test_secret_set_from_malformed_json_does_not_echo_it(
    home: Path, tmp_path: Path, run_tbot: Runner
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"token": "' + SECRET_VALUE + '",')
    result = run_tbot("secrets", "set", "smtp", "--from-file", bad, "--home", home)
    assert result.code == 2
    assert SECRET_VALUE not in result.err + result.out
    assert not (home / "storage/secrets/smtp_credentials.json.enc").exists()


def test_unknown_secret_name_is_refused(home: Path, broker_json: Path, run_tbot: Runner) -> None:
    result = run_tbot("secrets", "set", "paypal", "--from-file", broker_json, "--home", home)
    assert result.code == 2


def test_secrets_list_shows_which_exist(home: Path, run_tbot: Runner) -> None:
    listing = run_tbot("secrets", "list", "--home", home, "--json").json()["secrets"]
    assert listing["bot_identity"] is True
    assert listing["broker"] is False


def test_keys_rotate_keeps_everything_readable_and_audits(
    home: Path, broker_json: Path, ledger_path: Path, run_tbot: Runner
) -> None:
    run_tbot("secrets", "set", "broker", "--from-file", broker_json, "--home", home)
    run_tbot("config", "encrypt", "--home", home)
    old_key = (home / "storage/keys/broker.key").read_bytes()
    result = run_tbot("keys", "rotate", "--home", home, "--json")
    assert result.code == 0, result.err
    assert (home / "storage/keys/broker.key").read_bytes() != old_key
    assert Path(result.json()["backup_dir"]).is_dir()
    assert run_tbot("config", "validate", "--home", home).code == 0
    shown = run_tbot("secrets", "show", "broker", "--reveal", "--json", "--home", home)
    assert shown.json()["values"]["ALPACA_SECRET_KEY"] == SECRET_VALUE
    assert "keys.rotate" in audit_actions(ledger_path)
    assert run_tbot("ledger", "verify", "--home", home).code == 0


def test_keys_rotate_is_refused_while_another_process_writes(home: Path, run_tbot: Runner) -> None:
    _, paths = load_env(home)
    bot_paths = paths.for_bot(load_identity(paths))
    old_key = (home / "storage/keys/env.key").read_bytes()
    writer = LedgerWriter(bot_paths, SystemClock(), BackupPolicy(retention_days=7, keep_per_day=5))
    with writer:
        result = run_tbot("keys", "rotate", "--home", home)
    assert result.code == 2
    assert "lock" in result.err.lower()
    assert (home / "storage/keys/env.key").read_bytes() == old_key
