"""Scored declarations as an Excel workbook, the file an analyst opens first.

One sheet ``scored`` holds the table as :func:`detector.io.write_table` hands it over
(Arrow, formulas already neutralised): the header row frozen and filtered, the
``reasons`` and ``errors`` cells wrapped in wide columns, each ``lane`` cell in Excel's
own red / yellow / green, and numbers, dates and booleans as such (text stays text, so
an HS code or a declaration id keeps its leading zeros). A second sheet ``about`` lists
the run metadata, one key per row.

openpyxl writes in write-only mode: rows stream into the sheet and are never held as
cell objects, so memory stays that of one chunk. The same table always gives the
same bytes: the workbook's dates and the archive entries' dates are fixed.
openpyxl is an optional dependency (``pip install "detector[excel]"``).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import zipfile
from collections.abc import Iterable, Iterator
from itertools import chain

import pyarrow as pa
import pyarrow.compute as pc

from detector.errors import OutputFileError

# Excel's specifications and limits: rows and columns of a sheet, characters of a cell.
MAX_ROWS = 1_048_576  # the header row included
MAX_COLUMNS = 16_384
MAX_CELL_CHARACTERS = 32_767
INSTALL_HINT = 'pip install "detector[excel]"'
SCORED_SHEET, ABOUT_SHEET = "scored", "about"
# Fill and text colour of Excel's built-in "Bad", "Neutral" and "Good" cell styles.
LANE_COLOURS = {"red": ("FFC7CE", "9C0006"), "yellow": ("FFEB9C", "9C5700"), "green": ("C6EFCE", "006100")}
WRAPPED_WIDTHS = {"reasons": 80, "errors": 50}  # characters
_MIN_WIDTH, _MAX_WIDTH = 8, 40
# The zip format's first date, for every entry and the workbook's own dates: the
# bytes then depend on the table only.
_FIXED_TIME = dt.datetime(1980, 1, 1)
# XML 1.0 has no place for these control characters; openpyxl refuses them.
_ILLEGAL_CHARACTERS = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"
_ILLEGAL_CHARACTERS_RE = re.compile(_ILLEGAL_CHARACTERS)
# Excel keeps 15 significant digits: a larger whole number (a long id) is written as text.
_EXACT_INTEGERS = 10**15


def require_openpyxl():
    """The openpyxl module, or an OutputFileError saying how to install it.

    Called when the output name is read, so a missing package stops a run before
    any scoring work rather than at the end of it.
    """
    try:
        import openpyxl
    except ImportError:
        raise OutputFileError(f"writing .xlsx needs the optional package openpyxl: {INSTALL_HINT} "
                              "(or write .csv or .parquet)") from None
    return openpyxl


def write_workbook(tables: Iterable[pa.Table], sink, metadata: dict | None = None, name: str = "output") -> int:
    """Write a stream of same-shaped tables as one workbook into the binary file ``sink``.

    Parameters
    ----------
    tables : iterable of pyarrow.Table
        The rows, in order; text cells a spreadsheet would run as formulas must
        already be neutralised (``detector.io`` does, as for CSV).
    sink : binary file
        Written once, at the end (an xlsx file is a zip archive).
    metadata : dict, optional
        The run metadata (``ScoreResult.metadata``), listed on the ``about`` sheet.
    name : str
        The output's name, for messages.

    Returns
    -------
    int
        The number of rows written under the header.

    Raises
    ------
    OutputFileError
        When openpyxl is missing, or the table has more rows or columns than an
        Excel sheet holds (before anything is written).
    """
    openpyxl = require_openpyxl()
    from openpyxl.utils import get_column_letter
    from openpyxl.writer.excel import ExcelWriter

    book = openpyxl.Workbook(write_only=True)
    book.properties.creator = "detector"
    book.properties.created = book.properties.modified = _FIXED_TIME
    sheet = book.create_sheet(SCORED_SHEET)
    styles = _Styles(sheet)
    rows = width = 0
    pending = iter(tables)
    try:
        for table in pending:
            rows += table.num_rows
            _check_rows(rows, pending, name)
            width = width or _start_sheet(sheet, table, styles, name)
            _append_rows(sheet, table, styles)
    except BaseException:
        if width:  # end openpyxl's row stream and its temporary file (removed when Python exits)
            sheet.close()
        raise
    if width:
        sheet.auto_filter.ref = f"A1:{get_column_letter(width)}{rows + 1}"
    if metadata:
        _write_about(book, metadata, styles)
    with _FixedTimeZip(sink, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        ExcelWriter(book, archive).save()
    return rows


def _check_rows(rows: int, pending: Iterator[pa.Table], name: str) -> None:
    if rows <= MAX_ROWS - 1:
        return
    more = " or more" if next(pending, None) is not None else ""
    raise OutputFileError(f"{name}: {rows:,} rows{more} do not fit in an Excel sheet (at most {MAX_ROWS - 1:,} "
                          "under the header); write .parquet or .csv instead, or write fewer rows")


class _Styles:
    """The few styled cells the sheet needs, made once.

    openpyxl writes a cell's style with the cell; a styled cell handed to a
    write-only sheet is written at once and can be handed over again, so the three
    lane cells serve every row. Wrapped text differs per row and needs a cell each.
    """

    def __init__(self, sheet):
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Alignment, Font, PatternFill

        self.sheet, self.cell = sheet, WriteOnlyCell
        self.wrap = Alignment(wrap_text=True, vertical="top")
        self.bold = Font(bold=True)
        self.lanes = {}
        for lane, (fill, text) in LANE_COLOURS.items():
            cell = WriteOnlyCell(sheet, value=lane)
            cell.fill = PatternFill(fill_type="solid", start_color=fill, end_color=fill)
            cell.font = Font(color=text)
            self.lanes[lane] = cell

    def header(self, sheet, names: list[str]) -> list:
        cells = [self.text(sheet, name) for name in names]
        for cell in cells:
            cell.font = self.bold
        return cells

    def text(self, sheet, value: str):
        """A cell that holds ``value`` as text whatever it starts with (openpyxl
        makes any text starting with ``=`` a formula)."""
        cell = self.cell(sheet, value=_ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)[:MAX_CELL_CHARACTERS])
        cell.data_type = "s"
        return cell

    def wrapped(self, values: list) -> list:
        # One cell per row: openpyxl has no column style that written cells take on.
        cells = [self.cell(self.sheet, value=value) if value is not None else None for value in values]
        for cell in cells:
            if cell is not None:
                cell.alignment = self.wrap
        return cells


def _start_sheet(sheet, table: pa.Table, styles: _Styles, name: str) -> int:
    """Column widths, the frozen header and the header row, from the first table."""
    from openpyxl.utils import get_column_letter

    width = table.num_columns
    if width > MAX_COLUMNS:
        raise OutputFileError(f"{name}: {width:,} columns do not fit in an Excel sheet (at most {MAX_COLUMNS:,}); "
                              "write .parquet or .csv instead")
    for number, (column_name, column) in enumerate(zip(table.column_names, table.columns), 1):
        sheet.column_dimensions[get_column_letter(number)].width = _column_width(column_name, column)
    sheet.freeze_panes = "A2"
    sheet.append(styles.header(sheet, table.column_names))
    return width


def _column_width(name: str, column: pa.ChunkedArray) -> float:
    """A width that shows the header and typical cells (wrapped columns are fixed)."""
    if name in WRAPPED_WIDTHS:
        return WRAPPED_WIDTHS[name]
    longest = len(name)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        longest = max(longest, pc.max(pc.utf8_length(column)).as_py() or 0)
    elif pa.types.is_timestamp(column.type):
        longest = max(longest, 19)
    elif pa.types.is_floating(column.type) or pa.types.is_decimal(column.type):
        longest = max(longest, 10)
    return min(max(longest, _MIN_WIDTH), _MAX_WIDTH) + 2


def _append_rows(sheet, table: pa.Table, styles: _Styles) -> None:
    """Append the table's rows; cells are made column by column, then handed over by
    row, the only way openpyxl takes them."""
    columns = [_cells(name, column, styles) for name, column in zip(table.column_names, table.columns)]
    for row in zip(*columns):
        sheet.append(row)


def _cells(name: str, column: pa.ChunkedArray, styles: _Styles) -> list:
    """One column's cell values: Python numbers, dates, text, or styled cells."""
    values = _values(column).to_pylist()
    if name == "lane":
        return [styles.lanes.get(value, value) for value in values]
    if name in WRAPPED_WIDTHS:
        return styles.wrapped(values)
    return values


