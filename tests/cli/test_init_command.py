"""`tbot init`: a complete, valid home, and never over an existing one."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.cli.cli_support import Runner, audit_actions


def test_init_creates_a_home_that_validates_and_verifies(home: Path, run_tbot: Runner) -> None:
    assert run_tbot("config", "validate", "--home", home).code == 0
    assert run_tbot("ledger", "verify", "--home", home).code == 0
    for name in (
        "env",
        "login",
        "broker",
        "smtp",
        "screener_api",
        "acct_api",
        "alert",
        "network_config",
        "bot_identity",
    ):
        key = home / "storage/keys" / f"{name}.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, name
    assert (home / "storage/secrets/bot_identity.json.enc").exists()
    output = home / "output/TBOT_US_SIM_BOT01"
    for folder in ("ledgers", "logs", "trades", "summaries", "transfers", "transfers_ack"):
        assert (output / folder).is_dir(), folder
    assert (output / "ledgers/TBOT_US_SIM_BOT01_BOT_COA_v1.1.0.db").exists()


def test_init_writes_an_audit_row(home: Path, ledger_path: Path) -> None:
    assert audit_actions(ledger_path) == ["ledger.create", "home.init"]


def test_init_refuses_an_existing_home_and_changes_nothing(home: Path, run_tbot: Runner) -> None:
    before = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
    result = run_tbot("init", "--home", home)
    assert result.code == 2
    assert "already a bot home" in result.err
    after = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
    assert after == before


def test_init_refuses_an_identity_code_with_an_underscore(tmp_path: Path, run_tbot: Runner) -> None:
    result = run_tbot("init", "--home", tmp_path / "h", "--bot-id", "BAD_ID")
    assert result.code == 2
    assert "BOT_ID" in result.err
    assert not (tmp_path / "h" / ".env").exists()


def test_init_json_names_the_ledger(tmp_path: Path, run_tbot: Runner) -> None:
    result = run_tbot("init", "--home", tmp_path / "h", "--bot-id", "B7", "--json")
    assert result.code == 0
    payload = result.json()
    assert payload["bot_identity"] == "TBOT_US_SIM_B7"
    assert payload["ledger"].endswith("TBOT_US_SIM_B7_BOT_ledger.db")
