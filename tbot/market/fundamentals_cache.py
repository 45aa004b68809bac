"""A per-day cache in front of a `FundamentalsSource`, so a restart asks nothing twice.

One JSON file a day, ``fundamentals_{YYYY-MM-DD}.json`` in the cache directory (the bot
home's ``data/cache/``), written atomically after each round of asking::

    {"version": 1, "day": "2026-11-20", "source": "finnhub",
     "symbols": {"AAPL": {"pe_ratio": "28.5", "debt_to_equity": "1.87",
                          "market_cap": "3000000000000"},
                 "ZZZZ": null}}

Figures are `Decimal`s written as strings; ``null`` records a symbol the source does not
know, so it is not asked again that day either. Only symbols not in the file are asked, one
at a time, and what was learnt is saved even when the source fails halfway. A file that
cannot be read as such a cache is set aside as ``….json.corrupt`` with a warning and
refetched, never a crash; a file written for another source (the simulated market's, say)
is started over. Files older than `keep_days` days are deleted.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from tbot.config.atomic_write import atomic_write_bytes
from tbot.market.fundamentals import Fundamentals, FundamentalsSource

log = logging.getLogger(__name__)

CACHE_VERSION = 1
_FIELDS = ("pe_ratio", "debt_to_equity", "market_cap")
_CACHE_NAME = re.compile(r"fundamentals_(\d{4}-\d{2}-\d{2})\.json(?:\.corrupt)?")


def fundamentals_cache_file(cache_dir: Path, day: date) -> Path:
    """The cache file of `day` in `cache_dir`."""
    return Path(cache_dir) / f"fundamentals_{day.isoformat()}.json"


class CorruptCacheError(ValueError):
    """A cache file that is not what this module writes."""


class CachedFundamentals:
    """`FundamentalsSource` that answers from the day's cache file and asks `source` only
    for symbols not in it. Thread-safe."""

    def __init__(
        self,
        source: FundamentalsSource,
        cache_dir: Path,
        *,
        source_name: str | None = None,
        keep_days: int = 7,
    ) -> None:
        self.source = source
        self.cache_dir = Path(cache_dir)
        self.source_name = source_name or getattr(source, "name", type(source).__name__)
        self.name = self.source_name
        self.keep_days = keep_days
        self._lock = threading.Lock()
        self._day: date | None = None
        self._entries: dict[str, Fundamentals | None] = {}

    def self_check(self) -> list[str]:
        """The cache directory must be creatable and writable; the source's own problems
        are passed on."""
        problems: list[str] = []
        probe = self.cache_dir
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
            problems.append(f"fundamentals cache: {self.cache_dir} is not writable")
        check = getattr(self.source, "self_check", None)
        if callable(check):
            problems.extend(check())
        return problems

    def fundamentals(self, symbols: Sequence[str], day: date) -> dict[str, Fundamentals]:
        """The figures of `symbols` on `day`, from the cache or (for those not cached) the
        source; symbols the source does not know are left out. FundamentalsUnavailable from
        the source passes through, after what was learnt before it is saved."""
        wanted = list(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))
        with self._lock:
            self._load(day)
            missing = [symbol for symbol in wanted if symbol not in self._entries]
            if missing:
                learnt = 0
                try:
                    for symbol in missing:
                        answer = self.source.fundamentals([symbol], day)
                        self._entries[symbol] = _pick(answer, symbol)
                        learnt += 1
                finally:
                    if learnt:
                        self._save(day)
            return {s: f for s in wanted if (f := self._entries.get(s)) is not None}

    # -- the file ------------------------------------------------------------------------

    def _load(self, day: date) -> None:
        if self._day == day:
            return
        self._day, self._entries = day, {}
        path = fundamentals_cache_file(self.cache_dir, day)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as error:
            log.warning("fundamentals cache %s cannot be read (%s); refetching", path, error)
            return
        try:
            source, entries = _parse(raw, day)
        except CorruptCacheError as error:
            self._set_aside(path, str(error))
            return
        if source != self.source_name:
            log.info(
                "fundamentals cache %s was written for %s, not %s: starting it over",
                path, source, self.source_name,
            )
            return
        self._entries = entries

    def _set_aside(self, path: Path, why: str) -> None:
        corrupt = path.with_name(path.name + ".corrupt")
        try:
            os.replace(path, corrupt)
        except OSError as error:
            log.warning(
                "fundamentals cache %s is corrupt (%s) and cannot be set aside (%s); it will "
                "be overwritten", path, why, error,
            )
            return
        log.warning(
            "fundamentals cache %s is corrupt (%s): set aside as %s, refetching",
            path, why, corrupt.name,
        )

    def _save(self, day: date) -> None:
        document = {
            "version": CACHE_VERSION,
            "day": day.isoformat(),
            "source": self.source_name,
            "symbols": {
                symbol: None if figures is None else {
                    name: _text(getattr(figures, name)) for name in _FIELDS
                }
                for symbol, figures in sorted(self._entries.items())
            },
        }
        path = fundamentals_cache_file(self.cache_dir, day)
        data = (json.dumps(document, indent=1, sort_keys=True) + "\n").encode("utf-8")
        try:
            atomic_write_bytes(path, data)
        except OSError as error:
            # The answers stay in memory for today; only a restart would ask again.
            log.warning("fundamentals cache %s cannot be written (%s)", path, error)
            return
        self._prune(day)

    def _prune(self, day: date) -> None:
        oldest = day - timedelta(days=self.keep_days)
        try:
            names = [entry.name for entry in os.scandir(self.cache_dir)]
        except OSError:
            return
        for name in names:
            match = _CACHE_NAME.fullmatch(name)
            if not match:
                continue
            try:
                written_for = date.fromisoformat(match[1])
            except ValueError:
                continue
            if written_for < oldest:
                try:
                    (self.cache_dir / name).unlink()
                except OSError as error:
                    log.warning("fundamentals cache: cannot delete old %s (%s)", name, error)


def _pick(answer: Mapping[str, Fundamentals], symbol: str) -> Fundamentals | None:
    for key, figures in answer.items():
        if key.strip().upper() == symbol:
            return figures
    return None


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _parse(raw: bytes, day: date) -> tuple[str, dict[str, Fundamentals | None]]:
    """(source name, entries) of a cache file; CorruptCacheError saying what is wrong."""
    try:
        document = json.loads(raw)
    except ValueError:
        raise CorruptCacheError("not JSON") from None
    if not isinstance(document, dict) or document.get("version") != CACHE_VERSION:
        raise CorruptCacheError(f"not a version {CACHE_VERSION} cache object")
    if document.get("day") != day.isoformat():
        raise CorruptCacheError(f"written for day {document.get('day')!r}")
    source, symbols = document.get("source"), document.get("symbols")
    if not isinstance(source, str) or not isinstance(symbols, dict):
        raise CorruptCacheError("no source or symbols")
    entries: dict[str, Fundamentals | None] = {}
    for symbol, figures in symbols.items():
        if figures is None:
            entries[symbol] = None
            continue
        if not isinstance(figures, dict) or set(figures) != set(_FIELDS):
            raise CorruptCacheError(f"the entry of {symbol} is malformed")
        entries[symbol] = Fundamentals(symbol, *(_decimal(figures[n], symbol) for n in _FIELDS))
    return source, entries


def _decimal(value: Any, symbol: str) -> Decimal | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise CorruptCacheError(f"a figure of {symbol} is not a string")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise CorruptCacheError(f"a figure of {symbol} is not a number") from None
    if not number.is_finite():
        raise CorruptCacheError(f"a figure of {symbol} is not finite")
    return number
