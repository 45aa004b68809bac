"""The console's ledger reader against real ledger files: its figures agree with
`tbot.ledger.reports`, its SQL-paged sources return exactly what a full query returns from
either end and under a filter, an entry comes with its postings and audit rows, fills come
back as `FillRow`s, and a file that is not a ledger is refused clearly."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tbot.admin.bot_home import BotHome
from tbot.admin.demo_home import create_demo_home
from tbot.clock import FrozenClock
from tbot.ledger.errors import LedgerError, LedgerFileError
from tbot.ledger.posting import EntryDraft, LedgerWriter, PostingDraft, TradeDraft
from tbot.ledger.reports import trial_balance
from tui.ledger.ledger_reader import LedgerReader, currency_totals
from tui.ledger.sources import JournalSource, LedgerSource, entry_id_of_key, like_pattern
from tui.widgets.grid_source import GridRow, cell_plain_text

NOW = datetime(2026, 11, 20, 15, 1, 3, tzinfo=UTC)
DAY = datetime(2026, 11, 18, 14, 30, tzinfo=UTC)
SYMBOLS = ("AAPL", "MSFT", "SQQQ", "F", "INTC")
FILLS = 137
"""Enough entries for many pages of 7 rows, and an odd count so the middle is exact."""


def fill_drafts(count: int, first: int = 0) -> list[EntryDraft]:
    """Buys with a fee booked as a second cash posting (one entry, two postings to 1070),
    sells with a gain; every 9th is back-dated, so time order is not recording order."""
    drafts = []
    for number in range(first, first + count):
        symbol = SYMBOLS[number % len(SYMBOLS)]
        shares = Decimal(number % 50 + 1)
        fill_price = Decimal(100 + number) / 4
        cost = shares * fill_price
        moment = DAY + timedelta(minutes=number)
        if number % 9 == 4:
            moment -= timedelta(days=1, minutes=7 * number)
        fitid = f"FILL-{number:05d}"
        if number % 2 == 0:
            postings = (
                PostingDraft("1115", cost, quantity=shares, symbol=symbol),
                PostingDraft("5045", Decimal("0.35"), memo="commission"),
                PostingDraft("1070", -cost),
                PostingDraft("1070", Decimal("-0.35")),
            )
            trade = TradeDraft("BUY", "open", symbol, "long", shares, fill_price,
                               Decimal("-0.35"), "sim")
            drafts.append(EntryDraft(fitid, moment, "BUY", f"buy {shares} {symbol} 100%_off",
                                     postings, trade=trade))
        else:
            gain = shares / 4  # sold 0.25 above the fill price
            postings = (
                PostingDraft("1070", cost + gain),
                PostingDraft("1115", -cost, quantity=-shares, symbol=symbol),
                PostingDraft("4045", -gain),
            )
            trade = TradeDraft("SELL", "close", symbol, "long", shares, fill_price, gain,
                               "sim", exit_price=fill_price + Decimal("0.25"))
            drafts.append(EntryDraft(fitid, moment, "SELL", f"sell {shares} {symbol}",
                                     postings, trade=trade))
    return drafts


def make_home(root: Path) -> BotHome:
    """A demo home (3 entries) plus FILLS fills, a reversal and an event naming an entry."""
    clock = FrozenClock(NOW)
    bot = create_demo_home(root, clock, actor="test")
    with LedgerWriter(bot.paths, clock, bot.backup_policy) as writer:
        writer.post_batch(fill_drafts(FILLS), actor="test")
        writer.reverse("FILL-00010", new_fitid="FILL-00010-REV", memo="wrong size",
                       actor="operator")
        writer.record_event("entry.note", actor="operator", subject="FILL-00011",
                            details={"note": "checked against the broker"})
    return bot


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> BotHome:
    """One shared home: these tests only read it."""
    return make_home(tmp_path_factory.mktemp("ledger-reader") / "home")


@pytest.fixture
def reader(bot: BotHome) -> Iterator[LedgerReader]:
    opened = LedgerReader.open(bot.paths.ledger_db)
    yield opened
    opened.close()


def raw(bot: BotHome, sql: str, parameters: tuple[object, ...] = ()) -> list[tuple]:
    """Rows of `sql` on the ledger, read with plain sqlite3 (the reference)."""
    with sqlite3.connect(f"file:{bot.paths.ledger_db}?mode=ro", uri=True) as connection:
        return connection.execute(sql, parameters).fetchall()


def all_rows(source: LedgerSource, page: int) -> list[GridRow]:
    """Every row of `source`, read in pages of `page` from the top."""
    count = source.count()
    return [row for offset in range(0, count, page) for row in source.rows(offset, page)]


def plain(row: GridRow) -> list[str]:
    return [cell_plain_text(cell) for cell in row.cells]


# -- figures --------------------------------------------------------------------------------


def test_the_trial_balance_matches_the_ledger_report_and_balances(
    bot: BotHome, reader: LedgerReader
) -> None:
    report = trial_balance(bot.paths.ledger_db, bot.paths.coa_db())
    rows = reader.trial_balance()
    assert [(r.code, r.name, r.type, r.currency, r.debit, r.credit, r.balance) for r in rows] \
        == [(line.code, line.name, line.type, line.currency, line.debit, line.credit,
             line.balance) for line in report.lines]
    counts = dict(raw(bot, "SELECT account_code, COUNT(*) FROM ledger_postings "
                           "GROUP BY account_code"))
    assert {row.code: row.postings for row in rows} == counts
    totals = currency_totals(rows)
    assert totals == report.totals
    assert [total.balanced for total in totals] == [True]
    assert reader.entry_count() == 3 + FILLS + 1


def test_the_trial_balance_adds_what_was_posted_since_it_was_computed(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    reader = LedgerReader.open(home.paths.ledger_db)
    try:
        before = {row.code: row for row in reader.trial_balance()}
        clock = FrozenClock(NOW)
        with LedgerWriter(home.paths, clock, home.backup_policy) as writer:
            writer.post_batch(fill_drafts(4, first=FILLS), actor="test")
        after = reader.trial_balance()
        report = trial_balance(home.paths.ledger_db, home.paths.coa_db())
        assert [(r.code, r.debit, r.credit) for r in after] == \
            [(line.code, line.debit, line.credit) for line in report.lines]
        assert {row.code: row.postings for row in after}["5045"] == before["5045"].postings + 2
    finally:
        reader.close()


def test_an_account_opened_from_the_trial_balance_counts_only_later_postings(
    tmp_path: Path,
) -> None:
    home = make_home(tmp_path / "home")
    reader = LedgerReader.open(home.paths.ledger_db)
    try:
        counted = {row.code: row.postings for row in reader.trial_balance()}
        with LedgerWriter(home.paths, FrozenClock(NOW), home.backup_policy) as writer:
            writer.post_batch(fill_drafts(4, first=FILLS), actor="test")
        for code in ("1070", "5045", "9999"):
            expected = raw(home, "SELECT COUNT(*) FROM ledger_postings WHERE account_code = ?",
                           (code,))[0][0]
            source = reader.account_source(code)
            # Seeded by the trial balance's count, plus what was posted after it.
            assert source.count() == expected
            assert expected >= counted.get(code, 0)
            assert len(all_rows(source, 7)) == expected
    finally:
        reader.close()


# -- the journal ----------------------------------------------------------------------------


def test_the_journal_pages_from_both_ends_as_a_full_query_orders_it(
    bot: BotHome, reader: LedgerReader
) -> None:
    expected = [str(entry_id) for (entry_id,) in raw(
        bot, "SELECT id FROM ledger_entries ORDER BY dtposted DESC, id DESC")]
    source = reader.journal_source()
    assert source.count() == len(expected)
    assert [row.key for row in all_rows(source, 7)] == expected
    # Any window, near the top, in the middle, at the very end, and past it.
    for offset in (0, 1, len(expected) // 2 - 3, len(expected) - 5, len(expected) - 1):
        assert [row.key for row in source.rows(offset, 6)] == expected[offset : offset + 6]
    assert source.rows(len(expected), 10) == []
    for position, key in enumerate(expected):
        assert source.index_of(key) == position
    assert source.index_of("999999") is None


def test_a_journal_row_shows_time_fitid_type_memo_debits_and_posting_count(
    reader: LedgerReader,
) -> None:
    source = reader.journal_source()
    rows = {plain(row)[1]: plain(row) for row in all_rows(source, 50)}
    assert rows["DEMO-TRADE-0001-BUY"] == [
        "2026-11-19 14:52:00Z", "DEMO-TRADE-0001-BUY", "BUY",
        "Opening-range breakout entry: buy 100 AAPL @ 187.25", "18,725.35", "3"]
    assert rows["FILL-00002"][4:] == ["76.85", "4"]  # 3 × 25.50 + 0.35; four postings


def test_an_account_pages_its_postings_newest_first_from_both_ends(
    bot: BotHome, reader: LedgerReader
) -> None:
    expected = [f"{entry}/{posting}" for posting, entry in raw(
        bot, "SELECT id, entry_id FROM ledger_postings WHERE account_code = '1070' "
             "ORDER BY id DESC")]
    source = reader.account_source("1070")
    assert source.count() == len(expected)
    assert [row.key for row in all_rows(source, 9)] == expected
    for offset in (0, len(expected) // 2, len(expected) - 4):
        assert [row.key for row in source.rows(offset, 4)] == expected[offset : offset + 4]
    for position, key in enumerate(expected):
        assert source.index_of(key) == position
    assert entry_id_of_key(expected[0]) == int(expected[0].split("/")[0])
    # A buy posts to cash twice (cost and fee): two rows, one entry, signed Dr/Cr.
    buy = [plain(row) for row in all_rows(source, 50) if plain(row)[1] == "FILL-00000"]
    assert [row[4] for row in buy] == ["0.35 Cr", "25.00 Cr"]  # newest (the fee) first
    assert source.index_of("1/999999") is None  # not a posting of this account


def test_the_fills_page_the_trades_table_newest_first(
    bot: BotHome, reader: LedgerReader
) -> None:
    expected = [str(entry) for (entry,) in raw(
        bot, "SELECT entry_id FROM trades ORDER BY entry_id DESC")]
    source = reader.fills_source()
    rows = all_rows(source, 11)
    assert [row.key for row in rows] == expected
    assert [row.key for row in source.rows(len(expected) - 3, 10)] == expected[-3:]
    sell = next(plain(row) for row in rows if plain(row)[7] == "FILL-00001")
    # time, symbol, side, size, fill price (the exit of a closing leg), pnl, strategy
    assert sell == ["2026-11-18 14:31:00Z", "MSFT", "SELL", "2", "25.50", "+0.50", "close",
                    "FILL-00001"]


def test_pages_of_one_count_stay_consistent_while_the_engine_writes(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    reader = LedgerReader.open(home.paths.ledger_db)
    try:
        source = reader.journal_source()
        counted = source.count()
        before = [row.key for row in all_rows(source, 10)]
        with LedgerWriter(home.paths, FrozenClock(NOW), home.backup_policy) as writer:
            writer.post_batch(fill_drafts(3, first=FILLS + 10), actor="test")
        # Until the grid re-counts, the view is the ledger as it was counted.
        assert [row.key for offset in range(0, counted, 10)
                for row in source.rows(offset, 10)] == before
        # Re-counted, it shows the new entries where their DTPOSTED puts them.
        assert source.count() == counted + 3
        expected = [str(entry) for (entry,) in raw(
            home, "SELECT id FROM ledger_entries ORDER BY dtposted DESC, id DESC")]
        assert [row.key for row in all_rows(source, 10)] == expected
        assert set(expected) - set(before) == {str(counted + 1), str(counted + 2),
                                               str(counted + 3)}
    finally:
        reader.close()


def test_paging_reads_through_indexes_and_never_sorts(reader: LedgerReader) -> None:
    """Every statement a grid causes (counts, skips from either end, pages, positions) is
    planned on an index: no table scan, no temporary sort, whatever the ledger's size."""
    connection = reader.connection()
    statements: list[str] = []
    connection.set_trace_callback(statements.append)
    try:
        for source, key in ((reader.journal_source(), "7"),
                            (reader.account_source("1070"), "7/21"),
                            (reader.fills_source(), "7")):
            count = source.count()
            for offset in (0, count // 2, count - 3):
                source.rows(offset, 3)
            source.index_of(key)
            source.count()
    finally:
        connection.set_trace_callback(None)
    assert len(statements) > 20
    for statement in statements:
        plan = [row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {statement}")]
        for step in plan:
            assert "TEMP B-TREE" not in step, (statement, plan)
            if step.startswith("SCAN") and "CONSTANT ROW" not in step:
                assert "INDEX" in step, (statement, plan)


# -- filters --------------------------------------------------------------------------------


def test_a_filter_keeps_the_rows_whose_fitid_memo_or_type_contain_it(
    bot: BotHome, reader: LedgerReader
) -> None:
    source = reader.journal_source()
    total = source.count()
    source.set_filter("msft")
    expected = [str(entry) for (entry,) in raw(
        bot, "SELECT id FROM ledger_entries WHERE fitid LIKE '%msft%' OR memo LIKE '%msft%' "
             "OR trntype LIKE '%msft%' ORDER BY dtposted DESC, id DESC")]
    assert expected and source.filter_text == "msft" and not source.searching
    assert source.count() == len(expected)
    assert [row.key for row in all_rows(source, 4)] == expected
    assert source.index_of(expected[-1]) == len(expected) - 1
    assert source.index_of("1") is None  # the float injection does not match
    source.set_filter("100%_")  # wildcards are taken literally
    assert source.count() == (FILLS + 1) // 2
    source.set_filter("")
    assert source.count() == total


def test_a_filter_scan_runs_through_the_background_runner(reader: LedgerReader) -> None:
    source = reader.fills_source()
    source.count()
    pending: list[Callable[[], None]] = []
    source.run_in_background = pending.append
    source.set_filter("SQQQ")
    assert source.searching and source.count() == 0 and source.rows(0, 10) == []
    worker = threading.Thread(target=pending.pop())
    worker.start()
    worker.join()
    assert not source.searching
    assert source.count() == len([n for n in range(FILLS) if SYMBOLS[n % 5] == "SQQQ"])
    assert all(plain(row)[1] == "SQQQ" for row in source.rows(0, 100))


def test_a_newer_filter_discards_the_older_scan(reader: LedgerReader) -> None:
    source = reader.account_source("1115")
    source.count()
    pending: list[Callable[[], None]] = []
    source.run_in_background = pending.append
    source.set_filter("AAPL")
    source.set_filter("INTC")
    stale, current = pending
    stale()
    assert source.searching
    current()
    rows = source.rows(0, 100)
    assert rows and all("INTC" in plain(row)[3] for row in rows)


def test_a_failed_scan_ends_the_search_and_says_why(reader: LedgerReader) -> None:
    class BrokenScan(JournalSource):
        def _scan(self, connection: sqlite3.Connection, high_water: int,
                  pattern: str) -> list[int]:
            raise sqlite3.OperationalError("disk I/O error")

    source = BrokenScan(reader)
    source.set_filter("AAPL")
    assert not source.searching
    assert source.count() == 0 and source.rows(0, 10) == []
    assert source.scan_error == "disk I/O error"
    source.set_filter("")
    assert source.scan_error is None and source.count() == reader.entry_count()


def test_like_patterns_escape_wildcards() -> None:
    assert like_pattern("50%_a\\b") == "%50\\%\\_a\\\\b%"


# -- one entry, fills -----------------------------------------------------------------------


def test_an_entry_comes_with_its_postings_trade_and_audit_rows(
    bot: BotHome, reader: LedgerReader
) -> None:
    (entry_id,) = raw(bot, "SELECT id FROM ledger_entries WHERE fitid = 'FILL-00010'")[0]
    detail = reader.entry_detail(entry_id)
    assert (detail.fitid, detail.trntype, detail.source) == ("FILL-00010", "BUY", "engine")
    assert detail.reversed_by_fitid == "FILL-00010-REV" and detail.reverses_fitid is None
    assert [(p.account_code, p.debit, p.credit) for p in detail.postings] == [
        ("1115", Decimal("302.500000"), None),
        ("5045", Decimal("0.350000"), None),
        ("1070", None, Decimal("302.500000")),
        ("1070", None, Decimal("0.350000")),
    ]
    assert detail.postings[0].quantity == Decimal(11) and detail.postings[0].symbol == "AAPL"
    assert detail.postings[0].account_name == "Simulated Broker – Equities"
    assert detail.trade is not None and detail.trade.entry_price == Decimal("27.5")
    # Its own audit row, then the reversal's.
    assert [(a.action, a.subject) for a in detail.audit_rows] == [
        ("entry.post", "FILL-00010"), ("entry.reverse", "FILL-00010-REV")]
    assert detail.audit_rows[0].id == detail.audit_id
    assert f'"entry_id":{entry_id}' in detail.audit_rows[0].details

    reversal = reader.entry_detail(entry_id + FILLS - 10)
    assert reversal.fitid == "FILL-00010-REV" and reversal.is_manual
    assert reversal.reverses_fitid == "FILL-00010" and reversal.trade is None
    assert [p.amount for p in reversal.postings] == [-p.amount for p in detail.postings]


def test_an_event_naming_an_entry_is_among_its_audit_rows(
    bot: BotHome, reader: LedgerReader
) -> None:
    (entry_id,) = raw(bot, "SELECT id FROM ledger_entries WHERE fitid = 'FILL-00011'")[0]
    audit = reader.entry_detail(entry_id).audit_rows
    assert [(a.action, a.actor) for a in audit] == [("entry.post", "test"),
                                                     ("entry.note", "operator")]


def test_an_unknown_entry_is_refused(reader: LedgerReader) -> None:
    with pytest.raises(LedgerError, match="no entry 99999"):
        reader.entry_detail(99999)


def test_recent_fills_come_newest_first_with_price_and_fee(reader: LedgerReader) -> None:
    fills = reader.recent_fills(3)
    assert [fill.fill_id for fill in fills] == ["FILL-00136", "FILL-00135", "FILL-00134"]
    buy, sell = fills[0], fills[1]
    assert (buy.side, buy.symbol, buy.quantity, buy.price, buy.fee, buy.strategy) == (
        "buy", "MSFT", Decimal(37), Decimal("59"), Decimal("0.35"), "open")
    assert (sell.side, sell.symbol, sell.price, sell.fee) == ("sell", "AAPL", Decimal(59), 0)
    assert buy.filled_at == DAY + timedelta(minutes=136)
    assert len(reader.recent_fills()) == 50


# -- files, names, threads ------------------------------------------------------------------


def test_a_missing_ledger_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(LedgerFileError, match="does not exist"):
        LedgerReader.open(tmp_path / "nowhere_BOT_ledger.db")


def test_a_file_that_is_not_a_database_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "X_BOT_ledger.db"
    path.write_bytes(b"certainly not SQLite" * 100)
    with pytest.raises(LedgerFileError, match="is not a ledger file"):
        LedgerReader.open(path)


def test_a_database_without_the_ledger_tables_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "X_BOT_ledger.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE something (x)")
    with pytest.raises(LedgerFileError, match="no table coa_metadata, audit_trail"):
        LedgerReader.open(path)


def test_names_come_from_the_coa_file_beside_the_ledger_or_the_standard_chart(
    bot: BotHome, tmp_path: Path
) -> None:
    with_coa = LedgerReader.open(bot.paths.ledger_db)
    assert with_coa.chart_source == str(bot.paths.coa_db())
    with_coa.close()
    alone = tmp_path / bot.paths.ledger_db.name
    shutil.copy(bot.paths.ledger_db, alone)
    reader = LedgerReader.open(alone)
    try:
        assert reader.chart_source == "the standard chart v1.1.0"
        assert reader.account_name("1070") == "Simulated Broker – Cash"
        assert reader.account_name("9999") == "(not in the chart of accounts)"
    finally:
        reader.close()


def test_worker_threads_read_with_their_own_read_only_connections(
    reader: LedgerReader,
) -> None:
    results: dict[str, object] = {}

    def work() -> None:
        results["connection"] = reader.connection()
        results["balances"] = reader.trial_balance()
        results["page"] = [row.key for row in reader.journal_source().rows(0, 5)]
        reader.release_thread_connection()

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    assert results["connection"] is not reader.connection()
    assert results["balances"] == reader.trial_balance()
    assert results["page"] == [row.key for row in reader.journal_source().rows(0, 5)]
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.connection().execute("DELETE FROM coa_metadata")


def test_closing_the_reader_interrupts_a_worker_still_querying(bot: BotHome) -> None:
    reader = LedgerReader.open(bot.paths.ledger_db)
    started = threading.Event()
    outcome: list[BaseException] = []

    def endless_scan() -> None:
        connection = reader.connection()
        started.set()
        try:
            connection.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
                "SELECT COUNT(*) FROM n"
            ).fetchone()
        except sqlite3.OperationalError as error:
            outcome.append(error)

    worker = threading.Thread(target=endless_scan, daemon=True)
    worker.start()
    assert started.wait(5)
    for _ in range(50):  # until the statement has started, an interrupt is a no-op
        reader.close()
        worker.join(0.1)
        if not worker.is_alive():
            break
    assert not worker.is_alive()
    assert "interrupted" in str(outcome[0])


def test_a_closed_reader_refuses_queries(bot: BotHome) -> None:
    reader = LedgerReader.open(bot.paths.ledger_db)
    reader.close()
    with pytest.raises(LedgerFileError, match="closed"):
        reader.entry_count()
