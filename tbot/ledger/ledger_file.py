"""Creating a bot's ledger file: schema (the journal and the reconciliation tables),
append-only triggers, metadata, first audit row."""

from __future__ import annotations

from peewee import SqliteDatabase

from tbot.clock import Clock
from tbot.config.paths import BotPaths
from tbot.ledger.audit_chain import (
    CREATE_ACTION,
    GENESIS_HASH,
    audit_row_hash,
    canonical_details,
)
from tbot.ledger.coa_file import read_coa_metadata, write_metadata
from tbot.ledger.database import bound
from tbot.ledger.errors import LedgerFileError
from tbot.ledger.models import LEDGER_MODELS, AuditRow, CoaMetadata
from tbot.ledger.new_file import build_new_file
from tbot.ledger.recon_models import RECON_MODELS
from tbot.ledger.schema import create_append_only_triggers, create_tables, insert_statement
from tbot.ledger.timestamps import format_utc
from tbot.ledger.validation import require_currency

CREATE_ACTOR = "tbot"


def create_ledger_file(paths: BotPaths, clock: Clock, currency: str = "USD") -> None:
    """Create `paths.ledger_db`: every table, index and trigger, a copy of the COA file's
    metadata, and the first audit row (`ledger.create`). The COA file must exist already
    and match the bot's identity and `currency`. Refuses to overwrite an existing ledger.
    """
    require_currency(currency)
    coa_path = paths.coa_db()
    if not coa_path.is_file():
        raise LedgerFileError(f"COA file {coa_path} does not exist; create it before the ledger")
    metadata = read_coa_metadata(coa_path)
    identity = paths.identity
    if (metadata.entity_code, metadata.jurisdiction_code) != (
        identity.entity_code,
        identity.jurisdiction_code,
    ):
        raise LedgerFileError(
            f"COA file {coa_path} belongs to {metadata.entity_code}/"
            f"{metadata.jurisdiction_code}, not this bot ({identity.bot_identity})"
        )
    if metadata.currency_code != currency:
        raise LedgerFileError(
            f"COA file {coa_path} is in {metadata.currency_code}, not {currency}"
        )
    created = format_utc(clock.now())
    details = canonical_details(
        {
            "bot_identity": identity.bot_identity,
            "coa_version": metadata.coa_version,
            "currency_code": currency,
        }
    )
    first_row = (1, created, CREATE_ACTOR, CREATE_ACTION, paths.ledger_db.name, details,
                 GENESIS_HASH)

    def build(database: SqliteDatabase) -> None:
        create_tables(database, (*LEDGER_MODELS, *RECON_MODELS))
        create_append_only_triggers(database)
        with bound(database, (CoaMetadata,)):
            write_metadata(metadata)
        database.execute_sql(insert_statement(AuditRow), (*first_row, audit_row_hash(first_row)))

    build_new_file(paths.ledger_db, "ledger file", wal=True, build=build, home=paths.home)
