"""What every `outcomes` subcommand is handed: settings and store, built on first use."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot import defaults

if TYPE_CHECKING:  # pydantic and yaml load with the settings: `outcomes --help` needs neither
    from bot.config import Settings
    from storage.store import Store

# The demo's own store. Until data of your own arrives (the default store has no
# snapshots), commands without --db read the demo's store, so the demo's hints work.
DEMO_DB_FILE = "demo.db"
DEFAULT_DB_FILE = defaults.DEFAULT_DB_FILE


def command_name() -> str:
    """The command as it was typed (`./dev`, `../outcomes/dev`, `outcomes`), for hints."""
    return os.environ.get("OUTCOMES_PROG") or "outcomes"


def hint(text: str) -> str:
    """A message's `outcomes ...` hints, spelled as this user runs the command."""
    prog = command_name()
    return text if prog == "outcomes" else text.replace("`outcomes ", f"`{prog} ")


def has_snapshots(path: str | os.PathLike[str]) -> bool:
    """Whether the SQLite file holds at least one snapshot (read-only; never creates it)."""
    if not Path(path).is_file():
        return False
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        try:
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'snapshots'").fetchone():
                return False
            return conn.execute("SELECT 1 FROM snapshots LIMIT 1").fetchone() is not None
        finally:
            conn.close()
    except sqlite3.Error:
        return True  # not a store we can read: use it anyway, so the store says why



@dataclass
class CliContext:
    """Settings and store, built on first use so `--help` never touches the disk."""

    config_path: str | None
    db_path: str | None
    _settings: Settings | None = None
    _store: Store | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from bot.config import load_settings

            self._settings = load_settings(self.config_path, self.db_path or self._default_db())
        return self._settings

    def _default_db(self) -> str | None:
        """outcomes.db, or the demo's store while outcomes.db has no data of its own."""
        if Path(DEMO_DB_FILE).is_file() and not has_snapshots(DEFAULT_DB_FILE):
            click.secho(f"(Using the demo's store {DEMO_DB_FILE}: {DEFAULT_DB_FILE} has no data yet. "
                        f"`{command_name()} ingest FILE` starts it; --db picks another.)",
                        fg="yellow", err=True)
            return DEMO_DB_FILE
        return None

    def with_db(self, db_path: str) -> None:
        """Point at another database before first use (e.g. the demo's own)."""
        if self._store is not None:
            raise RuntimeError("the store is already open")
        self.db_path = db_path
        self._settings = None

    def with_default_db(self) -> None:
        """Store data of your own in outcomes.db (unless --db names another), never in the demo's."""
        if self.db_path is None:
            self.with_db(DEFAULT_DB_FILE)

    @property
    def store(self) -> Store:
        if self._store is None:
            from storage.store import Store

            self._store = Store(self.settings.db_path)
            self.closers.append(self._store.close)
        return self._store
