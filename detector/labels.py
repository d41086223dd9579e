"""Inspection outcomes as the detector reads them, wherever they come from.

A verdict reaches the detector as a column of a history file (``detector train
--labels``), a column of a labelled file to measure (``detector evaluate``), a column of
a scored file whose report counts frauds per lane, or the outcome database's
``fraud`` / ``clean``. One reader serves them all, so a cell means the same thing
everywhere: 1 / 0 as numbers or text, the words below in any case, empty for "not
inspected", and anything else refused with its row and value rather than guessed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from detector.errors import DetectorError

# What a label cell says, read with case and surrounding spaces ignored. The outcome
# database writes "fraud" and "clean"; spreadsheets export booleans as TRUE / FALSE.
FRAUD_WORDS = ("1", "1.0", "true", "yes", "y", "fraud")
CLEAN_WORDS = ("0", "0.0", "false", "no", "n", "clean")
SHOWN_PROBLEMS = 5


def read_labels(values, source: str = "labels", column: str | None = None) -> np.ndarray:
    """Inspection outcomes as 1.0 (fraud), 0.0 (clean) or NaN (not inspected).

    Parameters
    ----------
    values : array-like
        One cell per declaration: numbers 1 / 0, :data:`FRAUD_WORDS` or
        :data:`CLEAN_WORDS` in any case; empty or missing for not inspected.
    source, column : str
        Where the cells come from, for the error message.

    Raises
    ------
    DetectorError
        A cell is none of these (``2``, ``"suspected"``): never read as "not
        inspected", since a misread verdict would train or measure on the wrong rows.
        The message names the first rows and values and what is expected.
    """
    cells = pd.Series(np.asarray(values, dtype=object))
    words = cells.astype("str").str.strip().str.lower()
    empty = cells.isna().to_numpy() | (words == "").to_numpy()
    fraud, clean = words.isin(FRAUD_WORDS).to_numpy(), words.isin(CLEAN_WORDS).to_numpy()
    bad = ~(empty | fraud | clean)
    if bad.any():
        where = f"{source}, column '{column}'" if column else source
        shown = "; ".join(f"row {i + 1}: {cells[i]!r}" for i in np.flatnonzero(bad)[:SHOWN_PROBLEMS])
        raise DetectorError(f"{where}: {int(bad.sum()):,} labels are not inspection outcomes ({shown}); "
                            "expected 1 or fraud, 0 or clean, or empty (not inspected)")
    return np.where(fraud, 1.0, np.where(clean, 0.0, np.nan))
