"""The Peewee models of the chart-of-accounts mapping tables kept in the ledger file.

The mapping room (`tbot.reconcile.mapping`) keeps here, append-only like the entries:
every version of the rule set and its rules, the queue of cash records waiting for a
person (each change of an item's state a new row), and every mapping decision with the
layer, rule or model and version that made it. docs/ledger-schema.md documents every
column. They are written through `LedgerWriter.commit_batch` with the reconciliation
tables (`recon_models.RECON_MODELS` lists them after its own), so a posting and the
decision that made it land in one transaction.
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

from tbot.ledger.amounts import MONEY_PLACES
from tbot.ledger.fields import CanonicalJsonField, ScaledDecimalField, UtcTimestampField
from tbot.ledger.models import LedgerEntry, _one_of, _Unbound

MAPPING_SCHEMA_VERSION = 1
"""The shape of the mapping tables this code creates and writes."""

VERSION_ACTIONS = ("create", "add", "edit", "disable", "enable", "import", "rollback",
                   "activate")
"""What made a version: the shipped defaults (create), a rule change, an import (a
candidate, not active), a rollback or the activation of a candidate (copies)."""
DECISION_LAYERS = ("default", "rule", "learned", "operator")
DECISION_ACTIONS = ("post", "adopt", "reclassify", "undo")
"""post: an entry posted for the record; adopt: the record was already booked (by a
break resolution, or a write that lost its decision row) and the decision takes that entry;
reclassify: reversed and posted again to another account; undo: reversed, back to the
queue (the decision it undoes stops counting)."""
QUEUE_STATES = ("queued", "mapped", "settled")
"""queued: waiting for a person; mapped: booked (by a decision, or outside the queue);
settled: its break was resolved without a posting, so nothing may post it."""
QUEUE_REASONS = ("no-rule", "ambiguous", "below-threshold", "rule-misfit", "undone",
                 "decided", "booked-elsewhere", "kept-unbooked")


def _schema_version() -> IntegerField:
    return IntegerField(default=MAPPING_SCHEMA_VERSION)


class MappingVersion(_Unbound):
    """One immutable version of the rule set."""

    id = AutoField()
    version = IntegerField(unique=True, constraints=[Check("version >= 1")])
    action = TextField(constraints=[Check(_one_of("action", VERSION_ACTIONS))])
    active = BooleanField(constraints=[Check("active IN (0, 1)")])
    source_version = IntegerField(null=True)
    author = TextField()
    reason = TextField()
    created_at_utc = UtcTimestampField()
    content_hash = TextField(constraints=[Check("length(content_hash) = 64")])
    rule_count = IntegerField(constraints=[Check("rule_count >= 0")])
    source_identity = TextField(null=True)
    schema_version = _schema_version()

    class Meta:
        table_name = "coa_mapping_versions"


class MappingRule(_Unbound):
    """One rule of one version (every version lists all its rules)."""

    id = AutoField()
    version = ForeignKeyField(MappingVersion, column_name="version_id", backref="rules")
    rule_key = TextField()
    name = TextField()
    broker = TextField(null=True)
    activity_type = TextField(null=True)
    subtype = TextField(null=True)
    description = TextField(null=True)
    symbol = TextField(null=True)
    sign = TextField(null=True, constraints=[Check("sign IN ('+', '-')")])
    amount_min = ScaledDecimalField(MONEY_PLACES, null=True)
    amount_max = ScaledDecimalField(MONEY_PLACES, null=True)
    debit_account = TextField()
    credit_account = TextField()
    enabled = BooleanField(constraints=[Check("enabled IN (0, 1)")])
    origin = TextField(constraints=[Check("origin IN ('default', 'operator')")])
    schema_version = _schema_version()

    class Meta:
        table_name = "coa_mapping_rules"
        indexes = ((("version_id", "rule_key"), True),)


class MappingDecision(_Unbound):
    """One decision on one broker cash record: which layer decided, by which rule or
    model under which version, the accounts, and the entry it posted."""

    id = AutoField()
    broker = TextField()
    broker_id = TextField()
    record_hash = TextField(null=True)
    layer = TextField(constraints=[Check(_one_of("layer", DECISION_LAYERS))])
    action = TextField(constraints=[Check(_one_of("action", DECISION_ACTIONS))])
    rule_version = IntegerField(null=True)
    rule_key = TextField(null=True)
    model = TextField(null=True)
    confidence = TextField(null=True)
    account = TextField(null=True)
    debit_account = TextField(null=True)
    credit_account = TextField(null=True)
    amount = ScaledDecimalField(MONEY_PLACES)
    activity_type = TextField()
    subtype = TextField(null=True)
    description = TextField()
    symbol = TextField(null=True)
    occurred_at_utc = UtcTimestampField()
    tokens = CanonicalJsonField(list)
    entry = ForeignKeyField(LedgerEntry, column_name="entry_id", null=True, backref="+")
    reversal_entry = ForeignKeyField(LedgerEntry, column_name="reversal_entry_id", null=True,
                                     backref="+")
    supersedes = ForeignKeyField("self", column_name="supersedes_id", null=True,
                                 backref="superseded_by")
    actor = TextField()
    reason = TextField()
    decided_at_utc = UtcTimestampField()
    schema_version = _schema_version()

    class Meta:
        table_name = "mapping_decisions"
        indexes = ((("broker_id", "id"), False),)


class MappingQueueRow(_Unbound):
    """One state of one queue item (a cash record): queued with why and the suggestions,
    or mapped by a decision. The newest row of a `broker_id` is the item's state."""

    id = AutoField()
    broker = TextField()
    broker_id = TextField()
    state = TextField(constraints=[Check(_one_of("state", QUEUE_STATES))])
    reason = TextField(constraints=[Check(_one_of("reason", QUEUE_REASONS))])
    detail = TextField()
    record_hash = TextField(null=True)
    broker_record_id = IntegerField(null=True)
    activity_type = TextField()
    subtype = TextField(null=True)
    description = TextField()
    symbol = TextField(null=True)
    amount = ScaledDecimalField(MONEY_PLACES)
    currency_code = TextField()
    occurred_at_utc = UtcTimestampField()
    suggestions = CanonicalJsonField(list)
    rule_version = IntegerField(null=True)
    decision = ForeignKeyField(MappingDecision, column_name="decision_id", null=True,
                               backref="+")
    entry = ForeignKeyField(LedgerEntry, column_name="entry_id", null=True, backref="+")
    created_at_utc = UtcTimestampField()
    schema_version = _schema_version()

    class Meta:
        table_name = "mapping_queue"
        indexes = ((("broker_id", "id"), False), (("state",), False))


MAPPING_MODELS: tuple[type[Model], ...] = (
    MappingVersion,
    MappingRule,
    MappingDecision,
    MappingQueueRow,
)
"""In creation order (a table after those its foreign keys point to)."""
