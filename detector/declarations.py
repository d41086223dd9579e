"""Loading declarations: read -> map columns -> validate -> derive, in one call.

:func:`load_declarations` is what the CLI, the rule examples and notebooks use, so a
table always reaches the rules in the same shape however it arrived.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from detector.derived import derive
from detector.io import STDIN, STDIN_NAME, ReadInfo, read_table
from detector.schema import (
    OPAQUE,
    PROBLEM_COLUMNS,
    ColumnMapping,
    canonical_frame,
    load_mapping,
    resolve_columns,
    row_errors,
    validate,
)


@dataclass
class Declarations:
    """A declarations table ready for scoring.

    Attributes
    ----------
    raw : DataFrame
        The file's own columns, as read; the scored output carries them unchanged.
    table : DataFrame
        Canonical typed fields plus derived fields; a cell that failed validation is
        missing here.
    problems : DataFrame
        One row per unusable cell: row (1-based data row), column, field, value, problem.
    invalid : ndarray of bool
        Rows with at least one problem.
    errors : Series
        Per row, its problems as one text ('' for a valid row).
    columns : dict
        canonical field -> the file's column it came from.
    unreadable : dict
        field -> per row, the text of its cell where it could not be read (an unknown
        transport mode, unit or country, a malformed number or code), missing
        elsewhere; only fields with such a cell. Rules see it through the
        ``unreadable`` predicate.
    reference_dirs : tuple of Path
        The folders whose synonym tables extended the shipped ones while reading.
    """

    raw: pd.DataFrame
    table: pd.DataFrame
    problems: pd.DataFrame
    invalid: np.ndarray
    errors: pd.Series
    columns: dict[str, str]
    source: str = "<table>"
    read_info: ReadInfo | None = None
    mapping: ColumnMapping = field(default_factory=ColumnMapping)
    unreadable: dict[str, pd.Series] = field(default_factory=dict)
    reference_dirs: tuple[Path, ...] = ()

    def __len__(self) -> int:
        return len(self.raw)

    @property
    def opaque_fields(self) -> frozenset[str]:
        """Fields whose codes the mapping declares anonymised (``opaque``)."""
        return frozenset(name for name, fmt in self.mapping.formats.items() if fmt == OPAQUE)

    @property
    def read_notes(self) -> tuple[str, ...]:
        """What the reader repaired, a line per kind (see :class:`detector.io.ReadInfo`)."""
        return self.read_info.notes if self.read_info is not None else ()

    @property
    def unmapped(self) -> list[str]:
        """The file's columns that feed no canonical field (kept in the output)."""
        used = set(self.columns.values())
        return [c for c in self.raw.columns if c not in used]


# Over 60 lines for its numpydoc parameters; the body is the four stages in order,
# about 25 lines.
def load_declarations(
    source: str | Path | pd.DataFrame,
    mapping: str | Path | ColumnMapping | None = None,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    reference_dirs: tuple[Path, ...] = (),
    on_stage=None,
    name: str | None = None,
) -> Declarations:
    """Read, map, validate and derive a declarations file or DataFrame.

    Parameters
    ----------
    source : path or DataFrame
        A CSV or Parquet file, or a DataFrame already in memory (e.g. in a notebook).
    mapping : path, shipped mapping name, ColumnMapping, optional
        How the file's columns map onto canonical fields; obvious aliases are
        recognised without one.
    delimiter, encoding : str, optional
        CSV options; detected when not given.
    reference_dirs : tuple of Path, optional
        Folders whose ``transport_modes``, ``package_types`` and ``quantity_units``
        tables add words (carriers, national words, units) to the shipped ones: the
        ``reference/`` folders of the rule packs in use (each rule's ``reference_dirs``).
    on_stage : callable, optional
        Called as ``on_stage(stage, rows)`` when reading (rows 0: not known yet) and
        validating start (progress reporting).
    name : str, optional
        What messages and the summary call a DataFrame source (default
        ``<table>``); a file is named by its path.

    Returns
    -------
    Declarations

    Examples
    --------
    >>> decl = load_declarations("sample_data/declarations.csv")  # doctest: +SKIP
    >>> decl.problems.head()  # doctest: +SKIP
    """
    if not isinstance(mapping, ColumnMapping):
        mapping = load_mapping(mapping)
    stage = on_stage or (lambda name, rows: None)
    if isinstance(source, pd.DataFrame):
        raw, info, label = source.reset_index(drop=True), None, name or "<table>"
        raw.columns = [str(c) for c in raw.columns]
    else:
        stage("reading", 0)
        raw, info = read_table(source, delimiter=delimiter, encoding=encoding)
        label = STDIN_NAME if str(source) == STDIN else str(source)
    stage("validating", len(raw))
    resolved = resolve_columns(list(raw.columns), mapping, label)
    reference_dirs = tuple(reference_dirs)
    validated = validate(canonical_frame(raw, resolved, mapping), resolved, mapping.formats, reference_dirs)
    problems = validated.problems
    if info is not None and info.problems is not None and len(info.problems):
        problems = pd.concat([_with_fields(info.problems, resolved), problems], ignore_index=True).sort_values(
            "row", kind="stable").reset_index(drop=True)
    problems = problems[PROBLEM_COLUMNS]
    invalid, errors = row_errors(problems, len(raw))
    return Declarations(
        raw=raw, table=derive(validated.table, reference_dirs), problems=problems, invalid=invalid,
        errors=errors, columns=resolved, source=label, read_info=info, mapping=mapping,
        unreadable=validated.unreadable, reference_dirs=reference_dirs,
    )


def _with_fields(read_problems: pd.DataFrame, resolved: dict[str, str]) -> pd.DataFrame:
    """The reader's problems with the canonical field of each column ('' for none)."""
    fields = {column: canonical for canonical, column in resolved.items()}
    return read_problems.assign(field=read_problems["column"].map(fields).fillna("").astype("str"))
