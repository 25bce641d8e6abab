"""Reading snapshot files (CSV or Parquet) in batches, so a file of millions of rows
never has to fit in memory at once.

CSV cells are all read as text (types are the data contract's business, see
`storage.contract`); Parquet columns keep the types the file declares.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from storage.batch_source import SourceProblem

PARQUET_MAGIC = b"PAR1"
CSV_BLOCK_BYTES = 4 << 20
PARQUET_BATCH_ROWS = 100_000
HASH_BLOCK_BYTES = 4 << 20


class FileProblem(SourceProblem):
    """The file as a whole cannot be read; the message says why and what to do."""


@dataclass(frozen=True)
class SnapshotFile:
    """A readable file: its format, header, first data row number and checksum.

    A `storage.batch_source.BatchSource`."""

    path: Path
    kind: str  # csv / parquet
    headers: list[str]
    first_row: int  # spreadsheet numbering: a CSV header is row 1
    sha256: str
    noun = "file"

    @property
    def label(self) -> str:
        return str(self.path)

    @property
    def fingerprint(self) -> str:
        return self.sha256

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The rows, a batch at a time, columns named as in the file."""
        if self.kind == "parquet":
            try:
                yield from pq.ParquetFile(self.path).iter_batches(batch_size=PARQUET_BATCH_ROWS)
            except (pa.ArrowInvalid, OSError) as exc:
                raise FileProblem(f"is not a readable Parquet file: {exc}") from None
            return
        options = pacsv.ConvertOptions(
            column_types={name: pa.string() for name in self.headers},
            null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=True,
        )
        try:
            reader = pacsv.open_csv(
                self.path,
                read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=options,
            )
            yield from reader
        except pa.ArrowInvalid as exc:
            raise FileProblem(f"is not a well-formed CSV file: {exc}") from None


def open_snapshot_file(path: str | Path) -> SnapshotFile:
    """Check the path and read what is needed before the rows: format, header, checksum."""
    p = Path(path)
    if not p.exists():
        raise FileProblem("no such file")
    if p.is_dir():
        raise FileProblem("is a folder, not a file; name the CSV or Parquet files in it")
    if p.stat().st_size == 0:
        raise FileProblem("is empty")
    with p.open("rb") as fh:
        magic = fh.read(4)
    if magic == PARQUET_MAGIC or p.suffix.lower() in (".parquet", ".pq"):
        try:
            meta = pq.ParquetFile(p)
        except (pa.ArrowInvalid, OSError) as exc:
            raise FileProblem(f"is not a readable Parquet file: {exc}") from None
        if meta.metadata.num_rows == 0:
            raise FileProblem("has no rows")
        return SnapshotFile(p, "parquet", list(meta.schema_arrow.names), 1, _sha256(p))
    digest = _check_utf8_and_hash(p)
    with p.open("rb") as fh:
        first_line = fh.readline().decode("utf-8-sig")
        has_rows = bool(fh.readline().strip())
    headers = next(csv.reader([first_line]), [])
    if not any(h.strip() for h in headers):
        raise FileProblem("has no header row")
    if not has_rows:
        raise FileProblem("has a header but no rows")
    return SnapshotFile(p, "csv", headers, 2, digest)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_BLOCK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _check_utf8_and_hash(path: Path) -> str:
    """One pass over the bytes: is it UTF-8 (where not), and its SHA-256.

    An ASCII block (most are) is valid UTF-8 as it stands, a quick test; only the others
    are decoded. A file that is not UTF-8 is read again to name the line of its first bad
    byte (`_utf8_problem`)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_BLOCK_BYTES):
            digest.update(chunk)
            if chunk.isascii() and not decoder.getstate()[0]:
                continue  # no character cut at the last block's end, and none in this one
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                raise _utf8_problem(path) from None
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise FileProblem("ends in the middle of a UTF-8 character") from None
    return digest.hexdigest()


def _utf8_problem(path: Path) -> FileProblem:
    """The problem of a file that is not UTF-8, naming the line of its first bad byte."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_BLOCK_BYTES):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line += chunk.count(b"\n", 0, exc.start)
                return FileProblem(
                    f"is not UTF-8 text (bad byte at line {line}); save it as 'CSV UTF-8' "
                    "and ingest it again"
                )
            line += chunk.count(b"\n")
    return FileProblem("ends in the middle of a UTF-8 character")
