"""Lot checkpoints: the lots after a restart come from the newest checkpoint and the
entries after it, equal to the live lots; nothing new means no new checkpoint; a checkpoint
that cannot be read is not trusted."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from tbot.admin.bot_home import BotHome
from tbot.booking.fifo_lots import LotBook
from tbot.booking.fill_entries import FillBooker
from tbot.booking.lot_checkpoint import LOTS_CHECKPOINT_ACTION, checkpoint_details
from tbot.broker.models import BrokerFill
from tbot.clock import FrozenClock
from tbot.engine.ledger_desk import LedgerDesk
from tbot.ledger.posting import LedgerWriter

from .conftest import OPEN_LONG, FillFactory

EQUITIES = "1115"


@pytest.fixture
def desk(home: BotHome, clock: FrozenClock) -> Iterator[LedgerDesk]:
    """The engine's door into the ledger, open for the test."""
    opened = LedgerDesk(home.paths, clock, home.backup_policy)
    opened.open_blocking()
    yield opened
    opened.close_blocking()


def on_desk(desk: LedgerDesk, function: Callable[..., Any], *args: Any) -> Any:
    """`function(*args)` on the desk's ledger thread, as the engine calls it."""
    return asyncio.run(desk.run(function, *args))


@pytest.fixture
def book_on(desk: LedgerDesk, booker: FillBooker) -> Callable[[BrokerFill], None]:
    def run(fill: BrokerFill) -> None:
        on_desk(desk, desk.post, booker.entry_for_fill(fill, OPEN_LONG), "test")
        booker.commit(fill)

    return run


def checkpoints(home: BotHome) -> list[str]:
    with sqlite3.connect(f"file:{home.paths.ledger_db}?mode=ro", uri=True) as ledger:
        return [details for (details,) in ledger.execute(
            "SELECT details FROM audit_trail WHERE action = ? ORDER BY id",
            (LOTS_CHECKPOINT_ACTION,))]


def test_lots_from_a_checkpoint_and_the_entries_after_it_equal_the_live_lots(
    home: BotHome, desk: LedgerDesk, booker: FillBooker, make_fill: FillFactory,
    book_on: Callable[[BrokerFill], None],
) -> None:
    book_on(make_fill("buy", "3", "33.333333333", fill_id="B1"))
    book_on(make_fill("buy", "2.5", "401.37", symbol="MSFT", fill_id="M1"))
    book_on(make_fill("buy", "7", "14.285714286", fill_id="B2"))
    assert on_desk(desk, desk.write_checkpoints, EQUITIES)
    # after the checkpoint: a sale across both AAPL lots, a new lot, MSFT closed
    book_on(make_fill("sell", "5", "20", fill_id="S1"))
    book_on(make_fill("buy", "6", "16.5", fill_id="B3"))
    book_on(make_fill("sell", "2.5", "405", symbol="MSFT", fill_id="M2"))

    rebuilt = LotBook.from_ledger(home.paths.ledger_db, EQUITIES)

    assert rebuilt == booker.lots
    assert rebuilt.open_symbols() == ("AAPL",)
    assert rebuilt.remaining_fraction("AAPL", "B2") == booker.lots.remaining_fraction("AAPL", "B2")
    (written,) = checkpoints(home)
    assert '"through_entry_id":' in written and '"MSFT"' in written


def test_the_replay_starts_after_the_newest_checkpoint(
    home: BotHome, desk: LedgerDesk, make_fill: FillFactory,
    book_on: Callable[[BrokerFill], None],
) -> None:
    """What a checkpoint says stands for every entry up to it: a checkpoint (written here
    by hand) that holds no lots hides the purchase before it."""
    book_on(make_fill("buy", "3", "10", fill_id="B1"))
    on_desk(desk, desk.record_event, LOTS_CHECKPOINT_ACTION, "test", EQUITIES,
            checkpoint_details(99, []))  # through entry 99: past the ledger's end, ignored
    assert LotBook.from_ledger(home.paths.ledger_db, EQUITIES).open_symbols() == ("AAPL",)
    on_desk(desk, desk.record_event, LOTS_CHECKPOINT_ACTION, "test", EQUITIES,
            checkpoint_details(1, []))
    assert LotBook.from_ledger(home.paths.ledger_db, EQUITIES).open_symbols() == ()
    book_on(make_fill("buy", "2", "10", symbol="MSFT", fill_id="M1"))
    assert LotBook.from_ledger(home.paths.ledger_db, EQUITIES).open_symbols() == ("MSFT",)


def test_no_new_checkpoint_when_nothing_was_booked_since_the_last(
    home: BotHome, desk: LedgerDesk, make_fill: FillFactory,
    book_on: Callable[[BrokerFill], None],
) -> None:
    book_on(make_fill("buy", "3", "10", fill_id="B1"))
    assert len(on_desk(desk, desk.write_checkpoints, EQUITIES)) == 2  # lots and balances
    assert on_desk(desk, desk.write_checkpoints, EQUITIES) == []
    book_on(make_fill("sell", "3", "11", fill_id="S1"))
    assert len(on_desk(desk, desk.write_checkpoints, EQUITIES)) == 2
    assert len(checkpoints(home)) == 2


def test_a_checkpoint_that_cannot_be_read_is_not_trusted(
    home: BotHome, desk: LedgerDesk, make_fill: FillFactory,
    book_on: Callable[[BrokerFill], None], caplog: pytest.LogCaptureFixture,
) -> None:
    book_on(make_fill("buy", "3", "10", fill_id="B1"))
    on_desk(desk, desk.record_event, LOTS_CHECKPOINT_ACTION, "test", EQUITIES,
            {"through_entry_id": 1, "lots": [["AAPL", "B1", 3, "10", "x", False, "3"]]})
    with caplog.at_level(logging.WARNING, logger="tbot.booking.lots"):
        rebuilt = LotBook.from_ledger(home.paths.ledger_db, EQUITIES)
    assert rebuilt.position("AAPL").quantity == Decimal(3)
    assert "cannot be read" in caplog.text and "from the start" in caplog.text


def test_a_reversal_after_the_checkpoint_withdraws_a_lot_opened_before_it(
    home: BotHome, desk: LedgerDesk, clock: FrozenClock, make_fill: FillFactory,
    book_on: Callable[[BrokerFill], None],
) -> None:
    book_on(make_fill("buy", "3", "10", fill_id="B1"))
    book_on(make_fill("buy", "2", "10", symbol="MSFT", fill_id="M1"))
    on_desk(desk, desk.write_checkpoints, EQUITIES)
    desk.close_blocking()
    with LedgerWriter(home.paths, clock, home.backup_policy) as writer:
        writer.reverse("B1", new_fitid="B1-REV", memo="booked in error", actor="test")
    rebuilt = LotBook.from_ledger(home.paths.ledger_db, EQUITIES)
    assert rebuilt.open_symbols() == ("MSFT",)
