"""Exact attributions: they add up to the model's own raw output, and they are the
Shapley values of the account-vs-reference game (checked by brute force)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from scoring.attributions import contributions, raw_score, sum_columns
from scoring.models import build_pipeline

NUMERIC = ["a", "b", "c_used", "c"]
FEATURES = [*NUMERIC, "cat"]


def _book(n: int = 1500, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.exponential(size=n),
                      "c_used": rng.normal(size=n), "c": rng.normal(size=n),
                      "cat": rng.choice(["x", "y", "z", "w"], n).astype(object)})
    X.loc[rng.random(n) < 0.2, "a"] = np.nan
    X.loc[rng.random(n) < 0.1, "cat"] = np.nan
    logit = X["a"].fillna(0) * 1.5 - X["b"] + (X["cat"] == "x") * 1.0 + X["c"] * X["a"].fillna(1)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def _fitted(family: str, X: pd.DataFrame, y: np.ndarray) -> Pipeline:
    pipe = build_pipeline(family, NUMERIC, ["cat"], 0, max_iter=40, early_stopping=False)
    return pipe.fit(X[FEATURES], y)


@pytest.mark.parametrize("family", ["hist_gradient_boosting", "logistic_regression"])
def test_contributions_add_up_to_the_raw_score_gap(family: str) -> None:
    X, y = _book()
    pipe = _fitted(family, X, y)
    rng = np.random.default_rng(3)
    rows = X.sample(300, random_state=2).reset_index(drop=True)
    ref = X.sample(3, random_state=1).reset_index(drop=True)
    ref.loc[0, "a"] = np.nan
    ref.loc[1, "cat"] = np.nan
    which = rng.integers(0, 3, len(rows))
    att = contributions(pipe, rows, ref, which, FEATURES)
    raw = raw_score(pipe, rows[FEATURES])
    ref_raw = raw_score(pipe, ref[FEATURES])[which]
    assert np.max(np.abs(att.raw - raw)) < 1e-9
    assert np.max(np.abs(att.values.sum(axis=1) - (raw - ref_raw))) < 1e-9
    # A row equal to its reference gets nothing.
    same = contributions(pipe, ref, ref, np.arange(3), FEATURES)
    assert np.abs(same.values).max() < 1e-12


@pytest.mark.parametrize("family", ["hist_gradient_boosting", "logistic_regression"])
def test_contributions_are_the_shapley_values(family: str) -> None:
    X, y = _book(800, seed=5)
    pipe = _fitted(family, X, y)
    ref = X.iloc[[7]].reset_index(drop=True)
    rows = X.iloc[:3].reset_index(drop=True)
    att = contributions(pipe, rows, ref, None, FEATURES)
    M = len(FEATURES)
    for r in range(len(rows)):
        def value(S: tuple[int, ...], r: int = r) -> float:
            h = ref.copy()
            for j in S:
                h[FEATURES[j]] = rows.iloc[r][FEATURES[j]]
            return float(raw_score(pipe, h[FEATURES])[0])
        phi = np.zeros(M)
        for i in range(M):
            others = [j for j in range(M) if j != i]
            for k in range(M):
                w = math.factorial(k) * math.factorial(M - k - 1) / math.factorial(M)
                for S in itertools.combinations(others, k):
                    phi[i] += w * (value((*S, i)) - value(S))
        assert np.max(np.abs(phi - att.values[r])) < 1e-9


@pytest.mark.parametrize("family", ["hist_gradient_boosting", "logistic_regression"])
def test_many_rows_are_done_in_pieces_on_the_cores_with_the_same_numbers(family, monkeypatch):
    from scoring import attributions, parallel

    X, y = _book()
    pipe = _fitted(family, X, y)
    ref = X.sample(3, random_state=1).reset_index(drop=True)
    which = np.random.default_rng(3).integers(0, 3, len(X))
    whole = contributions(pipe, X, ref, which, FEATURES)          # 1,500 rows: one piece
    monkeypatch.setattr(attributions, "PIECE_ROWS", 128)           # 12 pieces
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    threads = set()
    piece = attributions._contributions

    def spy(*args, **kwargs):
        import threading

        threads.add(threading.current_thread().name)
        return piece(*args, **kwargs)

    monkeypatch.setattr(attributions, "_contributions", spy)
    pieces = contributions(pipe, X, ref, which, FEATURES)
    assert all(name.startswith("outcomes-attributions") for name in threads)
    assert np.array_equal(pieces.values, whole.values)
    assert np.array_equal(pieces.raw, whole.raw)
    assert np.array_equal(pieces.reference_raw, whole.reference_raw)


def test_columns_summed_into_their_owners_equal_numpys_unbuffered_add_bit_for_bit():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(500, 23)) * 10.0 ** rng.integers(-8, 8, size=23)
    owner = rng.integers(0, 6, size=23)
    scale = rng.normal(size=500)
    for by_row in (None, scale):
        expected = np.zeros((500, 7))   # the last owner has no column: zeros
        np.add.at(expected.T, owner, (values if by_row is None else values * by_row[:, None]).T)
        assert np.array_equal(sum_columns(values, owner, 7, scale=by_row), expected)
