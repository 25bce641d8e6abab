"""Prediction quality on simulated books, beside a plain scikit-learn baseline (not a test).

    .venv/bin/python bench/bench_quality.py                # all books (a few minutes)
    .venv/bin/python bench/bench_quality.py --books stationary small --json out.json

Each book is made by `storage.demo_book.generate` with its own churn level and drift:

- stationary: 1,500 accounts x 24 months, about 3% 90-day churn;
- drifting:   1,500 accounts x 24 months, churn drifting down (about 6% -> 3%);
- small:      30 accounts x 24 months;
- single:     one snapshot of 2,000 accounts with explicit `churned` / `upsold` labels.

The test is what production would show today, checked against what happened next:
the store holds the book up to three months before its end, `score_book` scores it
exactly as `outcomes score` does, and the rows of the store's last three snapshot
dates (whose outcomes the store cannot know yet) are compared with the outcomes the
full book reveals. The single-snapshot book holds 30% of its accounts out instead
(their labels are blank in the store). The baseline is `HistGradientBoostingClassifier()`
on the raw columns (metrics only, no features), trained on the store's known rows.

Printed per book: ROC AUC with a 95% interval from a bootstrap over accounts (an
account's rows are resampled together), PR AUC, the calibration ratio (mean predicted
churn probability / realised churn), and per Renewal Index category the share of rows
and their realised churn; then the issue's category checks.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BOOTSTRAP = 300
HELD_OUT_MONTHS = 3
SEED = 20261202

BOOKS = {
    "stationary": {"accounts": 1500, "months": 24, "churn_shift": -3.0, "seed": 11},
    "drifting": {"accounts": 1500, "months": 24, "churn_shift": -1.2, "churn_drift": -0.08,
                 "seed": 12},
    "small": {"accounts": 30, "months": 24, "churn_shift": -1.5, "seed": 13},
    "single": {"accounts": 2000, "months": 12, "churn_shift": -2.0, "seed": 14},
}


def _labels(frame: pd.DataFrame) -> pd.DataFrame:
    from scoring.labels import derive_labels

    return derive_labels(frame, 90, 0.10)


def _ingest(store, frame: pd.DataFrame, folder: Path) -> None:
    from storage.demo_book import write_csv
    from storage.ingest import ingest_file

    folder.mkdir(parents=True, exist_ok=True)
    if frame["as_of"].nunique() > 1:
        paths = write_csv(frame, folder)
    else:
        paths = [folder / "snapshot.csv"]
        frame.to_csv(paths[0], index=False, float_format="%.6g")
    for path in paths:
        ingest_file(store, path)


def make_book(name: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(store frame, test keys with true labels, training rows with labels for the baseline)."""
    from storage.demo_book import DemoSpec, generate

    cfg = dict(BOOKS[name])
    full = generate(DemoSpec(at_start=0.9, **cfg))
    truth = _labels(full)
    full = full.assign(_churned=truth["churned"].to_numpy(), _upsold=truth["upsold"].to_numpy())
    if name == "single":
        dates = sorted(full["as_of"].unique())
        snap = full[(full["as_of"] == dates[-4]) & (full["status"] == "active")].copy()
        rng = np.random.default_rng(SEED)
        test = rng.random(len(snap)) < 0.3
        snap["churned"] = np.where(test, np.nan, snap["_churned"].astype("float64"))
        snap["upsold"] = np.where(test, np.nan, snap["_upsold"].astype("float64"))
        snap["churned"] = snap["churned"].map({1.0: "true", 0.0: "false"})
        snap["upsold"] = snap["upsold"].map({1.0: "true", 0.0: "false"})
        store_frame = snap.drop(columns=["_churned", "_upsold"])
        test_rows = snap[test]
        train_rows = snap[~test].assign(churned=snap["_churned"][~test],
                                        upsold=snap["_upsold"][~test])
        return store_frame, test_rows, train_rows
    dates = sorted(full["as_of"].unique())
    kept = full[full["as_of"] <= dates[-1 - HELD_OUT_MONTHS]]
    store_frame = kept.drop(columns=["_churned", "_upsold"])
    store_dates = sorted(kept["as_of"].unique())
    test_rows = kept[kept["as_of"].isin(store_dates[-HELD_OUT_MONTHS:]) & (kept["status"] == "active")]
    known = _labels(store_frame)
    train_rows = store_frame.assign(churned=known["churned"].to_numpy(),
                                    upsold=known["upsold"].to_numpy())
    train_rows = train_rows[train_rows["status"] == "active"]
    return store_frame, test_rows, train_rows


