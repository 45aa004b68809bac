"""The seed chart of accounts and the COA file built from it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tbot.clock import FrozenClock
from tbot.config.identity import BotIdentity
from tbot.config.paths import BotPaths
from tbot.ledger.chart import (
    STANDARD_ACCOUNTS,
    STANDARD_CHART,
    Account,
    AccountType,
    Chart,
    Side,
)
from tbot.ledger.coa_file import create_coa_file, list_accounts, load_chart, read_coa_metadata
from tbot.ledger.errors import LedgerError, LedgerFileError

TOP_NODES = {"1000", "1100", "2000", "3000", "4000", "5000", "9100", "9200", "9300"}


SIMULATED_BROKER_ACCOUNTS = {"1070", "1115", "4045", "5045"}


def test_chart_has_every_seed_account() -> None:
    assert len(STANDARD_CHART) == 68
    codes = [account.code for account in STANDARD_ACCOUNTS]
    assert len(set(codes)) == 68
    assert len(set(codes) - SIMULATED_BROKER_ACCOUNTS) == 64


def test_simulated_broker_has_its_own_postable_accounts() -> None:
    names = {code: STANDARD_CHART[code].name for code in SIMULATED_BROKER_ACCOUNTS}
    assert all("Simulated Broker" in name for name in names.values())
    assert all(STANDARD_CHART.is_postable(code) for code in SIMULATED_BROKER_ACCOUNTS)


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("1000", "Bank and Cash Accounts"),
        ("1010", "Float Injection – From RIGD Group"),
        ("1030", "Alpaca – Cash"),
        ("1110", "Brokerage Accounts – Equities"),
        ("1114", "Robinhood – Equities"),
        ("2020", "Market Data Payables (Accrued Subscriptions)"),
        ("3040", "Accumulated Profit"),
        ("4090", "Float/Tax/Payroll Reserve Transfers"),
        ("5090", "Payroll Disbursements (Owner/Operator)"),
        ("9110", "Daily P&L Export – Manager.io Format"),
        ("9220", "Broker Confirm #"),
        ("9340", "Ledger Status: ACTIVE / DECOMMISSIONED"),
    ],
)
def test_accounts_keep_the_seed_names_exactly(code: str, name: str) -> None:
    assert STANDARD_CHART[code].name == name


def test_top_nodes_have_no_parent_and_others_do() -> None:
    for account in STANDARD_CHART:
        assert (account.parent is None) == (account.code in TOP_NODES), account.code


def test_brokerage_equities_are_grandchildren_of_assets() -> None:
    children = [a.code for a in STANDARD_CHART.children("1110")]
    assert children == ["1111", "1112", "1113", "1114", "1115"]
    assert STANDARD_CHART["1110"].parent == "1100"


@pytest.mark.parametrize(
    ("code", "kind", "cash_flow"),
    [
        ("1030", AccountType.ASSET, "Cash & Equivalents"),
        ("1112", AccountType.ASSET, "Investing Activities"),
        ("2010", AccountType.LIABILITY, "Operating Activities"),
        ("3010", AccountType.EQUITY, "Financing Activities"),
        ("4010", AccountType.INCOME, "Operating Activities"),
        ("5010", AccountType.EXPENSE, "Operating Activities"),
        ("9160", AccountType.CONTROL, "Control & Reporting"),
        ("9210", AccountType.CONTROL, "Control"),
        ("9330", AccountType.CONTROL, "Control"),
    ],
)
def test_children_inherit_type_and_cash_flow_class_from_their_top_node(
    code: str, kind: AccountType, cash_flow: str
) -> None:
    account = STANDARD_CHART[code]
    assert (account.type, account.cash_flow_class) == (kind, cash_flow)


def test_only_non_control_leaves_are_postable() -> None:
    assert STANDARD_CHART.is_postable("1111")
    assert not STANDARD_CHART.is_postable("1110")  # parent
    assert not STANDARD_CHART.is_postable("1000")  # top node
    assert not STANDARD_CHART.is_postable("9130")  # control leaf
    assert not STANDARD_CHART.is_postable("9999")  # unknown
    assert len(STANDARD_CHART.postable_codes()) == 68 - 9 - 1 - 18


def test_normal_balance_sides() -> None:
    assert STANDARD_CHART.normal_balance("1030") is Side.DEBIT
    assert STANDARD_CHART.normal_balance("5010") is Side.DEBIT
    assert STANDARD_CHART.normal_balance("2010") is Side.CREDIT
    assert STANDARD_CHART.normal_balance("3030") is Side.CREDIT
    assert STANDARD_CHART.normal_balance("4010") is Side.CREDIT
    assert STANDARD_CHART.normal_balance("9210") is None


def test_refusal_reasons_say_why() -> None:
    assert STANDARD_CHART.refusal_reason("1111") is None
    assert "parent" in (STANDARD_CHART.refusal_reason("1110") or "")
    assert "control" in (STANDARD_CHART.refusal_reason("9320") or "")
    assert STANDARD_CHART.refusal_reason("0000") == "unknown"


def test_chart_refuses_a_missing_parent() -> None:
    with pytest.raises(ValueError, match="parent 1000 is missing"):
        Chart([Account("1010", "Orphan", "1000", AccountType.ASSET, "Cash & Equivalents")])


def test_chart_refuses_a_duplicate_code() -> None:
    account = Account("1000", "Cash", None, AccountType.ASSET, "Cash & Equivalents")
    with pytest.raises(ValueError, match="twice"):
        Chart([account, account])


def test_coa_file_round_trips_the_chart(
    paths: BotPaths, identity: BotIdentity, clock: FrozenClock
) -> None:
    create_coa_file(paths.coa_db(), identity, clock)
    assert list_accounts(paths.coa_db()) == list(STANDARD_ACCOUNTS)
    assert load_chart(paths.coa_db()).postable_codes() == STANDARD_CHART.postable_codes()


def test_coa_file_metadata_row(paths: BotPaths, identity: BotIdentity, clock: FrozenClock) -> None:
    create_coa_file(paths.coa_db(), identity, clock, currency="CAD")
    metadata = read_coa_metadata(paths.coa_db())
    assert metadata.currency_code == "CAD"
    assert (metadata.entity_code, metadata.jurisdiction_code) == ("ACME", "US")
    assert metadata.coa_version == "v1.1.0"
    assert metadata.created_at_utc == clock.now() == metadata.last_updated_utc


def test_coa_file_tables_and_columns_have_the_fixed_names(
    paths: BotPaths, identity: BotIdentity, clock: FrozenClock
) -> None:
    create_coa_file(paths.coa_db(), identity, clock)
    connection = sqlite3.connect(paths.coa_db())
    columns = {
        table: [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]
        for table in ("coa_metadata", "coa_accounts")
    }
    connection.close()
    assert columns == {
        "coa_metadata": ["currency_code", "entity_code", "jurisdiction_code", "coa_version",
                         "created_at_utc", "last_updated_utc"],
        "coa_accounts": ["code", "name", "parent", "type", "cash_flow_class"],
    }


def test_coa_file_is_never_overwritten(
    paths: BotPaths, identity: BotIdentity, clock: FrozenClock
) -> None:
    create_coa_file(paths.coa_db(), identity, clock)
    before = paths.coa_db().read_bytes()
    with pytest.raises(LedgerFileError, match="already exists"):
        create_coa_file(paths.coa_db(), identity, clock, currency="EUR")
    assert paths.coa_db().read_bytes() == before
    assert sorted(p.name for p in paths.coa_db().parent.iterdir()) == [paths.coa_db().name]


def test_coa_file_refuses_a_bad_currency(
    paths: BotPaths, identity: BotIdentity, clock: FrozenClock
) -> None:
    with pytest.raises(LedgerError, match="ISO 4217"):
        create_coa_file(paths.coa_db(), identity, clock, currency="usd")
    assert not paths.coa_db().exists()


def test_loading_a_missing_coa_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    with pytest.raises(LedgerFileError, match=r"nope\.db does not exist"):
        load_chart(missing)
