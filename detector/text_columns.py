"""Column-wise text helpers shared by validation (row errors), risk (hits, reasons,
lanes) and the anomaly explanations (numbers in words).

All of them build text for up to millions of rows; a Python loop over rows would
dominate the run, so texts are joined as pyarrow list arrays in C++, repeated words
are taken from tiny arrays, and numbers are formatted by NumPy's vectorised ``%``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# How ``rule_hits`` joins the ids of the rules that hit a row: scoring writes it
# (detector.risk), the writers split it into a list for Parquet (detector.io) and the
# report reads it back (detector.report).
HIT_SEPARATOR = ";"


def text_scalar(value: str | None) -> pa.Scalar:
    """A large-string scalar: pyarrow joins texts only when all share one type."""
    return pa.scalar(value, pa.large_string())


def string_buffers(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A string array's cell boundaries and bytes, as NumPy views of its buffers.

    Returns ``(bounds, data)``: cell i is ``data[bounds[i]:bounds[i + 1]]`` (``bounds``
    has one entry more than the array has cells, slices accounted for).
    """
    offset_type = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    _validity, offsets, data = chunk.buffers()
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    if offsets is None:  # an empty array may come without buffers
        return np.zeros(1, dtype=offset_type), data
    return np.frombuffer(offsets, dtype=offset_type)[chunk.offset:chunk.offset + len(chunk) + 1], data


def first_bytes(bounds: np.ndarray, data: np.ndarray) -> np.ndarray:
    """The first byte of every cell (meaningless where a cell is empty)."""
    if not len(data):
        return np.zeros(len(bounds) - 1, dtype=np.uint8)
    # ``take`` with clipping gathers without building a clipped index first; only an
    # empty cell at the very end points past the data.
    return np.take(data, bounds[:-1], mode="clip")


def edge_bytes(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first and last byte of every cell of a string array, read from its buffers.

    Returns ``(first, last, filled)``: the bytes (meaningless where a cell is empty) and
    whether each cell has bytes at all. Whether any cell starts with a formula character
    or has spaces to trim is then a table lookup, with no copy of the text.
    """
    bounds, data = string_buffers(chunk)
    first = first_bytes(bounds, data)
    last = np.take(data, bounds[1:] - 1, mode="clip") if len(data) else first
    return first, last, bounds[1:] > bounds[:-1]


def join_texts(*parts) -> pa.Array:
    """Texts and text arrays joined row by row; a plain string repeats on every row."""
    return pc.binary_join_element_wise(*[text_scalar(p) if isinstance(p, str) else p for p in parts],
                                       text_scalar(""))


def join_per_row(rows: np.ndarray, texts: pa.Array, n_rows: int, separator: str) -> pd.Series:
    """Join ``texts[i]`` into the cell of row ``rows[i]``, in the given order.

    Parameters
    ----------
    rows : ndarray of int
        Row (0-based) of each text; texts of one row are joined in their order here.
    texts : pyarrow string array (or chunked array)
        Same length as ``rows``.
    n_rows : int
        Rows of the result; a row with no text gets ''.
    separator : str

    Returns
    -------
    Series of str, length ``n_rows``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    offsets = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_rows))]).astype(np.int64)
    values = texts.cast(pa.large_string()).take(pa.array(order))
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), values)
    joined = pc.binary_join(lists, text_scalar(separator))
    return pd.Series(joined.to_pandas(), dtype="str")


def choose_text(choices: list[str], codes: np.ndarray) -> pd.Series:
    """Row i gets ``choices[codes[i]]``, as a text Series.

    Lanes and statuses are a few words repeated a million times; taking them from a
    tiny Arrow array is a gather of offsets, where building the strings from a NumPy
    text array would convert every cell.
    """
    taken = pa.array(choices, pa.large_string()).take(pa.array(np.asarray(codes, dtype=np.int64)))
    return pd.Series(taken.to_pandas(), dtype="str")