def grouped_auc(y: np.ndarray, p: np.ndarray, groups: np.ndarray, seed: int = SEED
                ) -> tuple[float | None, float | None, float | None]:
    """ROC AUC and a 95% bootstrap interval resampling whole accounts."""
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return None, None, None
    auc = float(roc_auc_score(y, p))
    codes, inverse = np.unique(groups, return_inverse=True)
    rows_of = [np.flatnonzero(inverse == g) for g in range(len(codes))]
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(BOOTSTRAP):
        pick = rng.integers(0, len(codes), len(codes))
        rows = np.concatenate([rows_of[g] for g in pick])
        if len(np.unique(y[rows])) == 2:
            stats.append(roc_auc_score(y[rows], p[rows]))
    if len(stats) < 20:
        return auc, None, None
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return auc, float(lo), float(hi)


def plain_baseline(train: pd.DataFrame, test: pd.DataFrame, target: str, metrics: list[str],
                   categorical: list[str]) -> np.ndarray | None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    known = train[target].notna()
    y = train.loc[known, target].astype(int).to_numpy()
    if len(np.unique(y)) < 2:
        return None
    cols = [*metrics, *categorical]

    def prep(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[cols].copy()
        for c in categorical:
            out[c] = pd.Categorical(out[c], categories=sorted(train[c].dropna().unique()))
        return out

    clf = HistGradientBoostingClassifier(random_state=SEED, categorical_features="from_dtype")
    clf.fit(prep(train.loc[known]), y)
    return clf.predict_proba(prep(test))[:, 1]


def run_book(name: str, workdir: Path) -> dict:
    from bot.config import load_settings
    from scoring.pipeline import score_book
    from storage.store import Store

    started = time.perf_counter()
    store_frame, test_rows, train_rows = make_book(name)
    db = workdir / f"{name}.db"
    with Store(db) as store:
        _ingest(store, store_frame, workdir / f"{name}-csv")
        settings = load_settings(None, str(db), env={}).for_scoring
        report = score_book(store, settings)
        scores = store.frame("SELECT account_id, as_of, health_score, churn_probability,"
                             " renewal_index, upsell_probability FROM scores")
        categories = list(settings.renewal_categories)
        registry = store.metrics()
    score_s = time.perf_counter() - started
    test = test_rows.merge(scores, on=["account_id", "as_of"], how="left")
    metrics = [m for m, k, use in zip(registry["name"], registry["kind"], registry["in_model"],
                                      strict=True) if use and k != "category"]
    cats = [m for m, k, use in zip(registry["name"], registry["kind"], registry["in_model"],
                                   strict=True) if use and k == "category"]
    out: dict = {"book": name, "accounts": int(store_frame["account_id"].nunique()),
                 "test_rows": len(test), "score_seconds": round(score_s, 1),
                 "provisional": report.is_provisional,
                 "churn_family": report.model_metrics.get("churn", {}).get("family"),
                 "backtest_ratio": (report.model_metrics.get("churn", {}).get("backtest") or {})
                 .get("calibration_ratio")}
    groups = test["account_id"].to_numpy()
    for kind, target, col in (("churn", "_churned", "churn_probability"),
                              ("upsell", "_upsold", "upsell_probability")):
        known = test[target].notna().to_numpy()
        y = test.loc[known, target].astype(int).to_numpy()
        p = test.loc[known, col].to_numpy(dtype="float64")
        g = groups[known]
        base = plain_baseline(train_rows, test.loc[known], "churned" if kind == "churn" else "upsold",
                              metrics, cats)
        res = {"rows": int(known.sum()), "positives": int(y.sum()),
               "realised": float(y.mean()) if len(y) else None}
        for who, probs in (("ours", p), ("plain", base)):
            if probs is None or np.isnan(probs).all():
                res[who] = None
                continue
            from sklearn.metrics import average_precision_score

            auc, lo, hi = grouped_auc(y, probs, g)
            res[who] = {"roc_auc": auc, "lo": lo, "hi": hi,
                        "pr_auc": float(average_precision_score(y, probs)) if y.any() else None,
                        "calibration": float(probs.mean() / y.mean()) if y.mean() > 0 else None}
        out[kind] = res
    known = test["_churned"].notna().to_numpy()
    t = test[known]
    y = t["_churned"].astype(int).to_numpy()
    rows = []
    for c in categories:
        m = (t["renewal_index"] == c).to_numpy()
        rows.append({"category": c, "share": float(m.mean()),
                     "realised": float(y[m].mean()) if m.any() else None,
                     "predicted": float(t.loc[m, "churn_probability"].mean()) if m.any() else None,
                     "churners": float(y[m].sum() / max(y.sum(), 1))})
    out["categories"] = rows
    worst2 = rows[-2:]
    rates = [r["realised"] for r in rows if r["realised"] is not None]
    out["checks"] = {
        "categories_with_2pct": sum(r["share"] >= 0.02 for r in rows),
        "realised_strictly_rising": all(a < b for a, b in zip(rates, rates[1:], strict=False))
        and len(rates) == len(rows),
        "at_risk_plus_churn_share": sum(r["share"] for r in worst2),
        "at_risk_plus_churn_churners": sum(r["churners"] for r in worst2),
    }
    return out


def _f(x: float | None, d: int = 3) -> str:
    return "  n/a" if x is None else f"{x:.{d}f}"


def print_table(results: list[dict]) -> None:
    print(f"{'book':<11}{'kind':<7}{'rows':>6}{'pos':>5}  {'ROC AUC ours [95%]':<22}"
          f"{'plain [95%]':<22}{'PR ours':>8}{'plain':>7}{'cal ours':>9}{'plain':>7}")
    for r in results:
        for kind in ("churn", "upsell"):
            k = r[kind]
            o, b = k.get("ours") or {}, k.get("plain") or {}

            def ci(m: dict) -> str:
                if not m:
                    return "n/a"
                return f"{_f(m['roc_auc'])} [{_f(m['lo'], 2)}-{_f(m['hi'], 2)}]"
            print(f"{r['book']:<11}{kind:<7}{k['rows']:>6}{k['positives']:>5}  {ci(o):<22}{ci(b):<22}"
                  f"{_f(o.get('pr_auc')):>8}{_f(b.get('pr_auc')):>7}"
                  f"{_f(o.get('calibration'), 2):>9}{_f(b.get('calibration'), 2):>7}")
    print()
    for r in results:
        c = r["checks"]
        realised = r["churn"]["realised"]
        print(f"{r['book']}: {r['accounts']:,} accounts, {r['test_rows']:,} test rows, realised churn "
              f"{_f(100 * realised if realised is not None else None, 1)}%, model "
              f"{r['churn_family']}{' [provisional]' if r['provisional'] else ''}, scored in "
              f"{r['score_seconds']}s; the stored walk-forward backtest's predicted/realised "
              f"{_f(r['backtest_ratio'], 2)}")
        for row in r["categories"]:
            print(f"    {row['category']:<18} share {100 * row['share']:5.1f}%  realised "
                  f"{_f(None if row['realised'] is None else 100 * row['realised'], 1):>5}%  "
                  f"predicted {_f(None if row['predicted'] is None else 100 * row['predicted'], 1):>5}%"
                  f"  churners {100 * row['churners']:5.1f}%")
        print(f"    checks: >=2% categories {c['categories_with_2pct']}, strictly rising "
              f"{c['realised_strictly_rising']}, At Risk+Churn share "
              f"{100 * c['at_risk_plus_churn_share']:.1f}% holding "
              f"{100 * c['at_risk_plus_churn_churners']:.1f}% of churners")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", nargs="+", choices=list(BOOKS), default=list(BOOKS))
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    from scoring.parallel import single_thread

    results = []
    with tempfile.TemporaryDirectory(prefix="outcomes-quality-") as tmp, single_thread():
        for name in args.books:
            print(f"... {name}", file=sys.stderr, flush=True)
            results.append(run_book(name, Path(tmp)))
    print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
