"""Fixed `mapping.*` answers for the mapping view's tests and snapshots: the shapes of
docs/protocol.md ("Mapping") as a simulated bot's engine gives them, frozen around
2026-11-20 (see console_fixtures.FROZEN_NOW)."""

from __future__ import annotations

from typing import Any

from tests.console import console_fixtures

CALLER = "control:operator1(uid=1001)"

MAPPING_METHODS = (
    ("mapping.queue", "viewer", False),
    ("mapping.show", "viewer", False),
    ("mapping.assign", "admin", True),
    ("mapping.undo", "admin", True),
    ("mapping.rules", "viewer", False),
    ("mapping.preview_rule", "viewer", False),
    ("mapping.set_rule", "admin", True),
    ("mapping.versions", "viewer", False),
    ("mapping.diff", "viewer", False),
    ("mapping.replay", "viewer", False),
    ("mapping.activate", "admin", True),
    ("mapping.rollback", "admin", True),
    ("mapping.export", "viewer", False),
    ("mapping.import", "admin", True),
)


def discover_record(role: str = "admin") -> dict[str, Any]:
    """`rpc.discover` of console_fixtures, plus the mapping methods."""
    record = console_fixtures.discover_record(role)
    rank = {"viewer": 0, "auditor": 1, "operator": 2, "admin": 3}
    record["methods"] = [*record["methods"], *(
        {"name": name, "summary": name, "min_role": minimum, "changes_state": changes,
         "allowed": rank[role] >= rank[minimum], "params": []}
        for name, minimum, changes in MAPPING_METHODS
    )]
    return record


def suggestion(account: str, name: str, confidence: float | None, reasons: list[str],
               precedents: list[int], source: str, **extra: Any) -> dict[str, Any]:
    """One element of an item's `suggestions`."""
    return {"account": account, "name": name, "confidence": confidence, "reasons": reasons,
            "precedents": precedents, "source": source, **extra}


def item(number: int, activity_type: str, amount: str, description: str, occurred: str,
         suggestions: list[dict[str, Any]], *, reason: str = "below-threshold",
         detail: str = "", symbol: str | None = None) -> dict[str, Any]:
    """One `mapping.queue` item of the simulated broker, queued."""
    return {
        "id": number,
        "broker_id": f"SIM-ACT-{number:04d}",
        "state": "queued",
        "reason": reason,
        "detail": detail,
        "broker": "SIM",
        "activity_type": activity_type,
        "subtype": None,
        "description": description,
        "symbol": symbol,
        "amount": amount,
        "currency": "USD",
        "occurred_at": occurred,
        "record_hash": f"{number:02d}" + "5e1f" * 15 + "ab",
        "suggestions": suggestions,
        "decision_id": None,
        "entry_id": None,
        "since": occurred.replace("T21:00:00", "T21:05:00"),
    }


def queue_items() -> list[dict[str, Any]]:
    """Four items newest first: a fee the model learned (three suggestions), a journal two
    rules tie on, interest no rule knows, and a record with no suggestion at all."""
    return [
        item(7, "FEE", "-12.34", "OPRA market data fee November 2026",
             "2026-11-19T21:00:00.000000+00:00", [
                 suggestion("5070", "Bot Infrastructure Costs", 0.6667,
                            ["word=opra", "type_sign=FEE-", "word=data"], [12, 9], "learned",
                            posterior=0.7412, evidence="2 of 3 decisions of this kind"),
                 suggestion("5045", "Broker Fees – Simulated Broker", 0.25,
                            ["type_sign=FEE-"], [4], "learned", posterior=0.2011,
                            evidence="1 of 3 decisions of this kind"),
                 suggestion("5080", "Tax Payments (Realized/Withheld)", 0.2,
                            ["like R9 (Dividend tax withheld (non-resident))"], [],
                            "similar-rule"),
             ], detail="the learned model's confidence 0.67 is below 0.90"),
        item(6, "JNLC", "2500", "Journal from the group treasury account",
             "2026-11-18T21:00:00.000000+00:00", [
                 suggestion("3010", "Capital Float Ledger", None,
                            ["R3 matches (Cash journal in: capital float)"], [], "tied-rule"),
                 suggestion("3020", "Daily Float Allocation History", None,
                            ["R41 matches (treasury journals)"], [], "tied-rule"),
             ], reason="ambiguous", detail="rules R3 and R41 tie and book differently"),
        item(5, "INT", "3.21", "Credit interest on cash balance",
             "2026-11-17T21:00:00.000000+00:00", [
                 suggestion("4090", "Float/Tax/Payroll Reserve Transfers", 0.4,
                            ["like R15 (Interest charged)"], [], "similar-rule"),
             ], reason="no-rule", detail="no rule matches INT +"),
        item(4, "MISC", "-0.0042", "Rounding adjustment", "2026-11-16T21:00:00.000000+00:00",
             [], reason="no-rule", detail="no rule matches MISC -"),
    ]


