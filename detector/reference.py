"""Reference tables: small CSV files of domain facts under ``rules/reference``.

Country codes, currency rates, package types, controlled HS codes and the like change
with the world, not with the code, so they are data. Tables are read as text (an HS
prefix such as ``0101`` keeps its leading zero) and cached per file.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from detector.errors import ReferenceTableError
from detector.resources import default_reference_dir


def reference_path(name: str, search_dirs: tuple[Path, ...] = ()) -> Path:
    """Find table ``name`` (file stem) in ``search_dirs`` first, then the shipped folder."""
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


def require_columns(table: pd.DataFrame, name: str, columns: list[str]) -> None:
    """Raise a clear error when reference table ``name`` lacks any of ``columns``."""
    absent = [c for c in columns if c not in table.columns]
    if absent:
        raise ReferenceTableError(
            f"reference table '{name}' lacks column(s) {', '.join(absent)}; "
            f"it has {', '.join(table.columns)}"
        )
