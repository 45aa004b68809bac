"""The Peewee models: the single definition of the COA and ledger tables.

Table and column names are fixed (auditors open these files with their own tools) and are
documented in docs/ledger-schema.md. Models are not bound to a database: callers bind them
to the file they open (`database.bound(db, LEDGER_MODELS)`), because one process may hold
several ledger files at once.

Column order matters beyond style: the bulk writer inserts tuples in this order and the
audit digests serialise rows in it (see `audit_chain`).
"""

from __future__ import annotations

from peewee import (
    SQL,
    AutoField,
    BooleanField,
    Check,
    ForeignKeyField,
    Model,
    TextField,
)

from tbot.ledger.amounts import LEVERAGE_PLACES, MONEY_PLACES, PRICE_PLACES, QUANTITY_PLACES
from tbot.ledger.fields import ScaledDecimalField, UtcTimestampField

ACCOUNT_TYPES = ("asset", "liability", "equity", "income", "expense", "control")
TRADE_TRNTYPES = ("BUY", "SELL", "SHORT", "COVER")
TRADE_SIDES = ("long", "short")
STRATEGIES = ("open", "mid", "close")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    allowed = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({allowed})"


class _Unbound(Model):
    class Meta:
        database = None
        legacy_table_names = False


# -- COA file (its `coa_metadata` is copied into every ledger file too) ------------------


class CoaMetadata(_Unbound):
    """The one metadata row every COA and ledger file carries."""

    currency_code = TextField()
    entity_code = TextField()
    jurisdiction_code = TextField()
    coa_version = TextField()
    created_at_utc = UtcTimestampField()
    last_updated_utc = UtcTimestampField()

    class Meta:
        table_name = "coa_metadata"
        primary_key = False


class CoaAccount(_Unbound):
    """One account of the chart."""

    code = TextField(primary_key=True)
    name = TextField()
    parent = ForeignKeyField("self", field="code", column_name="parent", null=True,
                             backref="children")
    type = TextField(constraints=[Check(_one_of("type", ACCOUNT_TYPES))])
    cash_flow_class = TextField()

    class Meta:
        table_name = "coa_accounts"


# -- ledger file -------------------------------------------------------------------------


class AuditRow(_Unbound):
    """One link of the audit hash chain: an entry posted, or a non-entry event."""

    id = AutoField()
    created_at_utc = UtcTimestampField()
    actor = TextField()
    action = TextField()
    subject = TextField()
    details = TextField()
    prev_hash = TextField(constraints=[Check("length(prev_hash) = 64")])
    row_hash = TextField(constraints=[Check("length(row_hash) = 64")])

    class Meta:
        table_name = "audit_trail"


class LedgerEntry(_Unbound):
    """One journal entry (OFX transaction): its postings carry the money."""

    id = AutoField()
    fitid = TextField(unique=True)
    dtposted = UtcTimestampField(index=True)
    trntype = TextField()
    memo = TextField()
    source = TextField()
    audit = ForeignKeyField(AuditRow, column_name="audit_id", index=False)
    entity_code = TextField()
    jurisdiction_code = TextField()
    broker_code = TextField()
    bot_id = TextField()
    currency_code = TextField()
    is_manual = BooleanField(constraints=[Check("is_manual IN (0, 1)")])
    reverses_entry = ForeignKeyField("self", column_name="reverses_entry_id", null=True,
                                     unique=True, backref="reversals")
    created_at_utc = UtcTimestampField()

    class Meta:
        table_name = "ledger_entries"


class LedgerPosting(_Unbound):
    """One leg of an entry: positive amount = debit, negative = credit."""

    id = AutoField()
    entry = ForeignKeyField(LedgerEntry, column_name="entry_id", index=True, backref="postings")
    account_code = TextField(index=True)
    amount = ScaledDecimalField(MONEY_PLACES, constraints=[Check("amount != 0")])
    currency_code = TextField()
    quantity = ScaledDecimalField(QUANTITY_PLACES, null=True)
    symbol = TextField(null=True)
    memo = TextField(null=True)

    class Meta:
        table_name = "ledger_postings"


class Trade(_Unbound):
    """The trade facts of an entry that records a fill (the seed's mandatory fields)."""

    id = AutoField()
    entry = ForeignKeyField(LedgerEntry, column_name="entry_id", unique=True, backref="trade")
    fitid = TextField(unique=True)
    dtposted = UtcTimestampField()
    trntype = TextField(constraints=[Check(_one_of("trntype", TRADE_TRNTYPES))])
    currency_code = TextField()
    entity_code = TextField()
    jurisdiction_code = TextField()
    broker_code = TextField()
    bot_id = TextField()
    strategy = TextField(constraints=[Check(_one_of("strategy", STRATEGIES))])
    symbol = TextField()
    side = TextField(constraints=[Check(_one_of("side", TRADE_SIDES))])
    size = ScaledDecimalField(QUANTITY_PLACES, constraints=[Check("size > 0")])
    entry_price = ScaledDecimalField(PRICE_PLACES)
    exit_price = ScaledDecimalField(PRICE_PLACES, null=True)
    pnl = ScaledDecimalField(MONEY_PLACES)
    audit_reference = ForeignKeyField(AuditRow, column_name="audit_reference", index=False)
    tag = TextField(default="none", constraints=[SQL("DEFAULT 'none'")])
    leverage_multiplier = ScaledDecimalField(
        LEVERAGE_PLACES,
        default=1,
        constraints=[SQL(f"DEFAULT {10**LEVERAGE_PLACES}"), Check("leverage_multiplier > 0")],
    )
    broker = TextField()
    error_code = TextField(null=True)

    class Meta:
        table_name = "trades"


COA_MODELS: tuple[type[Model], ...] = (CoaMetadata, CoaAccount)
LEDGER_MODELS: tuple[type[Model], ...] = (CoaMetadata, AuditRow, LedgerEntry, LedgerPosting, Trade)
"""In creation order: a table comes after the tables its foreign keys point to."""


def column_names(model: type[Model]) -> tuple[str, ...]:
    """The table's columns in their defined order (primary key first)."""
    return tuple(field.column_name for field in model._meta.sorted_fields)
