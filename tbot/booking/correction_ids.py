"""FITIDs of corrected entries.

When an admin accepts a broker's restatement of a fill, reconciliation posts a reversal of
the original entry and a corrected entry whose FITID is the original's followed by ``~c``
and a number (``SIM-F000012~c1``): the broker's id stays readable in it, and the lots, the
reports and the next sync all find which fill a corrected entry speaks for.
"""

from __future__ import annotations

CORRECTION_MARK = "~c"


def base_fitid(fitid: str) -> str:
    """The broker id a ledger FITID books: the FITID without a correction suffix."""
    head, mark, tail = fitid.rpartition(CORRECTION_MARK)
    return head if mark and tail.isdigit() else fitid


def correction_fitid(fitid: str, number: int) -> str:
    """The FITID of the `number`th correction of the entry booked as `fitid`."""
    return f"{base_fitid(fitid)}{CORRECTION_MARK}{number}"


def is_correction_of(fitid: str, original: str) -> bool:
    """True when `fitid` is a correction of the fill `original` books."""
    return fitid != base_fitid(fitid) and base_fitid(fitid) == base_fitid(original)
