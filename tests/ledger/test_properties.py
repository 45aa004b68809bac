"""Properties: any balanced entry posts and verifies clean; any unbalanced one is refused.

Amounts, accounts, currencies and free text (memos, symbols: any printable Unicode) are
random, so these also pin that the writer's canonical JSON is byte for byte what SQLite
builds when verify recomputes the digests.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tbot.clock import FrozenClock
from tbot.config.identity import BotIdentity
from tbot.config.paths import BotPaths
from tbot.ledger.chart import STANDARD_CHART
from tbot.ledger.coa_file import create_coa_file
from tbot.ledger.errors import UnbalancedEntryError
from tbot.ledger.posting import (
    BackupPolicy,
    EntryDraft,
    LedgerWriter,
    PostingDraft,
    create_ledger_file,
)
from tbot.ledger.verify import verify_ledger

POSTABLE = sorted(STANDARD_CHART.postable_codes())
# Drawn from printable characters (str.isprintable's categories left out, the space kept),
# so that few texts are thrown away: filtering any text made Hypothesis's health check
# fail now and then on a fresh machine.
printable_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp",
                                                 "Zs"), whitelist_characters=" "),
    max_size=40).filter(str.isprintable)
amounts = st.decimals(min_value=Decimal("-1000000000"), max_value=Decimal("1000000000"),
                      places=6, allow_nan=False, allow_infinity=False).filter(bool)
legs = st.lists(
    st.tuples(st.sampled_from(POSTABLE), amounts, st.sampled_from(["USD", "CAD", "EUR"]),
              st.none() | st.decimals(min_value=-10**6, max_value=10**6, places=9,
                                      allow_nan=False, allow_infinity=False),
              st.none() | printable_text.filter(bool), st.none() | printable_text),
    min_size=1, max_size=6,
)


@dataclass
class Ledger:
    """A long-lived ledger for one property: examples add entries to it."""

    paths: BotPaths
    writer: LedgerWriter
    numbers: Iterator[int]

    def fitid(self) -> str:
        """A FITID never used before in this ledger."""
        return f"PROP-{next(self.numbers)}"

    def entry_count(self) -> int:
        """Entries committed so far."""
        return verify_ledger(self.paths.ledger_db, self.paths.coa_db(), parallel=False).entries


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    """One ledger shared by the examples of this module (hypothesis runs many per test)."""
    identity = BotIdentity(entity_code="PROP", jurisdiction_code="US", broker_code="SIM",
                           bot_id="P1")
    clock = FrozenClock(datetime(2026, 3, 2, 14, 30, tzinfo=UTC))
    paths = BotPaths(tmp_path_factory.mktemp("property-home"), identity)
    create_coa_file(paths.coa_db(), identity, clock)
    create_ledger_file(paths, clock)
    with LedgerWriter(paths, clock, BackupPolicy(retention_days=1, keep_per_day=2)) as writer:
        yield Ledger(paths, writer, itertools.count())


def _balanced(raw_legs: list[tuple]) -> tuple[PostingDraft, ...]:  # type: ignore[type-arg]
    """The legs plus one closing leg per currency that does not sum to zero."""
    postings = [PostingDraft(account, amount, currency, quantity, symbol, memo)
                for account, amount, currency, quantity, symbol, memo in raw_legs]
    totals: dict[str, Decimal] = {}
    for posting in postings:
        totals[posting.currency] = totals.get(posting.currency, Decimal(0)) + posting.amount
    for currency, total in sorted(totals.items()):
        if total:
            postings.append(PostingDraft("1030", -total, currency))
    if len(postings) < 2:  # a single leg of zero total cannot happen: amounts are non-zero
        postings.append(PostingDraft("1030", -postings[0].amount, postings[0].currency))
    return tuple(postings)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.filter_too_much])
@given(raw_legs=legs, memo=printable_text, trntype=st.sampled_from(["BUY", "SELL", "XFER"]))
def test_random_balanced_entries_post_and_verify_clean(
    ledger: Ledger, raw_legs: list[tuple], memo: str, trntype: str  # type: ignore[type-arg]
) -> None:
    draft = EntryDraft(ledger.fitid(), datetime(2026, 3, 2, tzinfo=UTC), trntype, memo,
                       _balanced(raw_legs))
    ledger.writer.post(draft, actor="property")
    report = verify_ledger(ledger.paths.ledger_db, ledger.paths.coa_db(), parallel=False)
    assert report.problems == []


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.filter_too_much])
@given(raw_legs=legs, offset=amounts)
def test_random_unbalanced_entries_are_always_refused(
    ledger: Ledger, raw_legs: list[tuple], offset: Decimal  # type: ignore[type-arg]
) -> None:
    postings = list(_balanced(raw_legs))
    first = postings[0]
    postings[0] = PostingDraft(first.account, first.amount + offset, first.currency)
    if postings[0].amount == 0:  # a zero leg is refused for another reason; skip it
        postings[0] = PostingDraft(first.account, first.amount + 2 * offset, first.currency)
    before = ledger.entry_count()
    with pytest.raises(UnbalancedEntryError) as refused:
        ledger.writer.post(EntryDraft(ledger.fitid(), datetime(2026, 3, 2, tzinfo=UTC),
                                      "BUY", "unbalanced", tuple(postings)), actor="property")
    assert refused.value.imbalance[first.currency] != 0
    assert ledger.entry_count() == before