def _values(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """``column`` in the types openpyxl writes as Excel values.

    Empty text becomes an empty cell; numbers Excel cannot hold (NaN, infinities)
    are left empty and whole numbers past 15 digits become text; datetimes lose their
    time zone (Excel has none: the UTC time is written) and nanoseconds.
    """
    kind = column.type
    if pa.types.is_dictionary(kind):
        return _values(column.cast(kind.value_type))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _excel_text(column)
    if pa.types.is_floating(kind):
        return pc.if_else(pc.is_finite(column), column, pa.scalar(None, kind))
    if pa.types.is_integer(kind):
        bounds = pc.min_max(column).as_py()
        big = any(bound is not None and abs(bound) >= _EXACT_INTEGERS for bound in bounds.values())
        return column.cast(pa.large_string()) if big else column
    if pa.types.is_timestamp(kind) or pa.types.is_duration(kind):
        unit = pa.timestamp("us") if pa.types.is_timestamp(kind) else pa.duration("us")
        return column.cast(unit, safe=False)
    if pa.types.is_date(kind) or pa.types.is_time(kind) or pa.types.is_boolean(kind) \
            or pa.types.is_decimal(kind) or pa.types.is_null(kind):
        return column
    return _excel_text(column.cast(pa.large_string()))


def _excel_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Text an Excel cell holds: control characters XML cannot carry become U+FFFD,
    a cell longer than Excel's limit is cut to it, an empty cell is left empty."""
    if pc.any(pc.match_substring_regex(column, _ILLEGAL_CHARACTERS)).as_py():
        column = pc.replace_substring_regex(column, _ILLEGAL_CHARACTERS, "\ufffd")
    if (pc.max(pc.utf8_length(column)).as_py() or 0) > MAX_CELL_CHARACTERS:
        column = pc.utf8_slice_codeunits(column, 0, MAX_CELL_CHARACTERS)
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, column.type), column)


