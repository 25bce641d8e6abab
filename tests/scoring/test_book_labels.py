"""The label summary kept per date equals the whole book's, whatever the ingests did."""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring.book_labels import book_label_summary
from scoring.labels import derive_labels, label_summary
from storage.demo_book import DemoSpec, generate, write_csv
from storage.ingest import ingest_file
from storage.store import Store

H, U = 90, 0.10


def whole_book(store: Store, horizon: int = H, growth: float = U) -> dict[str, int]:
    book = store.frame("SELECT account_id, as_of, status, arr, churned, upsold FROM snapshots")
    return label_summary(derive_labels(book, horizon, growth))


@pytest.fixture(scope="module")
def months(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    book = generate(DemoSpec(accounts=150, months=10, seed=3))
    return write_csv(book, tmp_path_factory.mktemp("csv"))


def test_month_by_month_matches_the_whole_book(tmp_path: Path, months: list[Path]) -> None:
    with Store(tmp_path / "o.db") as store:
        for path in months:
            report = ingest_file(store, path)
            assert book_label_summary(store, H, U, [report.stored]) == whole_book(store)
        # other settings have their own counts; without fresh rows everything is read back
        assert book_label_summary(store, 60, 0.2) == whole_book(store, 60, 0.2)
        assert book_label_summary(store, H, U) == whole_book(store)


def test_all_at_once_uses_the_fresh_rows(tmp_path: Path, months: list[Path],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import scoring.book_labels as bl

    with Store(tmp_path / "o.db") as store:
        reports = [ingest_file(store, p) for p in months]

        def no_reading(*_: object) -> None:
            raise AssertionError("read back rows it had in memory")

        monkeypatch.setattr(bl, "_read_rows", no_reading)
        assert book_label_summary(store, H, U, [r.stored for r in reports]) == whole_book(store)


def test_older_file_later_and_changed_rows(tmp_path: Path, months: list[Path]) -> None:
    with Store(tmp_path / "o.db") as store:
        for path in months[3:]:
            ingest_file(store, path)
        assert book_label_summary(store, H, U) == whole_book(store)
        # an older month arrives late: the dates before and around it change
        for path in months[:3]:
            report = ingest_file(store, path)
            assert book_label_summary(store, H, U, [report.stored]) == whole_book(store)
        # a correction that marks accounts churned in an already stored month
        text = months[5].read_text().replace(",active,", ",churned,", 20)
        fix = tmp_path / "fix.csv"
        fix.write_text(text)
        report = ingest_file(store, fix)
        assert not report.stored.new_dates
        assert book_label_summary(store, H, U, [report.stored]) == whole_book(store)


def test_empty_store(tmp_path: Path) -> None:
    with Store(tmp_path / "o.db") as store:
        assert book_label_summary(store, H, U)["rows"] == 0
