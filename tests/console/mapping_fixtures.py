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


def answers(**overrides: object) -> dict[str, object]:
    """The `FixtureLink(answers=...)` of a mapping view test: the queue and a dry-run answer
    (an exception instance is raised instead). Built afresh on each call, so a test may
    change the queue it was handed (e.g. to see a refresh show fewer items)."""
    base: dict[str, object] = {
        "mapping.queue": queue_record(),
        "mapping.assign": assign_record(),
    }
    base.update(overrides)
    return base
