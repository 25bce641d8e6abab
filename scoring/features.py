"""Snapshots -> the feature frame the models learn from.

Features are the account's current metrics plus its trajectory, computed from the
account's own past snapshots only, so a row never sees anything dated after its
`as_of`: the change versus about 3 and 6 months earlier, and over its last snapshots
the slope (per 30 days, last 6) and the drawdown from its peak (last 12). The
trajectory is measured on the account's recent level, the mean of its last
SMOOTH_SNAPSHOTS snapshots, not on single snapshots: month-to-month noise would
otherwise swing every trend (and the score) on a month whose data did not change at
all. On the demo book a repeated month moved 15% of the accounts with single-snapshot
trends (and a 1-month change) and 5% with these, both under a 4-point dead band, at the
same backtest ROC AUC within its interval (`bench/movement_stability.py`,
`bench/bench_quality.py`). The current values stay features as they are, so a real
change this month still shows at once.
(The volatility of the snapshot-to-snapshot changes and the run of snapshots in decline
were tried and left out: on the simulated books in bench/ they cost 15% more training
time for no ROC AUC gain.) Non-negative metrics are compared on a log scale
(log1p), others as plain differences. For a metric that is mostly zero (severe
tickets, days a payment is late), the days since it was last non-zero. A few
context features come from the canonical columns (days to renewal, tenure, ARR
and its trend, number of products): they are not data components, so Leading
Indicators leave them out, but they are real signals (most churn happens at
renewal).

Blanks stay missing (NaN) all the way into the pipelines.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any

import numpy as np
import pandas as pd

from scoring import parallel
from storage import split_read
from storage.store import METRIC_PREFIX, Store

CONTEXT = "ctx__"
TREND_SEP = "__"
# Suffix -> days back. A snapshot at least this old (and within the tolerance) is the
# comparison point: with monthly snapshots these are the ones 3 and 6 months earlier.
TREND_WINDOWS: dict[str, int] = {"d3": 85, "d6": 175}
SMOOTH_SNAPSHOTS = 3        # trajectories are measured on the mean of this many snapshots
SLOPE_SNAPSHOTS = 6
PEAK_SNAPSHOTS = 12
SPARSE_ZERO_SHARE = 0.5     # a metric zero this often gets a 'days since non-zero' feature
TREND_TOLERANCE_DAYS = 60
CONTEXT_LABELS = {
    f"{CONTEXT}days_to_renewal": "Days to renewal",
    f"{CONTEXT}tenure_days": "Customer for (days)",
    f"{CONTEXT}arr": "ARR",
    f"{CONTEXT}arr{TREND_SEP}d3": "ARR change (3 months)",
    f"{CONTEXT}renewal_soon": "Renewal within the horizon",
    f"{CONTEXT}n_products": "Products in use",
}


@dataclass
class MetricPlan:
    """Which stored metrics the models may use, by kind."""

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)

    @property
    def all(self) -> list[str]:
        return [*self.numeric, *self.categorical]


@dataclass
class FeatureSet:
    """Model features for a set of snapshot rows (same order as `keys`)."""

    keys: pd.DataFrame            # account_id, as_of (ISO strings)
    frame: pd.DataFrame           # one column per feature
    numeric: list[str]
    categorical: list[str]
    base_of: dict[str, str]       # feature -> metric (or context feature) it derives from

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]


def metric_plan(store: Store) -> MetricPlan:
    """Metrics the ingest marked as usable by the models (free text is not)."""
    registry = store.metrics()
    plan = MetricPlan()
    for name, kind, in_model in zip(registry["name"], registry["kind"], registry["in_model"],
                                    strict=True):
        if not in_model:
            continue
        (plan.categorical if kind == "category" else plan.numeric).append(name)
    return plan


_MISSING = -9.87654321e300  # SQLite has no NaN: blanks come back as this, then become NaN
# A book of at least this many rows is read in parts by helper processes, one per core
# beside this one (`storage.split_read`; a process takes ~0.2 s to start). `load_book`
# of 1.6M rows x 29 columns on two cores: 9.7-10.6 s in one process, 5.6-6.3 s in two.
SPLIT_READ_ROWS = 200_000


def load_book(store: Store, plan: MetricPlan) -> pd.DataFrame:
    """Every snapshot row (sorted by account_id, as_of) with what scoring needs (see
    `_load_book`), read in one read transaction (its helper processes' included): its
    several queries see one state of the store even while an ingest commits."""
    conn = store.conn
    if conn.in_transaction:   # the caller's transaction: read here alone
        return _load_book(store, plan, split_read.Helpers())
    rows = store.scalar("SELECT max(rowid) FROM snapshots") or 0   # rows appended: about n
    helpers = parallel.cores() - 1 if rows >= SPLIT_READ_ROWS else 0
    with split_read.read_transaction(store, helpers) as started:
        return _load_book(store, plan, started)


def _load_book(store: Store, plan: MetricPlan, helpers: split_read.Helpers) -> pd.DataFrame:
    """Every snapshot row (sorted by account_id, as_of) with what scoring needs.

    Big books are read as one all-numeric query (dates, renewal timing and product
    counts computed by SQLite, categories as codes) fetched straight into a float
    array, in ranges of accounts read side by side by `helpers`: far faster and lighter
    than materialising millions of Python strings.
    Columns: account_id, as_of, arr, churned, upsold, one per usable metric (categories
    as text), and internal ones whose leading underscore no metric name can have
    (ingest strips it): _account_code, _day, _status_churned, _days_to_renewal,
    _customer_since, _n_products.
    """
    conn = store.conn
    counts = conn.execute(
        "SELECT account_id, count(*) FROM snapshots GROUP BY account_id ORDER BY account_id"
    ).fetchall()
    ids = np.array([r[0] for r in counts], dtype=object)
    per_account = np.array([r[1] for r in counts], dtype="int64")
    dates = [r[0] for r in conn.execute("SELECT DISTINCT as_of FROM snapshots ORDER BY as_of")]
    # Every category metric's values from one scan of the table (its distinct
    # combinations), not one scan per metric; sorted as SQLite sorts text (code points).
    categories: dict[str, list[str]] = {}
    if plan.categorical:
        combos = conn.execute("SELECT DISTINCT " + ", ".join(
            f'"{METRIC_PREFIX}{m}"' for m in plan.categorical) + " FROM snapshots").fetchall()
        for i, metric in enumerate(plan.categorical):
            categories[metric] = sorted({c[i] for c in combos if c[i] is not None})
    miss = repr(_MISSING)
    exprs = [
        "julianday(as_of)",
        "IFNULL(status = 'churned', 0)",
        f"IFNULL(arr, {miss})",
        f"IFNULL(churned, {miss})",
        f"IFNULL(upsold, {miss})",
        f"IFNULL(julianday(renewal_date) - julianday(as_of), {miss})",
        f"IFNULL(julianday(customer_since), {miss})",
        "CASE WHEN products IS NULL OR products = '' THEN " + miss
        + " ELSE length(products) - length(replace(products, ';', '')) + 1 END",
    ]
    names = ["_day", "_status_churned", "arr", "churned", "upsold", "_days_to_renewal",
             "_customer_since", "_n_products"]
    params: list[str] = []
    for metric in plan.numeric:
        exprs.append(f'IFNULL("{METRIC_PREFIX}{metric}", {miss})')
        names.append(metric)
    for metric, values in categories.items():
        whens = " ".join(f"WHEN ? THEN {i}" for i in range(len(values)))
        params.extend(values)
        exprs.append(f'IFNULL(CASE "{METRIC_PREFIX}{metric}" {whens} END, {miss})' if values
                     else miss)
        names.append(metric)
    parts = _parts(f"SELECT {', '.join(exprs)} FROM snapshots", params, ids, per_account,
                   helpers.count + 1)
    # One column per metric, filled in place (one copy of the book in memory, not two).
    matrix = split_read.read_floats(store, parts, len(names), helpers)
    matrix[matrix == _MISSING] = np.nan
    data: dict[str, Any] = {}
    codes = np.repeat(np.arange(len(ids)), per_account)
    data["account_id"] = _repeated_text(ids, codes)
    data["_account_code"] = codes
    day = matrix[:, 0]
    epoch = np.array([pd.Timestamp(d).to_julian_date() for d in dates], dtype="float64")
    data["as_of"] = _repeated_text(dates, np.searchsorted(epoch, day - 0.25))
    for i, name in enumerate(names):
        if name in categories:
            col = matrix[:, i]
            data[name] = _repeated_text([*categories[name], np.nan],
                                        np.where(np.isnan(col), len(categories[name]), col)
                                        .astype("int64"))
        elif name == "_day":
            data[name] = np.round(day - 2440587.5).astype("int64")  # days since 1970-01-01
        elif name == "_customer_since":
            data[name] = np.round(matrix[:, i] - 2440587.5)        # the same scale (NaN: none)
        else:
            data[name] = matrix[:, i]
    # copy=False: a column per array, not one consolidated copy of the whole book.
    return pd.DataFrame(data, copy=False)


def take_rows(frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """`frame.iloc[rows]` with a fresh index, a column per thread (numpy's gather of
    numbers runs without the GIL: 1.6M rows x 30 columns 0.9 s -> 0.5 s on two cores);
    each column keeps its dtype (an object column stays one)."""
    if len(rows) == len(frame):
        return frame.reset_index(drop=True)
    names = list(frame.columns)
    taken = parallel.ordered_map(lambda name: frame[name].to_numpy()[rows], names,
                                 name="outcomes-take")
    return pd.DataFrame({name: pd.Series(values, dtype=frame[name].dtype, copy=False)
                         for name, values in zip(names, taken, strict=True)}, copy=False)


def _repeated_text(values: Sequence[Any], index: np.ndarray) -> pd.Series:
    """`values[index]` as an object column in which equal values are one `str` object:
    a gather of pointers (10 ms for 1.6M rows), not a new string per row, and not the
    conversion to pandas text a frame would otherwise make of it (0.45 s), which
    `build_features` would turn back into shared strings."""
    return pd.Series(np.asarray(values, dtype=object)[index], dtype=object, copy=False)


def _parts(select: str, params: list[str], ids: np.ndarray, per_account: np.ndarray,
           count: int) -> list[split_read.Part]:
    """`select`'s rows in (account_id, as_of) order, as up to `count` parts: ranges of
    whole accounts of about equal rows, in order."""
    order = " ORDER BY account_id, as_of"
    ends = np.cumsum(per_account)
    cuts = sorted({int(np.searchsorted(ends, ends[-1] * k / count)) + 1
                   for k in range(1, count)} - {0, len(ids)}) if len(ids) else []
    if not cuts:
        return [split_read.Part(select + order, params, int(per_account.sum()))]
    bounds = [0, *cuts, len(ids)]
    parts = []
    for lo, hi in itertools.pairwise(bounds):
        where = []
        bound: list[str] = []
        if lo > 0:
            where.append("account_id >= ?")
            bound.append(ids[lo])
        if hi < len(ids):
            where.append("account_id < ?")
            bound.append(ids[hi])
        parts.append(split_read.Part(f"{select} WHERE {' AND '.join(where)}{order}",
                                     [*params, *bound], int(per_account[lo:hi].sum())))
    return parts


def _lookback(account_codes: np.ndarray, days: np.ndarray, back: int) -> np.ndarray:
    """Row index of the account's latest snapshot at least `back` days earlier; the row
    count when there is none (one past the end: it reads NaN from `_padded` values).

    Rows must be sorted by (account, date). One searchsorted over a combined key keeps
    this vectorised for millions of rows.
    """
    d = days - (days.min() if len(days) else 0)
    span = int(d.max()) + 1 if len(d) else 1
    key = account_codes.astype("int64") * span + d
    target = key - back
    pos = np.searchsorted(key, target, side="right") - 1
    ok = pos >= 0
    safe = np.where(ok, pos, 0)
    ok &= account_codes[safe] == account_codes
    ok &= (days - days[safe]) <= back + TREND_TOLERANCE_DAYS
    ok &= (days - days[safe]) >= back
    return np.where(ok, safe, len(days))


def _previous(accounts: np.ndarray, k: int) -> np.ndarray:
    """Row index of the account's k-th previous snapshot (the row count when there is
    none, as `_lookback`). Rows sorted."""
    n = len(accounts)
    idx = np.arange(n) - k
    ok = idx >= 0
    ok[ok] &= accounts[idx[ok]] == accounts[ok]
    return np.where(ok, idx, n).astype("int64")


def _padded(values: np.ndarray) -> np.ndarray:
    """`values` with a NaN after the last row: indexed by `_lookback` / `_previous`
    positions, a missing snapshot reads NaN in one gather."""
    return np.append(values.astype("float64", copy=False), np.nan)


def _steps_back(days: np.ndarray, prev: list[np.ndarray]) -> list[np.ndarray]:
    """Per k-th previous snapshot (k = 1 .. SLOPE_SNAPSHOTS - 1): its distance back in
    30-day units (any value where there is none: those rows are masked by NaN values).
    The same for every metric, so computed once."""
    ext = np.append(days, days[-1] if len(days) else 0)
    return [(ext[i] - days) / 30.0 for i in prev[:SLOPE_SNAPSHOTS - 1]]


def _trajectory(t: np.ndarray, prev: list[np.ndarray], steps: list[np.ndarray]
                ) -> dict[str, np.ndarray]:
    """Slope (per 30 days, over the last SLOPE_SNAPSHOTS) and drawdown from the peak
    (over the last PEAK_SNAPSHOTS) of one (transformed) metric; each value k snapshots
    back is looked up once (`prev`, with `steps` their distances back, `_steps_back`)."""
    n = len(t)
    ext = _padded(t)
    # k = 0: this snapshot, at distance 0.
    ok = ~np.isnan(t)
    c = ok.astype("float64")
    sx = np.zeros(n)
    sy = np.where(ok, t, 0.0)
    sxx = np.zeros(n)
    sxy = np.zeros(n)
    peak = t.copy()
    for k in range(1, max(SLOPE_SNAPSHOTS, PEAK_SNAPSHOTS)):
        y = ext[prev[k - 1]]   # NaN: no such snapshot, or a blank in it
        np.fmax(peak, y, out=peak)
        if k < SLOPE_SNAPSHOTS:
            ok = ~np.isnan(y)
            x0, y0 = np.where(ok, steps[k - 1], 0.0), np.where(ok, y, 0.0)
            c += ok
            sx += x0
            sy += y0
            sxx += x0 * x0
            sxy += x0 * y0
    with np.errstate(invalid="ignore", divide="ignore"):
        den = c * sxx - sx * sx
        slope = np.where((c >= 3) & (den > 0), (c * sxy - sx * sy) / den, np.nan)
    return {"slope": slope, "drawdown": t - peak}


def _days_since_nonzero(values: np.ndarray, accounts: np.ndarray, days: np.ndarray
                        ) -> np.ndarray:
    """Days since the account's latest snapshot (this one included) with a value > 0."""
    n = len(values)
    with np.errstate(invalid="ignore"):
        pos = np.where(values > 0, np.arange(n), -1)
    last = np.maximum.accumulate(pos) if n else pos
    ok = last >= 0
    ok[ok] &= accounts[last[ok]] == accounts[ok]
    return np.where(ok, days - days[np.maximum(last, 0)], np.nan).astype("float64")