def _write_about(book, metadata: dict, styles: _Styles) -> None:
    """The ``about`` sheet: the run metadata as key / value rows, nested keys dotted
    (``anomaly.mode``, ``rule_packs.1.sha256``)."""
    sheet = book.create_sheet(ABOUT_SHEET)
    sheet.column_dimensions["A"].width, sheet.column_dimensions["B"].width = 32, 80
    sheet.freeze_panes = "A2"
    sheet.append(styles.header(sheet, ["key", "value"]))
    for key, value in _about_rows(metadata):
        sheet.append([styles.text(sheet, key), _about_value(styles, sheet, value)])


def _about_rows(metadata: dict, prefix: str = "") -> Iterator[tuple[str, object]]:
    for key, value in metadata.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _about_rows(value, f"{name}.")
        elif isinstance(value, (list, tuple)) and value and all(isinstance(item, dict) for item in value):
            yield from chain.from_iterable(_about_rows(item, f"{name}.{number}.")
                                           for number, item in enumerate(value, 1))
        elif isinstance(value, (list, tuple)):
            yield name, "; ".join(map(str, value))
        elif isinstance(value, dict):
            yield name, None
        else:
            yield name, value


def _about_value(styles: _Styles, sheet, value):
    """A metadata value as a cell: numbers as numbers, anything else as text (a path
    or a reason starting with ``=`` is no formula)."""
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    return styles.text(sheet, str(value))


class _FixedTimeZip(zipfile.ZipFile):
    """A zip archive whose entries all carry one fixed date (zipfile stamps the current
    time on each), so that the same table gives the same bytes."""

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None):
        if not isinstance(zinfo_or_arcname, zipfile.ZipInfo):
            zinfo_or_arcname = self._entry(zinfo_or_arcname)
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):
        entry = self._entry(arcname or os.path.basename(filename))
        entry.file_size = os.path.getsize(filename)  # decides whether the entry needs zip64
        with open(filename, "rb") as source, self.open(entry, "w") as target:
            shutil.copyfileobj(source, target, 1 << 20)

    def _entry(self, name: str) -> zipfile.ZipInfo:
        entry = zipfile.ZipInfo(name, date_time=_FIXED_TIME.timetuple()[:6])
        entry.compress_type = self.compression
        entry.external_attr = 0o600 << 16  # what zipfile gives an entry written from bytes
        return entry
