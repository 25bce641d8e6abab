"""Ingest follows the data contract: whole files or nothing, precise errors, idempotent."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from storage.ingest import IngestError, ingest_file
from storage.store import Store

GOOD = """account_id,as_of,name,owner_email,arr,renewal_date,products,status,logins_30d,plan,nps
001,2025-01-01,Acme Corp,ana@example.com,1200.5,2025-06-01,Core; Analytics,active,40,pro,9
002,2025-01-01,Beta LLC,bo@example.com,800,2025-03-01,Core,active,,basic,
003,2025-01-01,Gamma,ana@example.com,0,,Core,active,3,basic,4
"""


def write(tmp_path: Path, text: str, name: str = "book.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def fingerprint(store: Store) -> str:
    """Everything stored, as SQL: equal fingerprints mean nothing changed."""
    return hashlib.sha256("\n".join(store.conn.iterdump()).encode()).hexdigest()


@pytest.fixture()
def store(tmp_path: Path):
    with Store(tmp_path / "outcomes.db") as s:
        ingest_file(s, write(tmp_path, GOOD, "seed.csv"))
        yield s


def test_good_file_is_stored_with_types_and_accounts(tmp_path: Path) -> None:
    with Store(tmp_path / "o.db") as store:
        report = ingest_file(store, write(tmp_path, GOOD))
        assert (report.rows, report.accounts, report.new_accounts) == (3, 3, 3)
        assert {p.name: p.kind for p in report.metrics} == {
            "logins_30d": "numeric", "plan": "category", "nps": "numeric"}
        rows = store.query("SELECT * FROM snapshots ORDER BY account_id")
        assert rows[0]["account_id"] == "001"  # leading zeros kept
        assert rows[0]["products"] == "Core;Analytics"
        assert rows[1]["m_logins_30d"] is None  # blank is missing, never zero
        assert rows[2]["arr"] == 0.0
        acme = store.query("SELECT * FROM accounts WHERE account_id = '001'")[0]
        assert acme["name_key"] == "acme corp" and acme["owner_email"] == "ana@example.com"


@pytest.mark.parametrize(
    ("text", "column", "rows", "words"),
    [
        ("account_id,name\n1,A\n", "as_of", [], "required"),
        ("account_id,as_of,arr\n1,2025-01-01,10\n2,01/02/2025,10\n3,2025-13-01,5\n", "as_of", [3, 4], "YYYY-MM-DD"),
        ("account_id,as_of,arr\n1,2025-01-01,10\n2,2025-01-01,-5\n", "arr", [3], "negative"),
        ("account_id,as_of,arr\n1,2025-01-01,10\n1,2025-01-01,12\n", "account_id, as_of", [2, 3], "repeats"),
        ("account_id,as_of,logins\n" + "".join(f"{i},2025-01-01,{i}\n" for i in range(40)) + "x,2025-01-01,lots\n",
         "logins", [42], "numeric"),
        ("account_id,as_of,status\n1,2025-01-01,gone\n", "status", [2], "active"),
        ("account_id,as_of,churned\n1,2025-01-01,maybe\n", "churned", [2], "yes/no"),
        ("account_id,as_of\n,2025-01-01\n", "account_id", [2], "blank"),
        ("account_id,as_of,owner_slack_id\n1,2025-01-01,bob\n", "owner_slack_id", [2], "Slack user id"),
    ],
)
def test_bad_rows_are_named_and_nothing_is_stored(
    store: Store, tmp_path: Path, text: str, column: str, rows: list[int], words: str
) -> None:
    before = fingerprint(store)
    with pytest.raises(IngestError) as err:
        ingest_file(store, write(tmp_path, text))
    problems = {c: (msg, r) for c, msg, r in err.value.problems}
    assert column in problems, err.value
    message, bad_rows = problems[column]
    assert words in message and list(bad_rows) == rows
    assert str(tmp_path / "book.csv") in str(err.value)
    assert fingerprint(store) == before


def test_error_names_at_most_twenty_rows(store: Store, tmp_path: Path) -> None:
    text = "account_id,as_of,arr\n" + "".join(f"{i},2025-02-01,-1\n" for i in range(30))
    with pytest.raises(IngestError) as err:
        ingest_file(store, write(tmp_path, text))
    assert "rows 2, 3, 4" in str(err.value) and "(and 10 more)" in str(err.value)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda d: write(d, ""), "is empty"),
        (lambda d: write(d, "account_id,as_of\n"), "no rows"),
        (lambda d: write(d, "account_id,as_of,name\n1,2025-01-01,Café\n", encoding="latin-1"), "not UTF-8"),
        (lambda d: write(d, "account_id,as_of,name\n1,2025-01-01,A\n", encoding="utf-16"), "not UTF-8"),
        (lambda d: (d / "folder").mkdir() or d / "folder", "is a folder"),
        (lambda d: d / "missing.csv", "no such file"),
        (lambda d: write(d, "account_id,as_of\n1,2025-01-01,extra\n"), "well-formed"),
    ],
)
def test_unreadable_files_get_a_clear_error(store: Store, tmp_path: Path, make, words: str) -> None:
    before = fingerprint(store)
    with pytest.raises(IngestError) as err:
        ingest_file(store, make(tmp_path))
    assert words in str(err.value)
    assert fingerprint(store) == before


def test_reingesting_the_same_file_changes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    with Store(tmp_path / "o.db") as store:
        ingest_file(store, path)
        before = fingerprint(store)
        again = ingest_file(store, path)
        assert again.unchanged and fingerprint(store) == before
        # The same rows in another file are an upsert, not duplicates.
        ingest_file(store, write(tmp_path, GOOD, "copy.csv"))
        assert store.scalar("SELECT count(*) FROM snapshots") == 3


def test_text_in_a_column_stored_as_numeric_is_rejected(store: Store, tmp_path: Path) -> None:
    before = fingerprint(store)
    with pytest.raises(IngestError) as err:
        ingest_file(store, write(tmp_path, "account_id,as_of,logins_30d\n1,2025-02-01,many\n2,2025-02-01,more\n"))
    assert "stored data" in str(err.value)
    assert fingerprint(store) == before


def test_column_mapping_and_as_of_option(tmp_path: Path) -> None:
    text = "customerID,Account Name,Logins (30d)\nA1,Acme,5\nA2,Beta,7\n"
    with Store(tmp_path / "o.db") as store:
        report = ingest_file(store, write(tmp_path, text), column_map={"customerid": "account_id",
                             "account_name": "name"}, as_of="2025-03-01")
        assert report.dates == ["2025-03-01"]
        assert [p.name for p in report.metrics] == ["logins_30d"]
        assert store.scalar("SELECT name FROM accounts WHERE account_id='A2'") == "Beta"


def test_free_text_is_kept_but_left_out_of_models(tmp_path: Path) -> None:
    rows = "".join(f"{i},2025-01-01,note number {i} about things\n" for i in range(60))
    with Store(tmp_path / "o.db") as store:
        report = ingest_file(store, write(tmp_path, "account_id,as_of,notes\n" + rows))
        assert [p.name for p in report.left_out] == ["notes"]
        assert store.scalar("SELECT in_model FROM metrics WHERE name='notes'") == 0


def test_parquet_and_booleans(tmp_path: Path) -> None:
    frame = pd.DataFrame({
        "account_id": ["a", "b"], "as_of": pd.to_datetime(["2025-01-01", "2025-01-01"]),
        "arr": [10.0, None], "paying": ["Yes", "no"], "churned": [True, False],
    })
    path = tmp_path / "book.parquet"
    frame.to_parquet(path)
    with Store(tmp_path / "o.db") as store:
        report = ingest_file(store, path)
        assert {p.name: p.kind for p in report.metrics} == {"paying": "boolean"}
        rows = store.query("SELECT account_id, as_of, m_paying, churned FROM snapshots ORDER BY 1")
        assert rows == [
            {"account_id": "a", "as_of": "2025-01-01", "m_paying": 1.0, "churned": 1},
            {"account_id": "b", "as_of": "2025-01-01", "m_paying": 0.0, "churned": 0},
        ]


def test_a_failure_while_writing_rolls_everything_back(store: Store, tmp_path: Path, monkeypatch) -> None:
    before = fingerprint(store)
    import storage.ingest as ingest

    def boom(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(ingest, "_refresh_accounts", boom)
    with pytest.raises(sqlite3.OperationalError):
        ingest_file(store, write(tmp_path, GOOD.replace("2025-01-01", "2025-02-01") + "009,2025-02-01,New,,1,,,active,1,pro,1\n"))
    assert fingerprint(store) == before


def test_accounts_follow_the_latest_snapshot_whatever_the_file_order(tmp_path: Path) -> None:
    with Store(tmp_path / "o.db") as store:
        ingest_file(store, write(tmp_path, "account_id,as_of,name,arr\na,2025-03-01,,300\n", "mar.csv"))
        ingest_file(store, write(tmp_path, "account_id,as_of,name,arr\na,2025-01-01,Acme,100\n", "jan.csv"))
        row = store.query("SELECT * FROM accounts")[0]
        # March is the latest: its ARR wins; its blank name falls back to the last name given.
        assert (row["arr"], row["name"], row["first_as_of"], row["last_as_of"]) == (
            300.0, "Acme", "2025-01-01", "2025-03-01")


def test_customer_since_is_a_date_of_the_contract(tmp_path: Path) -> None:
    """customer_since is stored as a date (not a metric), and a bad one rejects the file."""
    text = ("account_id,as_of,customer_since,logins\n"
            "1,2026-01-01,2019-05-01,3\n2,2026-01-01,,4\n")
    with Store(tmp_path / "o.db") as store:
        report = ingest_file(store, write(tmp_path, text))
        assert [p.name for p in report.metrics] == ["logins"]
        rows = store.query("SELECT account_id, customer_since FROM snapshots ORDER BY account_id")
        assert rows == [{"account_id": "1", "customer_since": "2019-05-01"},
                        {"account_id": "2", "customer_since": None}]
        before = store.scalar("SELECT count(*) FROM snapshots")
        with pytest.raises(IngestError) as err:
            ingest_file(store, write(tmp_path, text.replace("2019-05-01", "05/01/2019"), "bad.csv"))
        assert "column 'customer_since': is not a date in YYYY-MM-DD form at row 2" in str(err.value)
        assert store.scalar("SELECT count(*) FROM snapshots") == before


def test_utf8_check_reads_blocks_and_names_the_line_of_a_bad_byte(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ASCII blocks skip decoding; a character cut by a block's end, a non-ASCII block and
    a bad byte in a late block are all judged as a whole-file decode would judge them."""
    from storage import snapshot_file

    monkeypatch.setattr(snapshot_file, "HASH_BLOCK_BYTES", 16)
    rows = [f"A{i},2025-01-01,{'Café' if i % 5 == 0 else 'Plain'}\n" for i in range(40)]
    good = ("account_id,as_of,name\n" + "".join(rows)).encode()
    path = tmp_path / "good.csv"
    for cut in range(16):  # each shift puts another byte of the 'é's at a block's end
        shifted = b"account_id" + b" " * cut + good[len(b"account_id"):]
        path.write_bytes(shifted)
        assert snapshot_file._check_utf8_and_hash(path) == hashlib.sha256(shifted).hexdigest()
    bad = good.replace(b"A33,2025-01-01,Plain", b"A33,2025-01-01,Pl\xe9in")
    path.write_bytes(bad)
    with pytest.raises(snapshot_file.FileProblem, match=r"bad byte at line 35\)"):
        snapshot_file._check_utf8_and_hash(path)
    path.write_bytes(good + "é".encode()[:1])
    with pytest.raises(snapshot_file.FileProblem, match="ends in the middle of a UTF-8 character"):
        snapshot_file._check_utf8_and_hash(path)
