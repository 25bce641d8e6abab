"""Errors of the storage layer that the command line names without loading the data
libraries (so `outcomes --help` stays quick): importing this module is cheap."""

from __future__ import annotations

from collections.abc import Sequence

MAX_ROWS_NAMED = 20  # rows named in a rejection; the rest are counted


class IngestError(Exception):
    """A file (or other source) that cannot be stored. `problems` lists (column, message, rows)."""

    def __init__(self, file: str, problems: Sequence[tuple[str | None, str, Sequence[int]]],
                 noun: str = "file"):
        self.file = file
        self.problems = list(problems)
        self.noun = noun
        super().__init__(self._message())

    def _message(self) -> str:
        lines = [f"{self.file}: rejected, nothing from this {self.noun} was stored."]
        for column, message, rows in self.problems:
            where = f"column {column!r}: " if column else ""
            if rows:
                total = getattr(rows, "total", len(rows))
                shown = ", ".join(str(r) for r in rows[:MAX_ROWS_NAMED])
                more = f" (and {total - MAX_ROWS_NAMED} more)" if total > MAX_ROWS_NAMED else ""
                lines.append(f"  - {where}{message} at row{'s' if total > 1 else ''} {shown}{more}")
            else:
                lines.append(f"  - {where}{message}")
        return "\n".join(lines)


class SqlSourceError(Exception):
    """A SQL source's query cannot be run (URL, password, driver, connection, SQL): the
    message says why. See `storage.sources`."""