def _nonneg(values: np.ndarray) -> bool:
    """Whether a metric's known values are all >= 0 (and there is at least one)."""
    filled = values[~np.isnan(values)]
    return bool(filled.size) and float(filled.min()) >= 0


def _scale(values: np.ndarray) -> np.ndarray:
    """The scale trends are measured on: log1p for a non-negative metric (so changes are
    relative, scale-free), the values themselves otherwise."""
    return np.log1p(values) if _nonneg(values) else values


def _recent_level(t: np.ndarray, prev: list[np.ndarray]) -> np.ndarray:
    """Mean of the account's last SMOOTH_SNAPSHOTS values (this one included; blanks and
    missing snapshots skipped; NaN when all are blank)."""
    total = np.where(np.isnan(t), 0.0, t)
    count = (~np.isnan(t)).astype("float64")
    ext = _padded(t)
    for k in range(SMOOTH_SNAPSHOTS - 1):
        v = ext[prev[k]]
        known = ~np.isnan(v)
        total += np.where(known, v, 0.0)
        count += known
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _with_trends(name: str, values: np.ndarray, prev: list[np.ndarray],
                 lags: dict[str, np.ndarray], suffixes: tuple[str, ...] = tuple(TREND_WINDOWS)
                 ) -> tuple[list[tuple[str, np.ndarray]], np.ndarray]:
    """The value and its changes over `suffixes` as (name, float32 column) pairs, and its
    recent level (see module doc)."""
    level = _recent_level(_scale(values), prev)
    padded = _padded(level)
    columns = [(name, values.astype("float32"))]
    columns += [(f"{name}{TREND_SEP}{suffix}", (level - padded[lags[suffix]]).astype("float32"))
                for suffix in suffixes]
    return columns, level


