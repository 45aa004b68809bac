"""docs/ledger-schema.md documents every table and column the models define (the journal's
and the reconciliation tables'), and its shell recipes for the hashes are the very SQL
verify uses (or, for batch digests, the SQL that gives the text the writer hashes)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from peewee import Model

from tbot.ledger.audit_chain import audit_text_sql, entry_text_sql, recon_rows_text_sql
from tbot.ledger.models import COA_MODELS, LEDGER_MODELS, column_names
from tbot.ledger.recon_models import RECON_MODELS
from tbot.ledger.schema import APPEND_ONLY_TRIGGERS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "ledger-schema.md").read_text()
MODELS = sorted({*COA_MODELS, *LEDGER_MODELS, *RECON_MODELS},
                key=lambda model: model._meta.table_name)


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.table_name)
def test_every_table_has_a_section(model: type[Model]) -> None:
    assert f"### `{model._meta.table_name}`" in DOC


@pytest.mark.parametrize(
    ("model", "column"),
    [(model, column) for model in MODELS if model._meta.table_name != "coa_metadata"
     for column in column_names(model)],
    ids=lambda value: value if isinstance(value, str) else value._meta.table_name,
)
def test_every_column_has_a_row(model: type[Model], column: str) -> None:
    section = DOC.split(f"### `{model._meta.table_name}`", 1)[1].split("\n### ", 1)[0]
    assert f"| `{column}` |" in section


def test_metadata_columns_are_documented() -> None:
    section = DOC.split("### `coa_metadata`", 1)[1].split("\n### ", 1)[0]
    for column in ("currency_code", "entity_code", "jurisdiction_code", "coa_version",
                   "created_at_utc", "last_updated_utc"):
        assert f"| `{column}` |" in section


@pytest.mark.parametrize("model", RECON_MODELS, ids=lambda model: model._meta.table_name)
def test_every_allowed_value_of_a_recon_column_is_documented(model: type[Model]) -> None:
    section = DOC.split(f"### `{model._meta.table_name}`", 1)[1].split("\n### ", 1)[0]
    for column_field in model._meta.sorted_fields:
        for constraint in column_field.constraints or ():
            if " IN (" not in constraint.sql:
                continue
            row = section.split(f"| `{column_field.column_name}` |", 1)[1].split("\n", 1)[0]
            for value in re.findall(r"'([^']*)'", constraint.sql):
                assert f"`{value}`" in row, (column_field.column_name, value)


def test_every_trigger_is_named() -> None:
    for name in APPEND_ONLY_TRIGGERS:
        table, operation = name.rsplit("_no_", 1)
        assert f"`{table}`" in DOC and f"_no_{operation}" in DOC


def test_shell_recipes_are_the_sql_verify_uses() -> None:
    flat = " ".join(DOC.split())
    assert audit_text_sql("a").replace('"', "") in flat
    # The entry recipe is split over lines in the doc; compare without whitespace.
    assert "".join(entry_text_sql("e").replace('"', "").split()) in "".join(DOC.split())
    assert "".join(recon_rows_text_sql().replace('"', "").split()) in "".join(DOC.split())
