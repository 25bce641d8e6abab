"""Where snapshot rows come from, as ingest sees it: a source of Arrow record batches.

A CSV or Parquet file (`storage.snapshot_file.SnapshotFile`) and a SQL query's
result (`storage.sources.SqlResult`) both implement `BatchSource`, so every row
goes through exactly the same validation (`storage.ingest.ingest_batches`),
whatever it came from.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import pyarrow as pa


class SourceProblem(Exception):
    """The source as a whole cannot be read; the message says why and what to do."""


class BatchSource(Protocol):
    """Rows in batches, readable more than once (ingest checks them all, then stores them)."""

    @property
    def label(self) -> str:
        """How messages name the source: a file's path, or the SQL source's name."""
        ...

    @property
    def noun(self) -> str:
        """What it is, in a sentence: 'file', 'query result'."""
        ...

    @property
    def headers(self) -> list[str]:
        """Column names as the source spells them, in order."""
        ...

    @property
    def first_row(self) -> int:
        """The number messages give the first row (a CSV's header is row 1, so 2)."""
        ...

    @property
    def fingerprint(self) -> str:
        """A hash of the content: the same rows again are recognised and not stored twice."""
        ...

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The rows, a batch at a time, columns named as in `headers`.

        Raises SourceProblem when the rows cannot be read."""
        ...
