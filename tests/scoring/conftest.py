"""Fixtures for the scoring engine: a small demo book ingested once per session,
copied into a fresh database file for each test that writes."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.config import load_settings
from scoring.settings import ScoringSettings
from storage.demo_book import DemoSpec, generate, write_csv
from storage.ingest import ingest_file
from storage.store import Store

SPEC = DemoSpec(accounts=300, months=14)


def ingest_frame(store: Store, frame: pd.DataFrame, folder: Path) -> None:
    """Write a snapshot frame as CSV files and ingest them (the real path)."""
    folder.mkdir(parents=True, exist_ok=True)
    if "as_of" in frame and frame["as_of"].nunique() > 1:
        paths = write_csv(frame, folder)
    else:
        paths = [folder / "snapshot.csv"]
        frame.to_csv(paths[0], index=False)
    for path in paths:
        ingest_file(store, path)


def settings_for(db: Path | str, **scoring: object) -> ScoringSettings:
    """The scoring part of the default settings, with `scoring` fields replaced."""
    return replace(load_settings(None, str(db), env={}).for_scoring, **scoring)


@pytest.fixture(scope="session")
def demo_book() -> pd.DataFrame:
    return generate(SPEC)


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory, demo_book: pd.DataFrame) -> Path:
    """An ingested, unscored demo database (read it through `fresh_db`)."""
    root = tmp_path_factory.mktemp("demo")
    db = root / "demo.db"
    with Store(db) as store:
        ingest_frame(store, demo_book, root / "csv")
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db


@pytest.fixture
def fresh_db(demo_db: Path, tmp_path: Path) -> Callable[[], Path]:
    """A factory of independent copies of the unscored demo database."""
    count = 0

    def make() -> Path:
        nonlocal count
        count += 1
        target = tmp_path / f"copy{count}.db"
        shutil.copy(demo_db, target)
        return target

    return make


@pytest.fixture(scope="session")
def scored_db(tmp_path_factory: pytest.TempPathFactory, demo_db: Path) -> tuple[Path, object]:
    """The demo database scored once (for read-only checks) and the run's report."""
    from scoring.pipeline import score_book

    db = tmp_path_factory.mktemp("scored") / "scored.db"
    shutil.copy(demo_db, db)
    with Store(db) as store:
        report = score_book(store, settings_for(db))
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db, report


def drifting_rows(seed: int = 5) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, dict[str, object]]:
    """Training rows whose churn level drifts down over 15 monthly dates (200 accounts, one
    signal `x` and one `noise`): X, y, as_of and train_model's other arguments."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2025-01-01", periods=15, freq="MS").strftime("%Y-%m-%d")
    n = 200
    as_of = np.repeat(dates.to_numpy(dtype=object), n)
    accounts = np.tile(np.array([f"a{i}" for i in range(n)], dtype=object), len(dates))
    x = rng.normal(size=len(as_of))
    level = np.repeat(np.linspace(-1.5, -3.0, len(dates)), n)
    y = (rng.random(len(as_of)) < 1 / (1 + np.exp(-(level + 1.2 * x)))).astype(int)
    X = pd.DataFrame({"x": x, "noise": rng.normal(size=len(x))})
    kwargs = {"numeric": ["x", "noise"], "categorical": [], "horizon_days": 90, "seed": 3,
              "min_positive_labels": 30, "groups": accounts, "raw_columns": ["x", "noise"]}
    return X, y, as_of, kwargs
