"""Reference tables: small CSV files of domain facts under ``rules/reference``.

Country codes, currency rates, package types, controlled HS codes and the like change
with the world, not with the code, so they are data. Tables are read as text (an HS
prefix such as ``0101`` keeps its leading zero) and cached per file.
"""

from __future__ import annotations

import csv
import re
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from detector.errors import ReferenceTableError
from detector.resources import default_reference_dir

# A table is named by its file stem, never by a path: a pack from elsewhere must not
# read files outside the reference folders (``table: ../../etc/passwd``).
TABLE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def reference_path(name: str, search_dirs: tuple[Path, ...] = ()) -> Path:
    """Find table ``name`` (file stem) in ``search_dirs`` first, then the shipped folder."""
    if not TABLE_NAME.fullmatch(name):
        raise ReferenceTableError(
            f"reference table name {name!r} is not a plain name: give the file name without "
            "folder or .csv, such as controlled_hs (letters, digits, _ - .)")
    for folder in (*search_dirs, default_reference_dir()):
        candidate = Path(folder) / f"{name}.csv"
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(d) for d in (*search_dirs, default_reference_dir()))
    raise ReferenceTableError(f"reference table '{name}' not found (looked for {name}.csv in {looked})")


@lru_cache(maxsize=64)
def _read_table(path: Path, mtime_ns: int) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ReferenceTableError(f"{path}: cannot read reference table: {exc}") from exc
    return table.apply(lambda column: column.str.strip())


def load_reference(name: str, search_dirs: tuple[Path, ...] = ()) -> pd.DataFrame:
    """Return reference table ``name`` as a DataFrame of stripped strings ('' = empty).

    The result is cached; callers must not modify it in place.
    """
    path = reference_path(name, search_dirs)
    return _read_table(path, path.stat().st_mtime_ns)


def reference_layers(name: str, search_dirs: tuple[Path, ...] = ()) -> list[tuple[Path, pd.DataFrame]]:
    """Every copy of table ``name``: the shipped one first, then those of ``search_dirs``
    from the last folder to the first, each with its path.

    :func:`load_reference` takes the first copy it finds, which suits a list a pack
    replaces. A synonym table is extended instead: a pack's ``transport_modes.csv``
    adds its carriers to the shipped words, and a word the pack's copy gives again is
    the pack's (a later layer wins), so the result of reading the layers in order is
    what the pack meant.
    """
    if not TABLE_NAME.fullmatch(name):
        reference_path(name)  # raises the error that explains table names
    folders = dict.fromkeys(Path(d).resolve() for d in (default_reference_dir(), *reversed(search_dirs)))
    paths = [folder / f"{name}.csv" for folder in folders]
    return [(path, load_reference_file(path)) for path in paths if path.is_file()]


def load_reference_file(path: Path) -> pd.DataFrame:
    """One reference table file, read and cached as :func:`load_reference` reads it."""
    return _read_table(path, path.stat().st_mtime_ns)


def require_columns(table: pd.DataFrame, name: str, columns: list[str]) -> None:
    """Raise a clear error when reference table ``name`` lacks any of ``columns``."""
    absent = [c for c in columns if c not in table.columns]
    if absent:
        raise ReferenceTableError(
            f"reference table '{name}' lacks column(s) {', '.join(absent)}; "
            f"it has {', '.join(table.columns)}"
        )


def iso_dates(cells: np.ndarray) -> np.ndarray:
    """Whether each text cell is a real calendar date written YYYY-MM-DD.

    Strict on purpose: validity windows are compared as ``datetime64``, which reads
    ``20250105`` as the year 20,250,105 and rejects ``2025-1-5``. A table holds a few
    distinct dates, each checked once.
    """
    return np.isin(cells, [cell for cell in set(cells) if _iso_date(cell)])


def _iso_date(text: str) -> bool:
    if not _ISO_DATE.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:  # 2025-02-30
        return False
    return True


def require_cells(table: pd.DataFrame, path: Path, column: str, bad, expected: str) -> None:
    """Raise a ReferenceTableError naming the file line, column and value of the first
    cell of ``column`` marked ``bad``, and how many more there are."""
    rows = np.flatnonzero(np.asarray(bad, dtype=bool))
    if not len(rows):
        return
    more = f" ({len(rows) - 1} more row(s) like it)" if len(rows) > 1 else ""
    raise ReferenceTableError(f"{path}: line {_file_lines(path)[rows[0]]}: {column} "
                              f"{table[column].iloc[rows[0]]!r}: {expected}{more}")


def _file_lines(path: Path) -> list[int]:
    """The file line on which each row of the table (as ``_read_table`` reads it) starts.

    Only called to report a bad cell, so the file is read again rather than every table
    carrying its line numbers. Like pandas, lines that are empty or hold only spaces
    are no row; a quoted cell may span lines.
    """
    lines, previous = [], 0
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        for record in reader:
            if len(record) > 1 or "".join(record).strip():
                lines.append(previous + 1)
            previous = reader.line_num
    return lines[1:]
