"""Customer segments: clustering, benchmarks and Low/Medium/High ratings.

Accounts are clustered (k-means) on their latest behaviour and firmographic numbers
(skew-transformed with arcsinh, then standardised and clipped, blanks at the centre),
so a "typical" value means typical for accounts like this one rather than for the
whole book. k is the value from 3 to 6 with the best silhouette score on a seeded
sample (fewer on tiny books). Segment numbers are ordered by average ARR, largest
first, so they do not shuffle between runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from scoring.features import human_label

K_RANGE = (3, 6)
SILHOUETTE_SAMPLE = 3000
FIT_SAMPLE = 20000
MIN_COVERAGE = 0.5
CLIP = 3.0
LEVELS = ("Low", "Medium", "High")


@dataclass
class Segmenter:
    """What it takes to put any snapshot row into a segment (stored in segment profiles)."""

    columns: list[str]
    center: np.ndarray
    scale: np.ndarray
    centroids: np.ndarray
    criterion: dict[str, Any] = field(default_factory=dict)

    def _matrix(self, frame: pd.DataFrame) -> np.ndarray:
        if not self.columns:
            return np.zeros((len(frame), 1))
        raw = np.arcsinh(frame[self.columns].to_numpy(dtype="float64"))
        z = (raw - self.center) / self.scale
        return np.clip(np.nan_to_num(z, nan=0.0), -CLIP, CLIP)

    def assign(self, frame: pd.DataFrame) -> np.ndarray:
        """Segment id (1..k) of each row, by nearest centre."""
        if len(self.centroids) == 1 or len(frame) == 0:
            return np.ones(len(frame), dtype="int64")
        out = np.empty(len(frame), dtype="int64")
        for start in range(0, len(frame), 100_000):
            m = self._matrix(frame.iloc[start:start + 100_000])
            d = ((m[:, None, :] - self.centroids[None, :, :]) ** 2).sum(axis=2)
            out[start:start + 100_000] = d.argmin(axis=1) + 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {"columns": self.columns, "center": self.center.round(6).tolist(),
                "scale": self.scale.round(6).tolist(),
                "centroids": self.centroids.round(6).tolist(), "criterion": self.criterion}


def fit_segmenter(latest: pd.DataFrame, numeric: list[str], seed: int) -> Segmenter:
    """Cluster the accounts' latest rows. `numeric` names the candidate columns."""
    columns = [c for c in numeric
               if c in latest and latest[c].notna().mean() >= MIN_COVERAGE
               and latest[c].nunique(dropna=True) > 1]
    n = len(latest)
    if not columns or n < 10:
        return Segmenter(columns, np.zeros(len(columns)), np.ones(len(columns)),
                         np.zeros((1, max(len(columns), 1))), {"k": 1, "reason": "too few accounts"})
    raw = np.arcsinh(latest[columns].to_numpy(dtype="float64"))
    center = np.nanmedian(raw, axis=0)
    scale = np.nanstd(raw, axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    seg = Segmenter(columns, center, scale, np.zeros((1, len(columns))))
    m = seg._matrix(latest)
    rng = np.random.default_rng(seed)
    fit_rows = rng.choice(n, size=min(n, FIT_SAMPLE), replace=False) if n > FIT_SAMPLE else np.arange(n)
    sil_rows = rng.choice(len(fit_rows), size=min(len(fit_rows), SILHOUETTE_SAMPLE), replace=False)
    lo, hi = K_RANGE
    hi = max(2, min(hi, n // 5))
    lo = min(lo, hi)
    scores: dict[int, float] = {}
    fits: dict[int, KMeans] = {}
    X = m[np.sort(fit_rows)]
    for k in range(lo, hi + 1):
        km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(X)
        labels = km.labels_[np.sort(sil_rows)]
        if len(np.unique(labels)) < 2:
            continue
        scores[k] = float(silhouette_score(X[np.sort(sil_rows)], labels, random_state=seed))
        fits[k] = km
    if not scores:
        return Segmenter(columns, center, scale, np.zeros((1, len(columns))), {"k": 1})
    best = max(scores, key=lambda k: (round(scores[k], 4), -k))
    seg.centroids = fits[best].cluster_centers_
    seg.criterion = {"method": "silhouette", "k": best,
                     "silhouette": {str(k): round(v, 4) for k, v in scores.items()}}
    return seg


def order_by_arr(seg: Segmenter, latest: pd.DataFrame, arr: np.ndarray) -> Segmenter:
    """Renumber segments so segment 1 has the highest average ARR (stable ids)."""
    ids = seg.assign(latest)
    k = len(seg.centroids)
    means = [np.nanmean(arr[ids == i + 1]) if np.any((ids == i + 1) & ~np.isnan(arr)) else -1.0
             for i in range(k)]
    order = sorted(range(k), key=lambda i: (-means[i], i))
    seg.centroids = seg.centroids[order]
    return seg


def benchmarks(values: pd.DataFrame, metrics: list[str]) -> dict[str, dict[str, float]]:
    """p33 / median / p67 of each numeric metric among a segment's members."""
    out: dict[str, dict[str, float]] = {}
    for metric in metrics:
        col = values[metric].to_numpy(dtype="float64")
        col = col[~np.isnan(col)]
        if col.size == 0:
            continue
        low, median, high = np.quantile(col, [1 / 3, 0.5, 2 / 3])
        out[metric] = {"low": _r(low), "median": _r(median), "high": _r(high)}
    return out


def rate_many(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Low below the segment's p33 (`low`), High above its p67 (`high`), Medium in between;
    None where the value is missing."""
    out = np.where(values < low, "Low", np.where(values > high, "High", "Medium")).astype(object)
    out[np.isnan(values) | np.isnan(low)] = None
    return out


def _r(x: float) -> float:
    return float(round(float(x), 4))


def top_products(products: pd.Series, n: int = 3) -> list[str]:
    """The products most members use (share of members, ties by name)."""
    counts: dict[str, int] = {}
    for value in products.dropna():
        for p in str(value).split(";"):
            p = p.strip()
            if p:
                counts[p] = counts.get(p, 0) + 1
    return [p for p, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


SIZE_SHARE = 2 / 3   # of a segment's members in one ARR third of the book, for a size word


def size_word(arr_values: np.ndarray | None, cuts: np.ndarray) -> str | None:
    """'Small' / 'Mid-size' / 'Large' when at least SIZE_SHARE of the members fall in
    that third of the book's ARR; None when their sizes are mixed (no size word)."""
    if arr_values is None:
        return None
    arr = np.asarray(arr_values, dtype="float64")
    arr = arr[~np.isnan(arr)]
    if arr.size == 0 or not np.all(np.isfinite(cuts)):
        return None
    third = np.searchsorted(cuts, arr, side="right")          # 0, 1, 2
    shares = np.bincount(third, minlength=3) / arr.size
    best = int(np.argmax(shares))
    return ("Small", "Mid-size", "Large")[best] if shares[best] >= SIZE_SHARE else None


def name_segments(profiles: list[dict[str, Any]], book_arr: np.ndarray) -> list[str]:
    """Short names from what distinguishes each segment's members: their most distinctive
    metrics, and a size word only where most members share that size (ARR third)."""
    arr = book_arr[~np.isnan(book_arr)]
    cuts = np.quantile(arr, [1 / 3, 2 / 3]) if arr.size else np.array([np.inf, np.inf])
    names: list[str] = []
    for prof in profiles:
        size = size_word(prof.get("arr_values"), cuts)
        traits = [f"{'high' if z > 0 else 'low'} {_trait(m)}"
                  for m, z in prof.get("distinctive", [])]
        if size:
            name = f"{size}, {traits[0]}" if traits else f"{size} accounts"
            used = 1 if traits else 0
        elif traits:
            name = traits[0][0].upper() + traits[0][1:]
            used = 1
        else:
            name, used = "Typical accounts", 0
        while name in names and used < len(traits):
            name = f"{name}, {traits[used]}"
            used += 1
        base, i = name, 2
        while name in names:
            name = f"{base} ({i})"
            i += 1
        names.append(name)
    return names


def _trait(metric: str) -> str:
    label = human_label(metric)
    return label if label.split(" ")[0].isupper() else label.lower()


def add_senses(rows: list[dict[str, Any]], senses: dict[str, int]) -> None:
    """Mark each segment benchmark with its sense for health in the scoring model:
    'higher_is' better / worse (or absent when the metric barely matters), and whether
    it varies at all within the segment ('varies': p33 < p67)."""
    for row in rows:
        for metric, bench in row.get("benchmarks", {}).items():
            bench["varies"] = bool(bench["low"] < bench["high"])
            sign = senses.get(metric)
            if sign:
                bench["higher_is"] = "better" if sign > 0 else "worse"


def distinctive(members: pd.DataFrame, book: pd.DataFrame, metrics: list[str],
                n: int = 3) -> list[tuple[str, float]]:
    """Metrics whose segment median stands furthest from the book's, in book std units."""
    out = []
    for metric in metrics:
        book_col = np.arcsinh(book[metric].to_numpy(dtype="float64"))
        seg_col = np.arcsinh(members[metric].to_numpy(dtype="float64"))
        sd = np.nanstd(book_col) if np.any(~np.isnan(book_col)) else 0.0
        if sd <= 1e-9 or np.all(np.isnan(seg_col)):
            continue
        z = (np.nanmedian(seg_col) - np.nanmedian(book_col)) / sd
        out.append((metric, round(float(z), 3)))
    out.sort(key=lambda mz: (-abs(mz[1]), mz[0]))
    return [mz for mz in out[:n] if abs(mz[1]) >= 0.25]