def formatted(template: str, numbers) -> pa.Array:
    """Each number formatted with a printf-style ``template`` (``"%.1f"``), exactly as
    Python's ``%`` operator writes it, as a large-string array."""
    numbers = np.asarray(numbers)
    if not len(numbers):
        return pa.array([], pa.large_string())
    # Older pyarrow (16 to 19) cannot convert a NumPy text array straight to large
    # strings (ArrowNotImplementedError); through plain strings, the cast only widens
    # the offsets.
    return pa.array(np.char.mod(template, numbers).astype(str), pa.string()).cast(pa.large_string())


def with_thousands(digits: pa.Array) -> pa.Array:
    """Comma thousands separators in whole numbers written as digits ('1234567' ->
    '1,234,567', as ``f"{n:,}"`` writes it); text without digits, such as 'inf', is
    left as it is."""
    # Reversed, the groups of three run from the start: mark the end of each, then
    # drop the mark after the last group when the digits divide into threes.
    grouped = pc.replace_substring_regex(pc.utf8_reverse(digits), r"(\d{3})", r"\1,")
    return pc.utf8_reverse(pc.utf8_rtrim(grouped, characters=","))


def by_rank(order: np.ndarray, weight: np.ndarray, minimum: float, phrases) -> tuple[np.ndarray, list]:
    """Words for each row's strongest columns, a column at a time.

    ``order[i]`` lists row i's columns strongest first and ``weight[i, j]`` how strong
    column j is for it. ``phrases(column, rows)`` is called once per rank and column
    with the rows whose column of that rank it is and whose weight there exceeds
    ``minimum``: at most ranks x columns column-wise calls, however many rows.

    Returns the rows and the phrases ``phrases`` gave for them, both rank first, so
    each row's phrases come strongest first.
    """
    rows_of, said = [], []
    everyone = np.arange(len(order))
    for rank in range(order.shape[1] if order.ndim == 2 else 0):
        ranked = order[:, rank]
        for column in np.unique(ranked):
            chosen = np.flatnonzero((ranked == column) & (weight[everyone, ranked] > minimum))
            if len(chosen):
                rows_of.append(chosen)
                said.append(phrases(int(column), chosen))
    return (np.concatenate(rows_of) if rows_of else np.zeros(0, dtype=np.int64)), said


def column_text(table: pd.DataFrame, column: str) -> pa.Array:
    """A column as one text array, a missing cell (or column) written 'nan', as Python
    writes a missing value."""
    if column not in table:
        return pa.array(["nan"] * len(table), pa.large_string())
    text = pa.array(table[column].astype("str"), from_pandas=True).cast(pa.large_string())
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    return text.fill_null("nan")


def readable_number(values: np.ndarray) -> pa.Array:
    """'12,345' from 100 up, else three significant digits ('0.813')."""
    return pc.if_else(pa.array(values >= 100), with_thousands(formatted("%.0f", values)), formatted("%.3g", values))


# ----------------------------------------------------------------------------- report tables


def table_part(frame: pd.DataFrame, index: bool = False, float_format: str | None = None) -> pd.DataFrame:
    """``frame`` as a table of a text report: a shallow copy whose ``attrs`` say how it
    is shown, ``index`` (its index is a column of the table, such as the lane) and
    ``float_format`` (a format spec for its float columns, such as ``".3f"``).

    The command line reads the same ``attrs`` to draw the table with rich.
    """
    shown = frame.copy(deep=False)
    shown.attrs = {"index": index, "float_format": float_format}
    return shown


def table_text(table: pd.DataFrame) -> str:
    """A table as pandas writes it as text, shown as its ``attrs`` say (:func:`table_part`)."""
    spec = table.attrs.get("float_format")
    return table.to_string(index=table.attrs.get("index", False),
                           float_format=None if spec is None else (lambda v: format(v, spec)))


def parts_lines(parts: list) -> list[str]:
    """Report parts (text lines and tables) as text lines; a table is one multi-line string."""
    return [part if isinstance(part, str) else table_text(part) for part in parts]
