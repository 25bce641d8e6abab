"""The data contract's rules for cells and columns, applied a batch of rows at a time.

`BatchParser.canonical()` turns a batch into the canonical typed columns and
records every broken rule in a `Problems` collector; `MetricStats` gathers, over
all batches, what is needed to decide what each other column is (numeric,
boolean, category or free text). Arrow compute does the per-cell work, so a
batch of 100k rows costs milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from storage.errors import MAX_ROWS_NAMED

REQUIRED = ("account_id", "as_of")
TEXT_COLUMNS = ("account_id", "name", "owner_email", "owner_slack_id", "products", "status")
DATE_COLUMNS = ("as_of", "renewal_date", "customer_since")
BOOL_COLUMNS = ("churned", "upsold")
CANONICAL = (*TEXT_COLUMNS, *DATE_COLUMNS, *BOOL_COLUMNS, "arr")

TRUE_WORDS = ("true", "yes", "1", "y", "1.0")
FALSE_WORDS = ("false", "no", "0", "n", "0.0")
ZERO_ONE = ("0", "1", "0.0", "1.0")
STATUSES = ("active", "churned")
SLACK_USER_ID = r"^[UW][A-Z0-9]{2,}$"
ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
# Up to this share of text among a column's non-blank values, the text is a stray
# value in a numeric column (an error); above it the column is text.
STRAY_TEXT_SHARE = 0.05
# Once this many values are seen and most are not numbers, stop parsing numbers.
SETTLED_AFTER = 1000




class RowNumbers(list):
    """The first row numbers of a problem, and how many rows have it in all."""

    def __init__(self, rows: Iterable[int] = (), total: int | None = None) -> None:
        super().__init__(rows)
        self.total = len(self) if total is None else total


class Problems:
    """Broken rules by (column, message), with the first row numbers of each."""

    def __init__(self) -> None:
        self._found: dict[tuple[str | None, str], RowNumbers] = {}

    def add(self, column: str | None, message: str, rows: np.ndarray | None = None) -> None:
        found = self._found.setdefault((column, message), RowNumbers())
        if rows is None:
            return
        room = MAX_ROWS_NAMED - len(found)
        found.extend(int(r) for r in rows[: max(room, 0)])
        found.total += len(rows)

    def add_rows(self, column: str | None, message: str, rows: RowNumbers) -> None:
        """A problem whose rows were gathered elsewhere (e.g. over several batches)."""
        self._found[(column, message)] = rows

    def __bool__(self) -> bool:
        return bool(self._found)

    def as_list(self) -> list[tuple[str | None, str, RowNumbers]]:
        return [(column, message, rows) for (column, message), rows in self._found.items()]


# -- cells -------------------------------------------------------------------------------


def text(arr: pa.Array) -> pa.Array:
    """Trimmed text; blank and whitespace-only cells become null."""
    if pa.types.is_timestamp(arr.type) or pa.types.is_date(arr.type):
        arr = pc.strftime(arr, format="%Y-%m-%d")
    if not pa.types.is_string(arr.type):
        arr = pc.cast(arr, pa.string())
    trimmed = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def per_distinct(arr: pa.Array, fn: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """`fn(arr)`, computed once per distinct value when the values repeat (a column of a
    few products or plans): a regex over a handful of values instead of every row."""
    encoded = pc.dictionary_encode(arr)
    if 4 * len(encoded.dictionary) > len(arr):
        return fn(arr)
    return pc.take(fn(encoded.dictionary), encoded.indices)


def mask(arr: pa.Array) -> np.ndarray:
    """A boolean numpy mask from a boolean Arrow array (null counts as False)."""
    return pc.fill_null(arr, False).to_numpy(zero_copy_only=False)


def numbers_as_written(arr: pa.Array) -> np.ndarray | None:
    """float64 of every cell of a text column (NaN for nulls) when each cell is a number
    just as written, else None. Then `text(arr)` is `arr`: Arrow reads no number that has
    a space around it or is blank, so trimming would change no cell (and it is skipped)."""
    if not pa.types.is_string(arr.type):
        return None
    try:
        return pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def parse_number(arr: pa.Array, *, mostly_numbers: bool = True,
                 trimmed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """float64 values (NaN for missing or bad) and a mask of cells that are not numbers.

    `mostly_numbers=False` (a column known to hold text) skips the cast of the whole
    column, which is quick when it succeeds and slow when it fails. `trimmed`: `arr` is
    already `text(...)` of the cells.
    """
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_boolean(arr.type):
        values = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        return values, ~np.isfinite(values) & ~pc.is_null(arr).to_numpy(zero_copy_only=False)
    values = numbers_as_written(arr) if mostly_numbers else None
    if values is not None:
        return checked_numbers(arr, values)
    cells = arr if trimmed else text(arr)
    if mostly_numbers and not trimmed:  # trimmed: the cast of `arr` just failed
        try:
            values = pc.cast(cells, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    if values is None:  # cast only the cells shaped like a number
        shaped = pc.match_substring_regex(cells, NUMBER)
        try:
            values = pc.cast(pc.if_else(shaped, cells, pa.scalar(None, pa.string())),
                             pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            values = pd.to_numeric(cells.to_pandas(), errors="coerce").to_numpy(dtype="float64")
    return checked_numbers(cells, values)


def checked_numbers(cells: pa.Array, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`parse_number`'s result from the cells and their cast: a filled cell that is no
    finite number ('nan', 'inf', text) is bad, and NaN."""
    filled = ~pc.is_null(cells).to_numpy(zero_copy_only=False)
    bad = filled & ~np.isfinite(values)
    return np.where(bad, np.nan, values), bad