def build_features(book: pd.DataFrame, plan: MetricPlan, horizon_days: int = 90) -> FeatureSet:
    """Features for every row of `book` (from `load_book`, churned rows removed).

    Trends only look backwards within the same account, so no row sees its own future.
    """
    book = book.reset_index(drop=True)
    accounts = book["_account_code"].to_numpy()
    days = book["_day"].to_numpy()
    d = days - (days.min() if len(days) else 0)
    key = accounts.astype("int64") * (int(d.max()) + 1 if len(d) else 1) + d
    if not bool(np.all(np.diff(key) > 0)):
        raise ValueError("book must be sorted by account_id, as_of with one row per pair")
    # Where each row looks back to (numpy over whole columns: a lookup per thread).
    looks = [partial(_lookback, accounts, days, back) for back in TREND_WINDOWS.values()]
    looks += [partial(_previous, accounts, k) for k in range(1, PEAK_SNAPSHOTS)]
    found = parallel.ordered_map(lambda look: look(), looks, name="outcomes-features")
    lags = dict(zip(TREND_WINDOWS, found[:len(TREND_WINDOWS)], strict=True))
    prev = found[len(TREND_WINDOWS):]
    steps = _steps_back(days, prev)

    data: dict[str, Any] = {}
    base_of: dict[str, str] = {}
    numeric: list[str] = []

    def add(name: str, values: np.ndarray, base: str) -> None:
        data[name] = values.astype("float32", copy=False)
        base_of[name] = base
        numeric.append(name)

    def metric_columns(metric: str) -> list[tuple[str, np.ndarray]]:
        values = book[metric].to_numpy(dtype="float64")
        columns, level = _with_trends(metric, values, prev, lags)
        columns += [(f"{metric}{TREND_SEP}{name}", col.astype("float32"))
                    for name, col in _trajectory(level, prev, steps).items()]
        filled = values[~np.isnan(values)]
        if _nonneg(values) and float((filled == 0).mean()) >= SPARSE_ZERO_SHARE:
            columns.append((f"{metric}{TREND_SEP}since_nonzero",
                            _days_since_nonzero(values, accounts, days).astype("float32")))
        return columns

    # A metric's columns depend on nothing but its own values: numpy over whole columns,
    # metrics side by side (1.6M rows x 15 metrics: 5.9 s -> 3.5-4.2 s on two cores).
    for metric, columns in zip(plan.numeric, parallel.ordered_map(
            metric_columns, plan.numeric, name="outcomes-features"), strict=True):
        for name, col in columns:
            add(name, col, metric)
    # Utilisation: 'seats_used' next to 'seats' means seats_used / seats (one of the
    # strongest health signals; it belongs to the '_used' metric's component).
    for metric in plan.numeric:
        whole = metric.removesuffix("_used")
        if metric.endswith("_used") and whole in plan.numeric:
            used = book[metric].to_numpy(dtype="float64")
            total = book[whole].to_numpy(dtype="float64")
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = np.where(total > 0, used / total, np.nan)
            add(f"{metric}{TREND_SEP}ratio", ratio, metric)
    # Context from the canonical columns.
    to_renewal = book["_days_to_renewal"].to_numpy(dtype="float64")
    add(f"{CONTEXT}days_to_renewal", to_renewal, f"{CONTEXT}days_to_renewal")
    # Most churn is decided at renewal: whether it falls within the horizon, for the
    # trees to combine with every health signal.
    with np.errstate(invalid="ignore"):
        soon = np.where(np.isnan(to_renewal), np.nan,
                        ((to_renewal >= 0) & (to_renewal <= horizon_days)).astype("float64"))
    add(f"{CONTEXT}renewal_soon", soon, f"{CONTEXT}renewal_soon")
    # Tenure: since `customer_since` when the data gives it, else since the first snapshot.
    first_day = pd.Series(days).groupby(accounts).transform("min").to_numpy()
    if "_customer_since" in book:
        since = book["_customer_since"].to_numpy(dtype="float64")
        start = np.where(np.isfinite(since), np.minimum(since, days), first_day)
    else:
        start = first_day
    add(f"{CONTEXT}tenure_days", (days - start).astype("float64"), f"{CONTEXT}tenure_days")
    for name, col in _with_trends(f"{CONTEXT}arr", book["arr"].to_numpy(dtype="float64"),
                                  prev, lags, ("d3",))[0]:
        add(name, col, f"{CONTEXT}arr")
    add(f"{CONTEXT}n_products", book["_n_products"].to_numpy(dtype="float64"),
        f"{CONTEXT}n_products")

    categorical: list[str] = []
    for metric in plan.categorical:
        # Object, not pandas text: each fit and each prediction hands the column to
        # scikit-learn, which takes object arrays (text would be converted every time).
        data[metric] = pd.Series(book[metric].to_numpy(dtype=object), dtype=object,
                                 copy=False)
        base_of[metric] = metric
        categorical.append(metric)

    # copy=False: the frame keeps a column per array (no second copy of every feature;
    # 2.4 s and 0.56 GB at 1.6M rows x 87 features).
    frame = pd.DataFrame(data, columns=[*numeric, *categorical], copy=False)
    # Plain Python strings, one per distinct value: every reader of the keys takes them as
    # they are (a text column hands each reader a new string per row: 87 MB at 1.5M rows).
    keys = pd.DataFrame({c: pd.Series(_shared_text(book[c]), index=book.index, dtype=object)
                         for c in ("account_id", "as_of")})
    return FeatureSet(keys=keys, frame=frame, numeric=numeric, categorical=categorical,
                      base_of=base_of)


