"""CSV files a person downloads and opens in a spreadsheet: cells that cannot run as formulas.

Excel, LibreOffice and Google Sheets run a cell that begins with `=`, `+`, `-` or `@`
(and some read a leading tab or carriage return the same way) as a formula, so a name
such as `=HYPERLINK("https://evil.example","Open")` typed into the CRM would become a
link or worse. Following OWASP's rule, such a text cell gets a leading `'`, which the
spreadsheet shows as text. Numbers are left alone.

Used for the segment members (Slack button and `outcomes segments --export`) and the
feedback list. The machine export for CRM write-back (`outcomes export`) stays exact.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A text cell that would start a formula, prefixed with `'`; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(out: IO[str], columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """Header and rows (missing keys blank), every text cell spreadsheet-safe."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([safe_cell(c) for c in columns])
    for row in rows:
        writer.writerow([safe_cell(row.get(c)) for c in columns])


def safe_frame(frame: Any) -> Any:
    """A copy of a pandas DataFrame whose text cells and column names are spreadsheet-safe."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype.kind not in "biufcmM":  # text or mixed columns only
            out[column] = out[column].map(safe_cell)
    return out.rename(columns=safe_cell)
