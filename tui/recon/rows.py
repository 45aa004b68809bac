"""How breaks, position checks and cash assertions read in the view's grids: one line each,
fitting 80 columns, so a bookkeeper sees per break what the broker says, what the ledger
says and the difference.

Where the two sides disagree on named fields (a restated price), the cells show those
fields only ("price 300.07" against "price 300.06"); otherwise each side's whole value,
without the symbol the Subject column already gives.
"""

from __future__ import annotations

from decimal import Decimal

from rich.text import Text

from tui.model.formatting import money, quantity
from tui.recon.breaks import Break, CashAssertion, PositionCheck
from tui.widgets.grid_source import GridColumn, GridRow

BREAK_COLUMNS = (
    GridColumn("kind", "Kind", 8),
    GridColumn("status", "Status", 11),
    GridColumn("subject", "Subject", 8),
    GridColumn("broker", "Broker says", 16, flex=True),
    GridColumn("ledger", "Ledger says", 16),
    GridColumn("difference", "Difference", 10, align="right"),
    GridColumn("age", "Age", 4, align="right"),
)

POSITION_COLUMNS = (
    GridColumn("symbol", "Symbol", 7),
    GridColumn("broker", "Broker", 8, align="right"),
    GridColumn("ledger", "Ledger", 8, align="right"),
    GridColumn("engine", "Engine", 8, align="right"),
    GridColumn("explained", "Explnd", 6, align="right"),
    GridColumn("outcome", "Outcome", 17),
    GridColumn("reason", "Why", 12, flex=True),
)

BALANCE_COLUMNS = (
    GridColumn("currency", "Cur", 3),
    GridColumn("account", "Acct", 4),
    GridColumn("broker", "Broker cash", 12, align="right"),
    GridColumn("ledger", "Ledger cash", 12, align="right"),
    GridColumn("transit", "In transit", 10, align="right"),
    GridColumn("difference", "Unexplnd", 9, align="right"),
    GridColumn("result", "Check", 14, flex=True),
)

STATUS_STYLES = {
    "mismatch": "bold yellow",
    "local-only": "bold magenta",
    "broker-only": "bold red",
    "pending": "cyan",
    "unmapped": "bold yellow",
    "resolved": "green",
}
OUTCOME_STYLES = {"matched": "green"}
PLACEHOLDER_CELL = Text("…", style="dim")


def age_text(seconds: int | None) -> str:
    """`0s`, `42m`, `5h`, `3d`: an age in at most four cells."""
    if seconds is None:
        return "—"
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def exact(amount: Decimal | None) -> str:
    """An exact amount: two decimals at least, never a fraction rounded away."""
    if amount is None:
        return "—"
    if amount == amount.quantize(Decimal("0.01")):
        return money(amount)
    return f"{amount.normalize():,f}"


def difference_text(brk: Break) -> Text:
    """Broker minus ledger: the cash difference, else the shares (`+5 sh`); `0` when the
    two agree (a pending record)."""
    cash, shares = brk.cash_difference, brk.quantity_difference
    if cash:
        text = exact(cash)
        return Text(text if cash < 0 else f"+{text}", style="red" if cash < 0 else "yellow")
    if shares:
        sign = "+" if shares > 0 else "-"
        return Text(f"{sign}{quantity(abs(shares))} sh", style="yellow")
    return Text("0", style="dim")


def side_text(brk: Break, side: str) -> Text:
    """What one side (`broker` or `ledger`) says, shortly; `—` (dim) when it has nothing."""
    if brk.compare_fields:
        parts = [f"{field.field} {getattr(field, side) or '—'}" for field in brk.compare_fields]
        return Text(", ".join(parts), style="bold")
    value = brk.broker_value if side == "broker" else brk.ledger_value
    if not value:
        return Text("—", style="dim")
    if brk.symbol:
        value = " ".join(word for word in value.split() if word != brk.symbol)
    if brk.kind == "position":
        value = f"{value} sh"
    return Text(value)


def status_text(status: str) -> Text:
    """A status in its colour."""
    return Text(status, style=STATUS_STYLES.get(status, ""))


def break_row(brk: Break) -> GridRow:
    """The grid line of one break, keyed by its id."""
    return GridRow(
        key=brk.key,
        cells=(brk.kind, status_text(brk.status), brk.subject, side_text(brk, "broker"),
               side_text(brk, "ledger"), difference_text(brk), age_text(brk.age_seconds)),
    )


def placeholder_row(index: int) -> GridRow:
    """A row whose page is still being read (its key can never be a break's id)."""
    return GridRow(key=f"…{index}", cells=(PLACEHOLDER_CELL,) * len(BREAK_COLUMNS))


def _shares(amount: Decimal | None) -> str:
    return "—" if amount is None else quantity(amount)


def position_row(check: PositionCheck) -> GridRow:
    """One symbol's last check: broker vs ledger vs engine."""
    style = OUTCOME_STYLES.get(check.outcome, "bold yellow")
    return GridRow(key=check.symbol, cells=(
        check.symbol, _shares(check.broker_quantity), _shares(check.ledger_quantity),
        _shares(check.engine_quantity), _shares(check.explained_quantity),
        Text(check.outcome.replace("_", " "), style=style), check.reason))


def balance_row(cash: CashAssertion) -> GridRow:
    """One currency's last cash assertion."""
    tolerance = exact(cash.tolerance)
    result = (Text(f"passed (±{tolerance})", style="green") if cash.passed
              else Text(f"FAILS (±{tolerance})", style="bold red"))
    return GridRow(key=cash.currency, cells=(
        cash.currency, cash.account, exact(cash.broker_cash), exact(cash.ledger_cash),
        exact(cash.in_transit), exact(cash.difference), result))