def distinct_sorted(values: np.ndarray | pd.Series) -> np.ndarray:
    """The sorted distinct values of a big column of a few distinct ones (dates): by
    hashing, not by np.unique's sort of every Python object (0.1 s vs 1.8 s for 1.6M
    dates)."""
    return np.sort(pd.unique(np.asarray(values)))


def text_array(values: Any) -> np.ndarray:
    """`values` as an object array of strings; an object array (the features' keys, dates
    read from the store) is taken as it is: no new string per row."""
    values = np.asarray(values)
    return values if values.dtype == object else values.astype(str).astype(object)


def _shared_text(column: pd.Series) -> np.ndarray:
    """A text column as an object array in which equal values are one `str` object."""
    codes, uniques = pd.factorize(column)
    return np.asarray(uniques, dtype=object)[codes]


def usable_columns(frame: pd.DataFrame, numeric: list[str], categorical: list[str],
                   rows: np.ndarray | None = None) -> tuple[list[str], list[str]]:
    """Columns with at least two distinct known values in `frame` (the training rows:
    all of them, or those at positions `rows`).

    A column that is blank or constant everywhere teaches nothing, and a single
    snapshot has no trends; dropping them keeps every subset of components working.
    """
    keep_num = [c for c in numeric if _varies(frame[c], rows)]
    keep_cat = [c for c in categorical if _varies(frame[c], rows)]
    return keep_num, keep_cat


