"""The Peewee models of the reconciliation tables kept in the ledger file.

Broker sync and reconciliation (`tbot.reconcile`) record what they fetched and what they
found here, append-only like the entries: sync runs, the broker's raw records, the
reconciliation log (breaks and their resolutions), position checks and balance assertions.
docs/ledger-schema.md documents every column. Like `models`, the models are unbound; the
writer inserts rows through `LedgerWriter.commit_batch`, and column order matters the same
way (the batch digest serialises rows in it).

Every table carries `schema_version` (`RECON_SCHEMA_VERSION`), so a later change of shape
can tell old rows from new ones.
"""

from __future__ import annotations

from peewee import (
    AutoField,
    BooleanField,
    Check,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from tbot.ledger.amounts import MONEY_PLACES, PRICE_PLACES, QUANTITY_PLACES
from tbot.ledger.fields import (
    CanonicalJsonField,
    ScaledDecimalField,
    TextOrJsonField,
    UtcTimestampField,
)
from tbot.ledger.mapping_models import MAPPING_MODELS, MAPPING_SCHEMA_VERSION
from tbot.ledger.models import LedgerEntry, _one_of, _Unbound

RECON_SCHEMA_VERSION = 1
"""The shape of the reconciliation tables this code creates and writes."""

SYNC_TRIGGERS = ("startup", "schedule", "end_of_day", "manual")
SYNC_OUTCOMES = ("complete", "partial", "failed")
BROKER_RECORD_KINDS = ("fill", "cash")
RECON_KINDS = ("fill", "cash", "position", "balance")
RECON_STATUSES = ("ok", "mismatch", "local-only", "broker-only", "pending", "unmapped",
                  "resolved")
NOT_BREAK_STATUSES = ("ok", "resolved")
"""Statuses that are not a break: a 'resolved' row can resolve any other status."""
RESOLUTION_ACTIONS = ("accept-broker", "keep-ledger", "book-manually")
POSITION_OUTCOMES = ("matched", "quantity_mismatch", "cost_mismatch", "missing_at_broker",
                     "missing_in_ledger")


def _schema_version() -> IntegerField:
    return IntegerField(default=RECON_SCHEMA_VERSION)


def _sync_trigger() -> TextField:
    return TextField(constraints=[Check(_one_of("trigger", SYNC_TRIGGERS))])


class SyncRun(_Unbound):
    """One broker sync: the window it read, who ran it, and how it ended."""

    id = AutoField()
    trigger = _sync_trigger()
    window_start_utc = UtcTimestampField()
    window_end_utc = UtcTimestampField()
    started_at_utc = UtcTimestampField()
    ended_at_utc = UtcTimestampField()
    actor = TextField()
    credential_fingerprint = TextField(constraints=[Check("length(credential_fingerprint) = 64")])
    outcome = TextField(constraints=[Check(_one_of("outcome", SYNC_OUTCOMES))])
    counts = CanonicalJsonField(dict)
    records_seen = IntegerField(constraints=[Check("records_seen >= 0")])
    records_refused = IntegerField(constraints=[Check("records_refused >= 0")])
    spans_not_read = CanonicalJsonField(list)
    error = TextField(null=True)
    schema_version = _schema_version()

    class Meta:
        table_name = "sync_runs"


class BrokerRecordRow(_Unbound):
    """One record (a fill or a cash movement) as the broker reported it, kept verbatim."""

    id = AutoField()
    sync_run = ForeignKeyField(SyncRun, column_name="sync_run_id", backref="records")
    kind = TextField(constraints=[Check(_one_of("kind", BROKER_RECORD_KINDS))])
    broker_id = TextField()
    record_hash = TextField(constraints=[Check("length(record_hash) = 64")])
    raw_payload = TextOrJsonField(floats=True)  # as the broker sent it
    json_metadata = CanonicalJsonField(dict, floats=True)
    broker_local_time = TextField(null=True)
    occurred_at_utc = UtcTimestampField(null=True)
    final = BooleanField(constraints=[Check("final IN (0, 1)")])
    refused_reason = TextField(null=True)
    source = TextField()
    fetched_at_utc = UtcTimestampField()
    schema_version = _schema_version()

    class Meta:
        table_name = "broker_records"
        # The unique index also serves lookups by (kind, broker_id): its leading columns.
        indexes = ((("kind", "broker_id", "record_hash"), True),)


class ReconciliationLog(_Unbound):
    """One comparison of ledger and broker (a fill, cash movement, position or balance),
    or the resolution of an earlier break."""

    id = AutoField()
    kind = TextField(constraints=[Check(_one_of("kind", RECON_KINDS))])
    trade_id = TextField()
    status = TextField(constraints=[Check(_one_of("status", RECON_STATUSES))])
    compare_fields = CanonicalJsonField(list)
    sync_run = ForeignKeyField(SyncRun, column_name="sync_run_id", null=True, backref="log")
    timestamp_utc = UtcTimestampField()
    record_hash = TextField(null=True)
    broker_record = ForeignKeyField(BrokerRecordRow, column_name="broker_record_id", null=True,
                                    backref="log")
    entry = ForeignKeyField(LedgerEntry, column_name="entry_id", null=True, backref="+")
    symbol = TextField(null=True)
    broker_value = TextField(null=True)
    ledger_value = TextField(null=True)
    difference = TextOrJsonField(null=True)
    detail = TextField()
    resolves = ForeignKeyField("self", column_name="resolves_id", null=True,
                               backref="resolutions")
    resolution_action = TextField(
        null=True, constraints=[Check(_one_of("resolution_action", RESOLUTION_ACTIONS))]
    )
    actor = TextField(null=True)
    reason = TextField(null=True)
    posted_entry_ids = CanonicalJsonField(list, null=True)
    schema_version = _schema_version()

    class Meta:
        table_name = "reconciliation_log"
        indexes = (
            (("kind", "trade_id"), False),
            (("status",), False),
        )
        constraints = (
            Check(
                "status != 'resolved' OR (resolves_id IS NOT NULL AND resolution_action IS "
                "NOT NULL AND actor IS NOT NULL AND reason IS NOT NULL)"
            ),
        )


class PositionCheck(_Unbound):
    """One symbol's position compared: broker, ledger and engine quantities."""

    id = AutoField()
    checked_at_utc = UtcTimestampField()
    sync_run = ForeignKeyField(SyncRun, column_name="sync_run_id", null=True,
                               backref="position_checks")
    trigger = _sync_trigger()
    symbol = TextField()
    broker_quantity = ScaledDecimalField(QUANTITY_PLACES, null=True)
    broker_average_cost = ScaledDecimalField(PRICE_PLACES, null=True)
    ledger_quantity = ScaledDecimalField(QUANTITY_PLACES)
    ledger_cost_basis = ScaledDecimalField(MONEY_PLACES)
    engine_quantity = ScaledDecimalField(QUANTITY_PLACES, null=True)
    explained_quantity = ScaledDecimalField(QUANTITY_PLACES)
    outcome = TextField(constraints=[Check(_one_of("outcome", POSITION_OUTCOMES))])
    divergence_reason = TextField()
    schema_version = _schema_version()

    class Meta:
        table_name = "position_checks"
        indexes = ((("symbol", "id"), False),)


class BalanceAssertion(_Unbound):
    """One currency's cash compared: broker against ledger, within a tolerance."""

    id = AutoField()
    asserted_at_utc = UtcTimestampField()
    sync_run = ForeignKeyField(SyncRun, column_name="sync_run_id", null=True,
                               backref="balance_assertions")
    trigger = _sync_trigger()
    currency_code = TextField()
    account_code = TextField()
    broker_cash = ScaledDecimalField(MONEY_PLACES)
    ledger_cash = ScaledDecimalField(MONEY_PLACES)
    in_transit = ScaledDecimalField(MONEY_PLACES)
    difference = ScaledDecimalField(MONEY_PLACES)
    tolerance = ScaledDecimalField(MONEY_PLACES, constraints=[Check("tolerance >= 0")])
    passed = BooleanField(constraints=[Check("passed IN (0, 1)")])
    detail = TextField()
    schema_version = _schema_version()

    class Meta:
        table_name = "balance_assertions"
        indexes = ((("currency_code", "id"), False),)


RECON_MODELS: tuple[type[Model], ...] = (
    SyncRun,
    BrokerRecordRow,
    ReconciliationLog,
    PositionCheck,
    BalanceAssertion,
    *MAPPING_MODELS,
)
"""In creation order: a table comes after the tables its foreign keys point to (and after
`LEDGER_MODELS`, whose `ledger_entries` the log points to). Batch rows go in this order.
The mapping tables (`mapping_models`) ride along: created, migrated, protected and batched
the same way."""

# The batch writes one schema_version for every table it knows.
assert MAPPING_SCHEMA_VERSION == RECON_SCHEMA_VERSION

RECON_TABLES: tuple[str, ...] = tuple(model._meta.table_name for model in RECON_MODELS)
