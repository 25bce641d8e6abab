"""The `outcomes` command line: help everywhere, exit codes 0/1/2, ingest and demo."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bot.cli import main


def run(*args: str, **kwargs) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False, **kwargs)


def test_every_command_has_help_with_a_summary() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for name, command in main.commands.items():
        assert name in result.output
        assert command.get_short_help_str(), f"{name} has no one-line help"
        sub = run(name, "--help")
        assert sub.exit_code == 0 and "Usage:" in sub.output, name
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert param.help, f"outcomes {name} {param.opts[0]} has no help"


def test_usage_error_exits_2() -> None:
    assert run("ingest").exit_code == 2
    assert run("no-such-command").exit_code == 2


def test_ingest_reports_and_bad_file_exits_1(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("account_id,as_of,arr,logins\na,2025-01-01,10,5\nb,2025-01-01,20,\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("account_id,as_of,arr\na,2025-01-01,-10\n")
    db = str(tmp_path / "o.db")
    result = run("--db", db, "ingest", str(good))
    assert result.exit_code == 0, result.output
    assert "stored 2 rows, 2 accounts" in result.output and "numeric logins" in result.output
    result = run("--db", db, "ingest", str(bad))
    assert result.exit_code == 1
    assert "negative" in result.output and "row 2" in result.output
    assert "Traceback" not in result.output


def test_bad_config_exits_1_with_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "app.yaml"
    cfg.write_text("horizon: 30\n")
    result = run("--config", str(cfg), "--db", str(tmp_path / "o.db"), "ingest", str(cfg))
    assert result.exit_code == 1 and "unknown key 'horizon'" in result.output


def test_demo_write_csv_shows_the_format(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = run("demo", "--accounts", "40", "--months", "3", "--write-csv", str(out))
    assert result.exit_code == 0, result.output
    files = sorted(out.glob("*.csv"))
    assert len(files) == 3
    header = files[0].read_text().splitlines()[0].split(",")
    assert header[:2] == ["account_id", "as_of"] and "owner_email" in header


@pytest.mark.slow
def test_demo_ingests_into_its_own_database(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("demo", "--accounts", "60", "--months", "6")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "demo.db").exists() and not (tmp_path / "outcomes.db").exists()
    assert "Book: 60 accounts" in result.output