def parse_bool(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """0.0/1.0 values (NaN for missing) and a mask of cells that are not yes/no words."""
    if pa.types.is_boolean(arr.type):
        values = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        return values, np.zeros(len(arr), dtype=bool)
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        arr = pc.cast(arr, pa.string())
    cells = pc.utf8_lower(text(arr))
    true = mask(pc.is_in(cells, value_set=pa.array(TRUE_WORDS)))
    false = mask(pc.is_in(cells, value_set=pa.array(FALSE_WORDS)))
    filled = ~pc.is_null(cells).to_numpy(zero_copy_only=False)
    values = np.where(true, 1.0, np.where(false, 0.0, np.nan))
    return values, filled & ~true & ~false


def parse_date(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """'YYYY-MM-DD' text (null when missing or bad) and a mask of cells that are not dates."""
    cells = text(arr)
    # A file holds few distinct dates: each is checked once. strptime rolls impossible
    # days over (2025-02-30 -> 2025-03-02), so a date is valid only if it reads back as written.
    encoded = pc.dictionary_encode(cells)
    distinct = encoded.dictionary
    stamps = pc.strptime(distinct, format="%Y-%m-%d", unit="s", error_is_null=True)
    ok = mask(pc.and_(pc.match_substring_regex(distinct, ISO_DATE),
                      pc.equal(pc.strftime(stamps, format="%Y-%m-%d"), distinct)))
    filled = ~pc.is_null(cells).to_numpy(zero_copy_only=False)
    codes = pc.fill_null(encoded.indices, 0).to_numpy(zero_copy_only=False)
    valid = filled & (ok[codes] if len(ok) else np.zeros(len(codes), dtype=bool))
    return pc.if_else(pa.array(valid), cells, pa.scalar(None, pa.string())), filled & ~valid


# -- batches -----------------------------------------------------------------------------


@dataclass
class BatchParser:
    """Canonical columns of one batch, by the contract; problems go to `problems`."""

    sources: Mapping[str, str]  # canonical name -> header in the file
    problems: Problems
    as_of: str | None = None

    def _src(self, name: str) -> str:
        return self.sources.get(name, name)

    def canonical(self, batch: Mapping[str, pa.Array], rows: np.ndarray) -> dict[str, object]:
        """account_id, as_of, ... as Arrow text arrays or float64 numpy arrays."""
        n = len(rows)
        nulls = pa.nulls(n, pa.string())
        out: dict[str, object] = {}

        ids = text(batch["account_id"])
        blank = pc.is_null(ids).to_numpy(zero_copy_only=False)
        if blank.any():
            self.problems.add(self._src("account_id"), "is blank", rows[blank])
        out["account_id"] = ids

        for name in DATE_COLUMNS:
            if name not in batch:
                out[name] = pa.array([self.as_of] * n, pa.string()) if name == "as_of" else nulls
                continue
            values, bad = parse_date(batch[name])
            if bad.any():
                self.problems.add(self._src(name), "is not a date in YYYY-MM-DD form", rows[bad])
            if name == "as_of":
                if self.as_of is not None:
                    values = pc.fill_null(values, self.as_of)
                missing = pc.is_null(values).to_numpy(zero_copy_only=False) & ~bad
                if missing.any():
                    self.problems.add(self._src(name), "is blank", rows[missing])
            out[name] = values

        for name in ("name", "owner_email", "owner_slack_id", "products", "status"):
            out[name] = text(batch[name]) if name in batch else nulls
        owner_ids = out["owner_slack_id"]
        bad = mask(pc.invert(pc.match_substring_regex(owner_ids, SLACK_USER_ID)))
        if bad.any():
            self.problems.add(self._src("owner_slack_id"), "is not a Slack user id (U… or W…)", rows[bad])
        out["owner_email"] = pc.utf8_lower(out["owner_email"])
        out["products"] = per_distinct(
            out["products"], lambda v: pc.replace_substring_regex(v, r"\s*;\s*", ";"))
        status = pc.utf8_lower(out["status"])
        bad = mask(pc.and_(pc.is_valid(status), pc.invert(pc.is_in(status, value_set=pa.array(STATUSES)))))
        if bad.any():
            self.problems.add(self._src("status"), "must be 'active' or 'churned'", rows[bad])
        out["status"] = status

        if "arr" in batch:
            arr, bad = parse_number(batch["arr"])
            if bad.any():
                self.problems.add(self._src("arr"), "is not a number", rows[bad])
            negative = arr < 0
            if negative.any():
                self.problems.add(self._src("arr"), "is negative (ARR must be 0 or more)", rows[negative])
            out["arr"] = arr
        else:
            out["arr"] = np.full(n, np.nan)

        for name in BOOL_COLUMNS:
            if name in batch:
                values, bad = parse_bool(batch[name])
                if bad.any():
                    self.problems.add(self._src(name), "is not a yes/no value "
                                      "(true/false, yes/no, 1/0, y/n)", rows[bad])
                out[name] = values
            else:
                out[name] = np.full(n, np.nan)
        return out


@dataclass
class MetricStats:
    """What one non-canonical column looked like over the whole file."""

    source: str
    typed: str | None = None  # 'numeric'/'boolean' when the file declares the type
    filled: int = 0
    not_numbers: int = 0
    bad_rows: RowNumbers = field(default_factory=RowNumbers)
    bad_sample: str | None = None
    all_yes_no: bool = True
    all_zero_one: bool = True
    distinct: set[str] = field(default_factory=set)
    many_distinct: bool = False
    settled_text: bool = False

    def observe(self, arr: pa.Array, rows: np.ndarray, max_categories: int) -> np.ndarray | None:
        """Take in one batch of the column; returns its numbers (as `parse_number`) when
        it parsed them, so a numeric column need not be parsed twice."""
        if pa.types.is_boolean(arr.type):
            self.typed = "boolean"
            return None
        if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
            self.typed = "numeric"
            return None
        # A column of numbers as written (the usual case) is cast once and not trimmed.
        numbers = None if self.settled_text or self.not_numbers else numbers_as_written(arr)
        cells = arr if numbers is not None else text(arr)
        filled = len(cells) - cells.null_count
        if not filled:
            return np.full(len(cells), np.nan)
        self.filled += filled
        # Lower-cased only while it may still be a yes/no or 0/1 column.
        lowered = pc.utf8_lower(cells) if self.all_yes_no or self.all_zero_one else None
        if self.all_yes_no:
            self.all_yes_no = bool(pc.all(pc.is_in(pc.drop_null(lowered),
                                                   value_set=pa.array(TRUE_WORDS + FALSE_WORDS))).as_py())
        if self.all_zero_one:
            self.all_zero_one = bool(pc.all(pc.is_in(pc.drop_null(lowered), value_set=pa.array(ZERO_ONE))).as_py())
        if not self.many_distinct:
            self.distinct.update(pc.unique(pc.drop_null(cells)).to_pylist())
            self.many_distinct = len(self.distinct) > max_categories
            if self.many_distinct:
                self.distinct.clear()
        if self.settled_text:
            return None
        values, bad = (checked_numbers(cells, numbers) if numbers is not None else
                       parse_number(cells, mostly_numbers=not self.not_numbers, trimmed=True))
        count = int(bad.sum())
        if count:
            self.not_numbers += count
            if self.bad_sample is None:
                self.bad_sample = str(cells[int(np.argmax(bad))].as_py())
            room = MAX_ROWS_NAMED - len(self.bad_rows)
            self.bad_rows.extend(int(r) for r in rows[bad][: max(room, 0)])
            self.bad_rows.total += count
        self.settled_text = self.filled >= SETTLED_AFTER and self.not_numbers > 0.5 * self.filled
        return values

    def kind(self) -> str:
        """numeric, boolean, category or text, from the values alone."""
        if self.typed:
            return self.typed
        if self.filled == 0:
            return "numeric"
        if self.all_yes_no and not self.all_zero_one:
            return "boolean"
        if not self.settled_text and self.not_numbers <= STRAY_TEXT_SHARE * self.filled:
            return "numeric"  # the text in it is a stray value: an error, see `settle_kind`
        return "text" if self.many_distinct else "category"


def settle_kind(stats: MetricStats, stored_kind: str | None, problems: Problems) -> str:
    """The column's kind for this file; the stored kind wins, and stray text is an error."""
    kind = stats.kind()
    numeric_before = stored_kind in ("numeric", "boolean")
    if stored_kind is not None and numeric_before != (kind in ("numeric", "boolean")):
        kind = stored_kind  # a text column stays text; a numeric one must get numbers
    if kind == "boolean" and stored_kind == "numeric":
        kind = "numeric"
    if kind == "numeric" and stats.not_numbers:
        where = "in the stored data" if stored_kind else "in this file"
        sample = stats.bad_sample if stats.bad_sample is not None else "?"
        rows = stats.bad_rows
        problems.add_rows(stats.source, f"is numeric {where} but has text such as {sample!r} "
                          "(leave a missing value blank)", rows)
    return kind


def metric_values(arr: pa.Array, kind: str) -> object:
    """A metric column's values as stored: float64 for numeric/boolean, text otherwise."""
    if kind == "numeric":
        return parse_number(arr)[0]
    if kind == "boolean":
        return parse_bool(arr)[0]
    return text(arr)