def _varies(column: pd.Series, rows: np.ndarray | None = None) -> bool:
    """nunique(dropna=True) > 1, without counting every distinct value of a big column
    (text columns compared where they are stored, in Arrow, not as Python strings)."""
    if column.dtype.kind != "f":
        known = (column if rows is None else column.iloc[rows]).dropna()
        return len(known) > 1 and bool((known != known.iloc[0]).any())
    values = column.to_numpy()
    if rows is not None:
        values = values[rows]
    # Two passes, no copy of the known values: fmin / fmax skip NaN (all NaN gives NaN,
    # and NaN < NaN is false). 1.1 s -> 0.4 s of a model's training at 100k.
    return bool(np.fmin.reduce(values) < np.fmax.reduce(values)) if len(values) else False


def is_context(feature: str) -> bool:
    return feature.startswith(CONTEXT)


@cache   # a few distinct names, asked for hundreds of thousands of times by the drivers
def human_label(name: str) -> str:
    """'logins_30d' -> 'Logins (30d)', 'feature_adoption_pct' -> 'Feature adoption (%)'."""
    if name in CONTEXT_LABELS:
        return CONTEXT_LABELS[name]
    acronyms = {"nps": "NPS", "csat": "CSAT", "arr": "ARR", "mrr": "MRR", "qbr": "QBR",
                "csm": "CSM", "api": "API", "sla": "SLA", "id": "ID"}
    words, units = [], []
    for token in name.split("_"):
        if not token:
            continue
        if token in ("pct", "percent"):
            units.append("%")
        elif len(token) >= 2 and token[:-1].isdigit() and token[-1] in "dwmy":
            units.append(token)
        else:
            words.append(acronyms.get(token, token))
    text = " ".join(words) or name
    if text and text[0].islower():
        text = text[0].upper() + text[1:]
    return f"{text} ({', '.join(units)})" if units else text
