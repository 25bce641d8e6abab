"""The first hour as a new user lives it: ./dev from any folder, the demo's store, bad files.

Every bad input checks the message, the exit code and that nothing was stored.
"""

from __future__ import annotations

import os
import re
import shlex
import sqlite3
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bot.cli import main
from storage.store import Store

REPO = Path(__file__).resolve().parents[1]
GOOD = "account_id,as_of,name,owner_email,arr\nA1,2026-10-01,Acme,ana@example.com,100\n"


def run(*args: str, env: dict[str, str] | None = None) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False,
                              env={"OUTCOMES_DB": None, "OUTCOMES_CONFIG": None,
                                   "OUTCOMES_PROG": None, **(env or {})})


def snapshots(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("SELECT count(*) FROM snapshots").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


@pytest.fixture()
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_us_date_is_one_error_not_also_a_duplicate(here: Path) -> None:
    (here / "book.csv").write_text("account_id,as_of,arr\nA1,2026-10-01,10\n"
                                   "A2,11/01/2026,5\nA3,11/01/2026,5\n")
    result = run("--db", "o.db", "ingest", "book.csv")
    assert result.exit_code == 1
    assert "column 'as_of': is not a date in YYYY-MM-DD form at rows 3, 4" in result.output
    assert "repeats" not in result.output
    assert snapshots(here / "o.db") == 0


def test_a_real_duplicate_is_still_found(here: Path) -> None:
    (here / "book.csv").write_text("account_id,as_of\nA1,2026-10-01\nA1,2026-10-01\nA2,bad\n")
    result = run("--db", "o.db", "ingest", "book.csv")
    assert result.exit_code == 1
    assert "repeats the same account and date at rows 2, 3" in result.output
    assert "at rows 4" not in result.output.split("repeats")[1]
    assert snapshots(here / "o.db") == 0


@pytest.mark.parametrize("value", ["11/01/2026", "2026-13-01", "2026-W44-1", "tomorrow"])
def test_as_of_not_iso_is_a_usage_error(here: Path, value: str) -> None:
    (here / "book.csv").write_text("account_id,arr\nA1,10\n")
    result = run("--db", "o.db", "ingest", "--as-of", value, "book.csv")
    assert result.exit_code == 2
    assert f"Invalid value for '--as-of': '{value}' is not a date in YYYY-MM-DD form" in result.output
    assert not (here / "o.db").exists()


def test_as_of_fills_a_file_without_dates(here: Path) -> None:
    (here / "book.csv").write_text("account_id,arr\nA1,10\n")
    result = run("--db", "o.db", "ingest", "--as-of", "2026-11-01", "book.csv")
    assert result.exit_code == 0, result.output
    assert "stored 1 row, 1 account (1 new to the store), 2026-11-01." in result.output
    assert "1 rows" not in result.output and "1 accounts" not in result.output


@pytest.mark.parametrize(("sep", "words"), [(";", "semicolons (';')"), ("\t", "tabs")])
def test_another_delimiter_gets_a_hint(here: Path, sep: str, words: str) -> None:
    (here / "book.csv").write_text(sep.join(["account_id", "as_of", "arr"]) + "\n"
                                   + sep.join(["A1", "2026-10-01", "10"]) + "\n")
    result = run("--db", "o.db", "ingest", "book.csv")
    assert result.exit_code == 1
    assert f"is separated by {words}, not commas" in result.output
    assert "save or export it as comma-separated CSV" in result.output
    assert "is required but missing" not in result.output   # one clear error
    assert snapshots(here / "o.db") == 0


def test_demo_store_is_the_default_until_real_data_arrives(here: Path) -> None:
    (here / "demo.csv").write_text(GOOD.replace("Acme", "Demo Co"))
    assert run("--db", "demo.db", "ingest", "demo.csv").exit_code == 0
    # No data of your own yet: commands read the demo's store (and say so).
    result = run("ask", "/outcome Demo Co")
    assert "Using the demo's store demo.db" in result.output
    assert "No account matches" not in result.output
    assert not (here / "outcomes.db").exists()
    # An empty outcomes.db (e.g. created by an earlier command) is not data of your own.
    Store(here / "outcomes.db").close()
    assert "Using the demo's store" in run("ask", "/outcome Demo Co").output
    # Your own data goes to outcomes.db, never into the demo's store; then it is the default.
    (here / "mine.csv").write_text(GOOD)
    result = run("ingest", "mine.csv")
    assert result.exit_code == 0, result.output
    assert "Your data is in outcomes.db; from now on commands in this folder use it" in result.output
    assert snapshots(here / "outcomes.db") == 1 and snapshots(here / "demo.db") == 1
    result = run("ask", "/outcome Demo Co")
    assert "Using the demo's store" not in result.output and "No account matches" in result.output


def test_hints_name_the_command_as_typed(here: Path) -> None:
    result = run("score", env={"OUTCOMES_PROG": "../outcomes/dev"})
    assert result.exit_code == 1
    assert "`../outcomes/dev ingest FILE`" in result.output and "`outcomes " not in result.output


def test_dev_resolves_paths_against_the_callers_folder(tmp_path: Path) -> None:
    """`cd mybook; ../outcomes/dev ingest book.csv --db rel.db` reads and writes in mybook."""
    if not (REPO / ".venv" / "bin" / "outcomes").exists():
        pytest.skip("needs the ./dev environment (.venv in the repository)")
    book = tmp_path / "mybook"
    book.mkdir()
    (book / "book.csv").write_text(GOOD)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTCOMES_")}
    done = subprocess.run([str(REPO / "dev"), "--db", "rel.db", "ingest", "book.csv"], cwd=book,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert snapshots(book / "rel.db") == 1 and not (REPO / "rel.db").exists()
    assert f"Next: `{REPO / 'dev'} score`" in done.stdout
    wrote = subprocess.run([str(REPO / "dev"), "demo", "--accounts", "20", "--months", "2",
                            "--write-csv", "here/"], cwd=book, env=env, capture_output=True,
                           text=True, timeout=120)
    assert wrote.returncode == 0, wrote.stderr
    assert len(list((book / "here").glob("*.csv"))) == 2 and not (REPO / "here").exists()
    usage = subprocess.run([str(REPO / "dev"), "ingest"], cwd=book, env=env, capture_output=True,
                           text=True, timeout=120)
    assert usage.returncode == 2 and f"Usage: {REPO / 'dev'} ingest" in usage.stderr


@pytest.mark.slow
def test_every_command_the_demo_suggests_works_verbatim(here: Path) -> None:
    result = run("demo", "--accounts", "60", "--months", "6")
    assert result.exit_code == 0, result.output
    assert (here / "demo.db").exists() and not (here / "outcomes.db").exists()
    assert "commands in this folder read it" in result.output
    suggested = [line.split("  ")[1].strip() for line in result.output.splitlines()
                 if line.startswith("  outcomes ")]
    assert len(suggested) >= 4
    suggested.append("outcomes console")   # the console's own hint
    # ...and the README's first-hour commands, typed in the same folder.
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("these work as\nthey are:", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    readme_commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert len(readme_commands) == 4 and all(c.startswith("./dev ") for c in readme_commands)
    suggested += [c.replace("./dev ", "outcomes ", 1) for c in readme_commands]
    assert "run `outcomes console`" in result.output
    for line in suggested:
        args = shlex.split(line)[1:]
        done = run(*args)
        assert done.exit_code == 0, (line, done.output)
        assert "no scores yet" not in done.output.lower(), line
        assert "No account matches" not in done.output, line



def test_docs_stand_alone() -> None:
    """The README links only to files in the repository, and every one exists."""
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        assert "../shared" not in text and "/work/" not in text, doc
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
            if not target.startswith("http"):
                assert (doc.parent / target).is_file(), (doc, target)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in ("data-contract.md", "configuration.md", "slack-setup.md"):
        assert f"(docs/{name})" in readme
    assert "`customer_since`" in (REPO / "docs" / "data-contract.md").read_text(encoding="utf-8")
