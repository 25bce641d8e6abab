"""The contract's quick paths give exactly what the plain ones give: a column of numbers
as written skips trimming, and a column of few values is rewritten per distinct value."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from storage.contract import (
    MetricStats,
    checked_numbers,
    numbers_as_written,
    parse_number,
    per_distinct,
    text,
)

PADDED = [" 1", "2 ", "\t3", "4\n", " ", "\u00a05", "6\u3000", "\u20007", "\x0b8"]


def plain_parse(cells: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """parse_number as it read before the quick path: trim, then cast what is a number."""
    trimmed = text(pa.array(cells, pa.string()))
    values = np.array([float(v) if v is not None and _number(v) else np.nan
                       for v in trimmed.to_pylist()])
    return checked_numbers(trimmed, values)


def _number(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("cells", [
    ["1", "2.5", None, "-3e2", "+4", ".5"],
    ["1", "nan", "inf", None],
    ["1", *PADDED],
    ["1", "", "x"],
])
def test_numbers_parse_the_same_with_or_without_the_quick_path(cells: list) -> None:
    got_values, got_bad = parse_number(pa.array(cells, pa.string()))
    values, bad = plain_parse(cells)
    np.testing.assert_array_equal(got_values, values)
    np.testing.assert_array_equal(got_bad, bad)


@pytest.mark.parametrize("cell", PADDED + ["", "1,5", "0x10"])
def test_a_cell_trimming_would_change_is_never_a_number_as_written(cell: str) -> None:
    assert numbers_as_written(pa.array(["1", cell], pa.string())) is None
    assert numbers_as_written(pa.array(["1", None], pa.string())) is not None


def test_metric_stats_see_padded_numbers_as_before() -> None:
    """The first batch is numbers as written (no trim), the next padded ones (trimmed)."""
    stats = MetricStats("m")
    rows = np.arange(2, 6)
    first = stats.observe(pa.array(["1", "2", None, "3"]), rows, 30)
    second = stats.observe(pa.array([" 4", "5 ", "  ", "x"]), rows + 4, 30)
    np.testing.assert_array_equal(first, [1.0, 2.0, np.nan, 3.0])
    np.testing.assert_array_equal(second, [4.0, 5.0, np.nan, np.nan])
    assert (stats.filled, stats.not_numbers, list(stats.bad_rows), stats.bad_sample) == (6, 1, [9], "x")
    assert stats.distinct == {"1", "2", "3", "4", "5", "x"}


def test_per_distinct_is_the_function_itself() -> None:
    def fix(v: pa.Array) -> pa.Array:
        return pc.replace_substring_regex(v, r"\s*;\s*", ";")

    few = pa.array(["a ; b", None, "a;b", "c", "a ; b"] * 40)
    many = pa.array([f"p{i} ; q" for i in range(50)] + [None])
    for arr in (few, many):
        assert per_distinct(arr, fix).equals(fix(arr))
