"""The book's outcome-label summary (what `outcomes ingest` prints), kept up to date
per snapshot date instead of re-derived from the whole book after every ingest.

The labels of the rows dated d depend only on the book's rows dated d to d + H (H the
horizon) and on the book's last date (a row's outcome is known once the book reaches
d + H). So after an ingest, only the dates within H before a new row, and those whose
outcome was not known yet, can change; their counts are recomputed, the others come
from `label_counts`. The rows needed are the ones just ingested when the store had no rows of
those dates before (the first ingest of a book), otherwise they are read back.
Same counts as `label_summary(derive_labels(whole book))`, by the same rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from scoring.labels import derive_label_arrays

if TYPE_CHECKING:
    from storage.ingest import StoredRows
    from storage.store import Store

COUNTS = ("rows", "churn_known", "churned", "upsell_known", "upsold")


def _day(iso: str) -> int:
    return date.fromisoformat(iso).toordinal()


def _dirty_dates(store: Store, dates: list[str], rows_at: dict[str, int], horizon: int,
                 growth: float) -> tuple[list[str], dict[str, tuple], int]:
    """Dates whose cached counts may be stale, the cached counts, and the last ingest id."""
    last_ingest = store.scalar("SELECT coalesce(max(id), 0) FROM ingests")
    cached = {r[0]: r[1:] for r in store.conn.execute(
        f"SELECT as_of, {', '.join(COUNTS)}, last_ingest FROM label_counts"
        " WHERE horizon_days = ? AND upsell_growth = ?", (horizon, growth))}
    if not cached:
        return list(dates), cached, last_ingest
    upto = min(v[-1] for v in cached.values())
    changed = [(_day(a), _day(b)) for a, b in store.conn.execute(
        "SELECT first_as_of, last_as_of FROM ingests WHERE id > ?", (upto,))]
    old_last = _day(max(cached))
    moved_on = _day(dates[-1]) != old_last
    dirty = []
    for d in dates:
        day = _day(d)
        if (d not in cached or cached[d][0] != rows_at[d]
                or (moved_on and day + horizon > old_last)  # its outcome may be known now
                or any(day <= hi and day + horizon >= lo for lo, hi in changed)):
            dirty.append(d)
    return dirty, cached, last_ingest


def _rows_from(fresh: Sequence[StoredRows], dates: list[str]) -> dict[str, np.ndarray] | None:
    """The label columns of the fresh rows at these dates, or None if some must be read
    back: only a date the store had no rows of before an ingest holds exactly its rows.
    Accounts and dates come as codes (see `_count`) from the ingest's own codes: no
    string per row is hashed again; several ingests' accounts are matched by their ids."""
    import pyarrow as pa

    if not all(any(d in f.new_dates for f in fresh) for d in dates):
        return None
    position = {d: i for i, d in enumerate(dates)}
    parts = []
    for f in fresh:
        lut = np.array([position[d] if d in f.new_dates and d in position else -1
                        for d in f.days] + [-1], dtype="int64")
        code = lut[f.day]  # a row's date, as a position in `dates`
        keep = code >= 0
        if keep.any():
            parts.append((f, keep, code[keep]))
    if len(parts) == 1:
        f, keep, _ = parts[0]
        account = f.account if keep.all() else f.account[keep]
    else:  # one code per id over every part: each part's ids mapped once, not each row
        known = pa.concat_arrays([f.account_ids for f, _, _ in parts]).dictionary_encode()
        remap = known.indices.to_numpy(zero_copy_only=False)
        account, start = [], 0
        for f, keep, _ in parts:
            account.append(remap[start:start + len(f.account_ids)][f.account[keep]])
            start += len(f.account_ids)
        account = np.concatenate(account)
    return {
        "account": account,
        "date_code": np.concatenate([c for _, _, c in parts]),
        "dates": dates,
        "left": np.concatenate([f.left[k] for f, k, _ in parts]),
        "arr": np.concatenate([f.arr[k] for f, k, _ in parts]),
        "churned": np.concatenate([f.churned[k] for f, k, _ in parts]),
        "upsold": np.concatenate([f.upsold[k] for f, k, _ in parts]),
    }


