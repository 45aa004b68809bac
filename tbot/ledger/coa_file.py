"""The COA file (`{BOT_IDENTITY}_BOT_COA_v1.1.0.db`): the chart and its metadata on disk.

`coa_metadata` holds one row (currency, entity, jurisdiction, COA version, created and last
updated instants); `coa_accounts` one row per account of the chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from peewee import SqliteDatabase

from tbot.clock import Clock
from tbot.config.identity import BotIdentity
from tbot.config.paths import COA_VERSION
from tbot.ledger.chart import STANDARD_ACCOUNTS, Account, AccountType, Chart
from tbot.ledger.database import bound, open_reader_database
from tbot.ledger.errors import LedgerFileError
from tbot.ledger.models import COA_MODELS, CoaAccount, CoaMetadata
from tbot.ledger.new_file import build_new_file
from tbot.ledger.schema import create_tables
from tbot.ledger.validation import require_currency


@dataclass(frozen=True)
class CoaMetadataRecord:
    """The `coa_metadata` row of a COA or ledger file."""

    currency_code: str
    entity_code: str
    jurisdiction_code: str
    coa_version: str
    created_at_utc: datetime
    last_updated_utc: datetime


def create_coa_file(
    path: Path, identity: BotIdentity, clock: Clock, currency: str = "USD"
) -> None:
    """Create the COA file at `path` with the standard chart; refuses to overwrite a file."""
    require_currency(currency)
    now = clock.now()
    metadata = CoaMetadataRecord(
        currency_code=currency,
        entity_code=identity.entity_code,
        jurisdiction_code=identity.jurisdiction_code,
        coa_version=COA_VERSION,
        created_at_utc=now,
        last_updated_utc=now,
    )

    def build(database: SqliteDatabase) -> None:
        create_tables(database, COA_MODELS)
        with bound(database, COA_MODELS):
            write_metadata(metadata)
            CoaAccount.insert_many(
                [
                    (account.code, account.name, account.parent, account.type.value,
                     account.cash_flow_class)
                    for account in STANDARD_ACCOUNTS
                ],
                fields=[CoaAccount.code, CoaAccount.name, CoaAccount.parent, CoaAccount.type,
                        CoaAccount.cash_flow_class],
            ).execute()

    build_new_file(path, "COA file", wal=False, build=build)


def write_metadata(metadata: CoaMetadataRecord) -> None:
    """Insert `metadata` as the `coa_metadata` row (CoaMetadata must be bound)."""
    CoaMetadata.insert(
        currency_code=metadata.currency_code,
        entity_code=metadata.entity_code,
        jurisdiction_code=metadata.jurisdiction_code,
        coa_version=metadata.coa_version,
        created_at_utc=metadata.created_at_utc,
        last_updated_utc=metadata.last_updated_utc,
    ).execute()


def read_metadata(database: SqliteDatabase, path: Path) -> CoaMetadataRecord:
    """The single `coa_metadata` row of the open file `path`."""
    with bound(database, (CoaMetadata,)):
        rows = list(CoaMetadata.select().dicts())
    if len(rows) != 1:
        raise LedgerFileError(f"{path} has {len(rows)} coa_metadata rows; exactly one expected")
    return CoaMetadataRecord(**rows[0])


def read_coa_metadata(path: Path) -> CoaMetadataRecord:
    """The metadata of the COA file at `path` (opened read-only)."""
    database = open_reader_database(path, "COA file")
    try:
        return read_metadata(database, path)
    finally:
        database.close()


def load_chart(path: Path) -> Chart:
    """The chart stored in the COA file at `path` (opened read-only)."""
    database = open_reader_database(path, "COA file")
    try:
        with bound(database, COA_MODELS):
            rows = list(
                CoaAccount.select(CoaAccount.code, CoaAccount.name, CoaAccount.parent,
                                  CoaAccount.type, CoaAccount.cash_flow_class)
                .order_by(CoaAccount.code)
                .tuples()
            )
    finally:
        database.close()
    try:
        return Chart(
            Account(code, name, parent, AccountType(kind), cash_flow)
            for code, name, parent, kind, cash_flow in rows
        )
    except ValueError as problem:
        raise LedgerFileError(f"COA file {path} is inconsistent: {problem}") from None


def list_accounts(coa_path: Path) -> list[Account]:
    """Every account of the COA file at `coa_path`, ordered by code."""
    return list(load_chart(coa_path).accounts)
