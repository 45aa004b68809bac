"""The per-day fundamentals cache: a restart asks nothing twice (counted at the fake
Finnhub), only new symbols are asked, a corrupt file is set aside and refetched."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tbot.market.finnhub import FinnhubFundamentals
from tbot.market.fundamentals import Fundamentals, FundamentalsUnavailable
from tbot.market.fundamentals_cache import CachedFundamentals, fundamentals_cache_file
from tests.market.fake_finnhub import METRIC, FakeFinnhub, Reply

DAY = date(2026, 11, 20)
KEY = "fh-cache-key"


@pytest.fixture
def fake() -> Iterator[FakeFinnhub]:
    with FakeFinnhub(KEY) as server:
        server.add_company("AAPL", {"peTTM": 28.5, "totalDebt/totalEquityQuarterly": 1.87,
                                    "marketCapitalization": 2800000})
        server.add_company("KO", {"peTTM": 24.1, "marketCapitalization": 301000})
        server.add_company("F", {"peTTM": None, "totalDebt/totalEquityAnnual": 3.4,
                                 "marketCapitalization": 48500.25})  # fmt: skip
        yield server


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "home" / "data" / "cache"


@pytest.fixture
def open_cache(fake: FakeFinnhub, cache_dir: Path):
    """`open_cache()`: a fresh CachedFundamentals over a fresh client (a restart)."""
    clients: list[FinnhubFundamentals] = []

    def build(**options: object) -> CachedFundamentals:
        client = FinnhubFundamentals(KEY, fake.base_url, timeout=2, sleep=lambda s: None)
        clients.append(client)
        return CachedFundamentals(client, cache_dir, **options)  # type: ignore[arg-type]

    yield build
    for client in clients:
        client.close()


def test_a_restart_asks_nothing_twice(open_cache, fake: FakeFinnhub, cache_dir: Path) -> None:
    first = open_cache().fundamentals(["AAPL", "KO", "ZZZZ"], DAY)
    asked = fake.count()
    assert first.keys() == {"AAPL", "KO"} and asked > 0

    again = open_cache().fundamentals(["AAPL", "KO", "ZZZZ"], DAY)  # a new process
    assert again == first
    assert fake.count() == asked  # not one request more, not even for the unknown symbol


def test_only_symbols_not_yet_cached_are_asked(open_cache, fake: FakeFinnhub) -> None:
    cache = open_cache()
    cache.fundamentals(["AAPL"], DAY)
    cache.fundamentals(["AAPL", "KO"], DAY)
    open_cache().fundamentals(["KO", "F", "AAPL"], DAY)
    assert [fake.count(METRIC, s) for s in ("AAPL", "KO", "F")] == [1, 1, 1]


def test_decimals_are_stored_as_strings(open_cache, cache_dir: Path) -> None:
    open_cache().fundamentals(["AAPL", "F", "ZZZZ"], DAY)
    path = fundamentals_cache_file(cache_dir, DAY)
    assert path.name == "fundamentals_2026-11-20.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["day"] == "2026-11-20" and document["source"] == "finnhub"
    assert document["symbols"]["AAPL"] == {
        "pe_ratio": "28.5", "debt_to_equity": "1.87", "market_cap": "2800000000000",
    }  # fmt: skip
    assert document["symbols"]["F"]["pe_ratio"] is None
    assert document["symbols"]["ZZZZ"] is None
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_figures_read_back_are_the_figures_fetched(open_cache) -> None:
    fetched = open_cache().fundamentals(["F"], DAY)
    read_back = open_cache().fundamentals(["F"], DAY)
    assert read_back == fetched == {
        "F": Fundamentals("F", None, Decimal("3.4"), Decimal("48500250000.00"))
    }


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"version": 1, "day": "2026-11-20", "source": "finnhub", "symbols": ',
        b'{"version": 99, "day": "2026-11-20", "source": "finnhub", "symbols": {}}',
        b'{"version": 1, "day": "2026-11-19", "source": "finnhub", "symbols": {}}',
        b'{"version": 1, "day": "2026-11-20", "source": "finnhub", "symbols": {"AAPL": 5}}',
        b'{"version": 1, "day": "2026-11-20", "source": "finnhub", "symbols": {"AAPL": '
        b'{"pe_ratio": "x", "debt_to_equity": null, "market_cap": null}}}',
        b'{"version": 1, "day": "2026-11-20", "source": "finnhub", "symbols": {"AAPL": '
        b'{"pe_ratio": 28.5, "debt_to_equity": null, "market_cap": null}}}',
        b"\xff\xfe",
    ],
)
def test_a_corrupt_file_is_set_aside_and_refetched(
    open_cache,
    fake: FakeFinnhub,
    cache_dir: Path,
    content: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = fundamentals_cache_file(cache_dir, DAY)
    cache_dir.mkdir(parents=True)
    path.write_bytes(content)

    found = open_cache().fundamentals(["AAPL"], DAY)

    assert found["AAPL"].pe_ratio == Decimal("28.5")
    assert fake.count(METRIC, "AAPL") == 1
    assert path.with_name(path.name + ".corrupt").read_bytes() == content
    assert json.loads(path.read_text(encoding="utf-8"))["symbols"]["AAPL"]["pe_ratio"] == "28.5"
    assert "is corrupt" in caplog.text and "set aside" in caplog.text


def test_a_file_of_another_source_is_started_over(
    open_cache, fake: FakeFinnhub, cache_dir: Path
) -> None:
    path = fundamentals_cache_file(cache_dir, DAY)
    cache_dir.mkdir(parents=True)
    figures = {"pe_ratio": "1", "debt_to_equity": "1", "market_cap": "1"}
    document = {"version": 1, "day": "2026-11-20", "source": "simulated",
                "symbols": {"AAPL": figures}}  # fmt: skip
    path.write_text(json.dumps(document), encoding="utf-8")
    found = open_cache().fundamentals(["AAPL"], DAY)
    assert found["AAPL"].pe_ratio == Decimal("28.5")
    assert not path.with_name(path.name + ".corrupt").exists()
    assert json.loads(path.read_text(encoding="utf-8"))["source"] == "finnhub"


def test_what_was_learnt_before_a_failure_is_kept(
    open_cache, fake: FakeFinnhub
) -> None:
    fake.queue(METRIC, Reply(200, {"metric": {"peTTM": 28.5, "marketCapitalization": 1}}),
               Reply(401, {"error": "Invalid API key"}))  # fmt: skip
    with pytest.raises(FundamentalsUnavailable, match="401"):
        open_cache().fundamentals(["AAPL", "KO"], DAY)
    assert fake.count() == 2

    open_cache().fundamentals(["AAPL"], DAY)  # restart: AAPL is known, KO never asked
    assert fake.count() == 2
    assert open_cache().fundamentals(["KO"], DAY).keys() == {"KO"}
    assert fake.count() == 3


def test_each_day_has_its_own_file_and_old_files_are_deleted(
    open_cache, fake: FakeFinnhub, cache_dir: Path
) -> None:
    cache_dir.mkdir(parents=True)
    old = fundamentals_cache_file(cache_dir, DAY - timedelta(days=8))
    old.write_text("{}", encoding="utf-8")
    recent = fundamentals_cache_file(cache_dir, DAY - timedelta(days=7))
    recent.write_text("{}", encoding="utf-8")
    unrelated = cache_dir / "notes.json"
    unrelated.write_text("{}", encoding="utf-8")

    cache = open_cache(keep_days=7)
    cache.fundamentals(["AAPL"], DAY)
    cache.fundamentals(["AAPL"], DAY + timedelta(days=1))

    assert fake.count(METRIC, "AAPL") == 2  # asked once a day
    assert fundamentals_cache_file(cache_dir, DAY).exists()
    assert fundamentals_cache_file(cache_dir, DAY + timedelta(days=1)).exists()
    assert not old.exists() and not recent.exists()  # DAY+1 - 7 days is DAY - 6
    assert unrelated.exists()


def test_an_unwritable_cache_dir_is_a_self_check_problem(open_cache, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")

    class Source:
        def fundamentals(self, symbols: Sequence[str], day: date) -> Mapping[str, Fundamentals]:
            return {}

    cache = CachedFundamentals(Source(), blocker / "cache")
    assert cache.self_check() == [f"fundamentals cache: {blocker / 'cache'} is not writable"]
    assert open_cache().self_check() == []


def test_a_cache_that_cannot_be_written_still_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    calls: list[list[str]] = []

    class Source:
        name = "stub"

        def fundamentals(self, symbols: Sequence[str], day: date) -> Mapping[str, Fundamentals]:
            calls.append(list(symbols))
            return {s: Fundamentals(s, Decimal(1), Decimal(1), Decimal(1)) for s in symbols}

    caplog.set_level(logging.WARNING)
    cache = CachedFundamentals(Source(), blocker / "cache")
    assert cache.fundamentals(["AAPL"], DAY).keys() == {"AAPL"}
    assert cache.fundamentals(["AAPL"], DAY).keys() == {"AAPL"}
    assert calls == [["AAPL"]]  # kept in memory for the day
    assert "cannot be written" in caplog.text