def _read_rows(store: Store, lo: str, hi: str) -> dict[str, np.ndarray]:
    got = store.conn.execute(
        "SELECT account_id, as_of, status = 'churned', arr, churned, upsold FROM snapshots"
        " WHERE as_of BETWEEN ? AND ?", (lo, hi)).fetchall()
    cols = list(zip(*got, strict=True)) if got else [()] * 6

    def floats(values: tuple) -> np.ndarray:
        return np.array(values, dtype="float64")  # None becomes NaN

    date_codes, uniques = pd.factorize(np.array(cols[1], dtype=object))
    return {"account": pd.factorize(np.array(cols[0], dtype=object))[0],
            "date_code": date_codes, "dates": list(uniques),
            "left": np.array([bool(v) for v in cols[2]], dtype=bool), "arr": floats(cols[3]),
            "churned": floats(cols[4]), "upsold": floats(cols[5])}


def _count(rows: dict[str, np.ndarray], wanted: list[str], horizon: int, growth: float,
           book_last: str) -> dict[str, tuple[int, ...]]:
    """Label counts of the rows dated `wanted`; `rows` hold every row from the first of
    them to the first book date on or after the last + H (the book's last date if sooner),
    their accounts as codes 0.. ("account") and their dates as codes ("date_code") into
    the distinct dates ("dates")."""
    date_codes, uniques = rows["date_code"], rows["dates"]
    day_of = np.array([_day(u) for u in uniques], dtype="int64")
    days = day_of[date_codes] if len(uniques) else np.zeros(0, "int64")
    # derive_label_arrays knows an outcome once its last date reaches d + H; the rows
    # given end at or after every wanted d + H, or at the book's last date.
    churned, upsold = derive_label_arrays(rows["account"], days, rows["left"], rows["arr"],
                                          rows["churned"], rows["upsold"], horizon, growth)
    out = {}
    for i, d in enumerate(uniques):
        if d not in wanted:
            continue
        at = date_codes == i
        if not at.any():
            continue  # none of the rows given is of this date
        c, u = churned[at], upsold[at]
        out[d] = (int(at.sum()), int((~np.isnan(c)).sum()), int((c == 1).sum()),
                  int((~np.isnan(u)).sum()), int((u == 1).sum()))
    return out


def book_label_summary(store: Store, horizon_days: int, upsell_growth: float,
                       fresh: Sequence[StoredRows] = ()) -> dict[str, int]:
    """`label_summary` of the whole stored book; `fresh`: the rows just ingested (optional,
    saves reading them back). Updates the per-date cache in `label_counts`."""
    rows_at = dict(store.conn.execute(
        "SELECT as_of, count(*) FROM snapshots GROUP BY as_of ORDER BY as_of").fetchall())
    dates = list(rows_at)
    if not dates:
        return dict.fromkeys(COUNTS, 0)
    dirty, cached, last_ingest = _dirty_dates(store, dates, rows_at, horizon_days, upsell_growth)
    counts = {d: tuple(cached[d][:-1]) for d in dates if d in cached and d not in dirty}
    if dirty:
        lo = dirty[0]
        reach = date.fromordinal(_day(dirty[-1]) + horizon_days).isoformat()
        after = [d for d in dates if d >= reach]
        hi = after[0] if after else dates[-1]
        rows = _rows_from(fresh, [d for d in dates if lo <= d <= hi])
        if rows is None:
            rows = _read_rows(store, lo, hi)
        new = _count(rows, dirty, horizon_days, upsell_growth, dates[-1])
        counts.update(new)
        with store.transaction() as conn:
            conn.execute("DELETE FROM label_counts WHERE horizon_days = ? AND upsell_growth = ?"
                         " AND as_of NOT IN (SELECT DISTINCT as_of FROM snapshots)",
                         (horizon_days, upsell_growth))
            conn.executemany(
                "INSERT OR REPLACE INTO label_counts (horizon_days, upsell_growth, as_of,"
                f" {', '.join(COUNTS)}, last_ingest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(horizon_days, upsell_growth, d, *new[d], last_ingest) for d in dirty])
            conn.execute("UPDATE label_counts SET last_ingest = ? WHERE horizon_days = ?"
                         " AND upsell_growth = ?", (last_ingest, horizon_days, upsell_growth))
    total = np.sum([counts[d] for d in dates], axis=0)
    return dict(zip(COUNTS, (int(x) for x in total), strict=True))

