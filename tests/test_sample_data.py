"""The shipped sample: history and quarter hold the periods their names promise.

The sample's figures in the README (rows, frauds, precision per budget) are measured on
``declarations.csv`` as the 2026 first quarter with a model trained on ``history.csv.gz``
as 2025; a row on the wrong side puts a 2025 declaration into the quarter being scored.
"""

import functools
import importlib.util

import pandas as pd
import pytest

from detector.errors import DetectorError
from tests.conftest import REPO

SAMPLE = REPO / "sample_data"


@functools.cache
def _build_script():
    """sample_data/build.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("sample_build", SAMPLE / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Every way the generator writes a date: ISO and the typing errors it plants (14/03/2025,
# 2025/03/14, 20250314). Read here independently of build.py: these tests judge the files.
GENERATOR_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%Y/%m/%d", "%Y%m%d")


@functools.cache
def _dates(name: str) -> pd.DataFrame:
    """``declaration_id``, the date as written and as read in any format the generator writes."""
    written = pd.read_csv(SAMPLE / name, dtype=str, keep_default_na=False,
                          usecols=["declaration_id", "declaration_date"])
    read = pd.Series(pd.NaT, index=written.index, dtype="datetime64[ns]")
    for date_format in GENERATOR_DATE_FORMATS:
        read = read.fillna(pd.to_datetime(written["declaration_date"], format=date_format, errors="coerce"))
    return written.assign(read=read)


@pytest.mark.parametrize(("name", "first", "last"), [
    ("declarations.csv", "2026-01-01", "2026-03-31"),
    ("history.csv.gz", "2025-01-01", "2025-12-31"),
])
def test_every_readable_date_falls_in_the_files_period(name, first, last):
    """Before: build.py split the stream by comparing date text, so the typo-dates
    31/03/2025, 26/07/2025 and 25/11/2025 sorted after '2026-01-01' and were scored as
    the 2026 quarter, and 07/01/2026 sorted before it and was trained on as 2025."""
    dates = _dates(name)
    outside = dates[dates["read"].notna() & ~dates["read"].between(first, last)]
    assert outside.empty, f"{name}: rows dated outside {first} to {last}:\n{outside.to_string()}"


def test_history_and_quarter_together_hold_the_whole_stream():
    """A split that dropped or copied the rows whose date it could not read would change
    the sample's figures without any date being out of place."""
    assert len(_dates("history.csv.gz")) + len(_dates("declarations.csv")) == 120_000


def test_build_splits_on_the_date_a_row_carries_not_on_its_text():
    """Before: '31/12/2025' compared as text sorted after '2026-01-01' (and '01/01/2026'
    before it); a date no format reads stays between the rows of its own days."""
    build = _build_script()
    written = pd.Series(["2025-12-30", "2025/12/31", "31/12/2025", "not a date", "01/01/2026", "20260102"])
    dates = build.read_dates(written)
    assert dates.dt.strftime("%Y-%m-%d").tolist()[:3] == ["2025-12-30", "2025-12-31", "2025-12-31"]
    assert build.split_position(dates, "2026-01-01") == 4
    assert build.split_position(build.read_dates(pd.Series(["2025-12-31", "2026-03-31"])), "2027-01-01") == 2
    with pytest.raises(DetectorError, match="row 1: declaration_date 2025-03-01 comes after a later date"):
        build.split_position(build.read_dates(pd.Series(["2025-06-01", "01/03/2025"])), "2026-01-01")