def queue_record(items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A `mapping.queue` answer (`{"limit": 500}`)."""
    chosen = queue_items() if items is None else items
    return {"total": len(chosen), "limit": 500, "offset": 0, "items": chosen}


def assign_record(number: int = 7, account: str = "5070", *, dry_run: bool = True,
                  amount: str = "-12.34", memo_text: str = "OPRA market data fee November 2026",
                  activity_type: str = "FEE") -> dict[str, Any]:
    """A `mapping.assign` answer posting a cash-out item (Dr `account`, Cr 1070)."""
    broker_id = f"SIM-ACT-{number:04d}"
    positive = amount.lstrip("-")
    cash_in = not amount.startswith("-")
    debit, credit = ("1070", account) if cash_in else (account, "1070")
    record: dict[str, Any] = {
        "item": number,
        "broker_id": broker_id,
        "account": account,
        "action": "post",
        "debit": debit,
        "credit": credit,
        "amount": amount,
        "rule_version": 1,
        "entries": [{
            "fitid": broker_id,
            "dtposted": "2026-11-19T21:00:00.000000+00:00",
            "trntype": "CREDIT" if cash_in else "DEBIT",
            "memo": f"{activity_type} {amount}: {memo_text} [mapped to {account} by {CALLER}]",
            "postings": [
                {"account": debit, "amount": positive, "symbol": None, "quantity": None},
                {"account": credit, "amount": f"-{positive}", "symbol": None,
                 "quantity": None},
            ],
        }],
    }
    if not dry_run:
        record.update(decision_id=31, posted_entry_ids=[118])
    return record


def rule(rule_id: str, debit: str, credit: str, name: str, *, origin: str = "default",
         enabled: bool = True, **criteria: str) -> dict[str, Any]:
    """One rule as `mapping.rules` lists it (every field present, unset ones null)."""
    fields: dict[str, Any] = {name: None for name in (
        "broker", "activity_type", "subtype", "description", "symbol", "sign",
        "amount_min", "amount_max")}
    fields.update(criteria)
    shown = " ".join(f"{k}={v}" for k, v in criteria.items())
    return {"id": rule_id, "name": name, **fields, "debit": debit, "credit": credit,
            "enabled": enabled, "origin": origin,
            "summary": f"{rule_id} {shown} → Dr {debit} / Cr {credit} ({name})",
            "specificity": len(criteria)}


def version(number: int, action: str, author: str, reason: str, created: str, rules: int,
            *, source: int | None = None) -> dict[str, Any]:
    """One version as `mapping.versions` lists it."""
    return {"version": number, "action": action, "active_on_creation": True,
            "source_version": source, "author": author, "reason": reason,
            "created_at": created, "content_hash": f"{number:x}" * 64, "rule_count": rules,
            "source_identity": None}


def versions_record() -> dict[str, Any]:
    """Three versions, newest first: the defaults, an operator's rule, and a disable."""
    return {"active": 3, "versions": [
        version(3, "disable", CALLER, "R41 books treasury journals twice",
                "2026-11-19T16:20:00.000000+00:00", 4),
        version(2, "add", "control:alice(uid=1002)", "rule R41 saved with item #2: "
                "treasury journals", "2026-11-12T10:05:00.000000+00:00", 4),
        version(1, "create", "tbot", "the shipped defaults",
                "2026-11-01T09:00:00.000000+00:00", 3),
    ]}


def rules_record() -> dict[str, Any]:
    """The active version 3's rules."""
    return {"version": versions_record()["versions"][0], "active": True, "rules": [
        rule("R3", "1070", "3010", "Cash journal in: capital float", broker="SIM",
             activity_type="JNLC", sign="+"),
        rule("R9", "5080", "1070", "Dividend tax withheld (non-resident)",
             activity_type="DIVNRA", sign="-"),
        rule("R15", "5045", "1070", "Interest charged", activity_type="INT", sign="-"),
        rule("R41", "1070", "3020", "treasury journals", origin="operator", enabled=False,
             activity_type="JNLC", description="treasury"),
    ]}


def diff_record() -> dict[str, Any]:
    """`mapping.diff` {a: 1, b: 3}: R41 added (disabled)."""
    added = rules_record()["rules"][3]
    after = {k: v for k, v in added.items() if k not in ("summary", "specificity")}
    return {"from": 1, "to": 3, "changes": [
        {"rule_id": "R41", "change": "added", "fields": [], "before": None, "after": after}]}


def replay_record() -> dict[str, Any]:
    """`mapping.replay` {version: 2}: two of nine decisions would change."""
    return {"candidate": "version 2", "decisions": 9, "changed": 2, "changes": [
        {"decision_id": 12, "broker_id": "SIM-ACT-0002", "activity_type": "JNLC",
         "amount": "2500", "old_account": "3010", "old_layer": "operator",
         "new_account": None, "new_layer": "queue",
         "why": "rules tie at the same specificity: R3 → 3010, R41 → 3020"},
        {"decision_id": 9, "broker_id": "SIM-ACT-0001", "activity_type": "FEE",
         "amount": "-3.10", "old_account": "5070", "old_layer": "operator",
         "new_account": "5045", "new_layer": "rule",
         "why": "mapped by R44 (rule, version 0): Dr 5045 / Cr 1070"},
    ]}


def preview_record(queued: int = 3, past: int = 2) -> dict[str, Any]:
    """`mapping.preview_rule` answer for a rule on OPRA fees."""
    return {
        "rule": {"id": "R42", "summary": "R42 type=FEE sign=- desc=/OPRA/ → Dr 5070 / Cr 1070"},
        "queued": queued, "past": past, "conflicts": 1,
        "examples": [
            {"state": "queued", "id": 7, "decision_id": None, "broker_id": "SIM-ACT-0007",
             "activity_type": "FEE", "amount": "-12.34",
             "description": "OPRA market data fee November 2026", "account": None},
            {"state": "decided", "id": None, "decision_id": 12, "broker_id": "SIM-ACT-0003",
             "activity_type": "FEE", "amount": "-11.90",
             "description": "OPRA market data fee October 2026", "account": "5070"},
        ],
        "conflict_examples": [],
    }


def rule_assign_record() -> dict[str, Any]:
    """`mapping.assign` with `save_rule`: the posting and the rule it saves."""
    record = assign_record()
    record["new_version"] = 4
    record["rule"] = {"id": "R42", "name": "saved from FEE -", "broker": "SIM",
                      "activity_type": "FEE", "subtype": None, "description": None,
                      "symbol": None, "sign": "-", "amount_min": None, "amount_max": None,
                      "debit": "5070", "credit": "1070", "enabled": True,
                      "origin": "operator"}
    return record


def export_record() -> dict[str, Any]:
    """`mapping.export` of the active version."""
    rules = [{k: v for k, v in r.items() if k not in ("summary", "specificity")}
             for r in rules_record()["rules"]]
    return {"schema": "tbot.coa-mapping", "schema_version": 1, "bot_identity": "BOT01",
            "version": 3, "action": "disable", "author": CALLER,
            "reason": "R41 books treasury journals twice",
            "created_at": "2026-11-19T16:20:00.000000+00:00", "content_hash": "3" * 64,
            "rules": rules}


def import_record() -> dict[str, Any]:
    """`mapping.import`: a candidate version 4."""
    return {"version": 4, "active": False, "source_version": 3, "source_identity": "BOT02",
            "content_hash": "4" * 64, "rules": 4}


def answers(**overrides: object) -> dict[str, object]:
    """The `FixtureLink(answers=...)` of a mapping view test: the queue and a dry-run answer
    (an exception instance is raised instead). Built afresh on each call, so a test may
    change the queue it was handed (e.g. to see a refresh show fewer items)."""
    base: dict[str, object] = {
        "mapping.queue": queue_record(),
        "mapping.assign": assign_record(),
        "mapping.rules": rules_record(),
        "mapping.versions": versions_record(),
        "mapping.diff": diff_record(),
        "mapping.replay": replay_record(),
        "mapping.preview_rule": preview_record(),
        "mapping.rollback": {"version": 4, "source_version": 2, "action": "rollback",
                             "content_hash": "2" * 64, "rules": 4},
        "mapping.export": export_record(),
        "mapping.import": import_record(),
    }
    base.update(overrides)
    return base
