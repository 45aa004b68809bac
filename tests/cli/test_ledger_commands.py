"""`tbot coa list`, `tbot ledger trial-balance` and `tbot ledger verify` on real files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tbot.admin.demo_home import create_demo_home
from tbot.clock import SystemClock
from tests.cli.cli_support import Runner, replace_setting


@pytest.fixture
def demo_home(tmp_path: Path) -> Path:
    """A home with the sample day of `tbot.admin.demo_home` posted."""
    target = tmp_path / "demo"
    create_demo_home(target, SystemClock(), actor="test")
    return target


def _ledger(home: Path) -> Path:
    return next((home / "output").glob("*/ledgers/*_BOT_ledger.db"))


def test_coa_list_shows_the_seed_chart(home: Path, run_tbot: Runner) -> None:
    accounts = run_tbot("coa", "list", "--home", home, "--json").json()["accounts"]
    by_code = {account["code"]: account for account in accounts}
    assert by_code["1111"]["name"] == "Alpaca – Equities"
    assert by_code["1111"]["parent"] == "1110"
    assert by_code["1110"]["postable"] is False
    assert by_code["9330"]["type"] == "control"


def test_trial_balance_of_the_demo_day_balances(demo_home: Path, run_tbot: Runner) -> None:
    payload = run_tbot("ledger", "trial-balance", "--home", demo_home, "--json").json()
    assert payload["balanced"] is True
    balances = {line["code"]: line["balance"] for line in payload["lines"]}
    assert balances["1070"] == "100184.30"  # 100,000 float + 185.00 gain - 0.70 fees
    assert balances["4045"] == "-185.00"


def test_trial_balance_as_of_a_date_before_the_day_is_empty(
    demo_home: Path, run_tbot: Runner
) -> None:
    payload = run_tbot(
        "ledger", "trial-balance", "--home", demo_home, "--as-of", "2001-01-01", "--json"
    ).json()
    assert payload["lines"] == []


def test_trial_balance_refuses_a_malformed_date(demo_home: Path, run_tbot: Runner) -> None:
    result = run_tbot("ledger", "trial-balance", "--home", demo_home, "--as-of", "21/11/2026")
    assert result.code == 2


def test_verify_names_an_unbalanced_entry_inserted_behind_the_api(
    demo_home: Path, run_tbot: Runner
) -> None:
    with sqlite3.connect(_ledger(demo_home)) as connection:
        connection.execute(
            "INSERT INTO ledger_entries (fitid, dtposted, trntype, memo, source, audit_id,"
            " entity_code, jurisdiction_code, broker_code, bot_id, currency_code, is_manual,"
            " created_at_utc) VALUES ('ROGUE-1', '2026-01-05T15:00:00.000000Z', 'DEBIT', 'x',"
            " 'sqlite3', 1, 'DEMO', 'US', 'SIM', 'BOT01', 'USD', 0,"
            " '2026-01-05T15:00:00.000000Z')"
        )
        entry_id = connection.execute("SELECT id FROM ledger_entries WHERE fitid='ROGUE-1'")
        rogue = entry_id.fetchone()[0]
        connection.executemany(
            "INSERT INTO ledger_postings (entry_id, account_code, amount, currency_code)"
            " VALUES (?, ?, ?, 'USD')",
            [(rogue, "1070", 5_000_000), (rogue, "3010", -4_000_000)],
        )
    result = run_tbot("ledger", "verify", "--home", demo_home)
    assert result.code == 1
    assert "ROGUE-1" in result.out
    payload = run_tbot("ledger", "verify", "--home", demo_home, "--json").json()
    assert payload["ok"] is False
    assert any("ROGUE-1" in problem["where"] for problem in payload["problems"])


def test_read_commands_work_while_the_bot_config_is_broken(
    demo_home: Path, run_tbot: Runner
) -> None:
    replace_setting(demo_home, "LOG_FORMAT", "xml")
    assert run_tbot("config", "validate", "--home", demo_home).code == 2
    assert run_tbot("ledger", "verify", "--home", demo_home).code == 0
    assert run_tbot("ledger", "trial-balance", "--home", demo_home).code == 0
    assert run_tbot("coa", "list", "--home", demo_home).code == 0


def test_people_read_the_chart_the_trial_balance_and_the_verdict(
    demo_home: Path, run_tbot: Runner
) -> None:
    output = "".join(
        run_tbot(*command, "--home", demo_home).out
        for command in (("coa", "list"), ("ledger", "trial-balance"), ("ledger", "verify"))
    )
    for text in ("Chart of accounts", "Trial balance", "Alpaca – Equities", "ledger verified"):
        assert text in output, text


def test_the_console_script_reports_a_missing_home_without_a_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "tbot", "ledger", "verify", "--home", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert ".env" in result.stderr
