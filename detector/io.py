"""Reading declaration files and writing scored ones.

Reading keeps every cell as text: an HS code such as ``0101210000`` must keep its
leading zero, and a cell that is not a number must reach validation as it was typed so
the analyst sees the bad value. pyarrow parses the common case fast; a file it rejects
(ragged rows, stray quotes) is parsed again by Python's ``csv`` module, which accepts
any row, so no row is ever dropped. Writing goes to a temporary file that replaces the
target only when complete, so a failed run never leaves half a file.
"""

from __future__ import annotations

import codecs
import csv
import gc
import gzip
import io
import json
import os
import re
import shutil
import sys
import tempfile
from collections import deque
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from detector.errors import InputFileError, OutputFileError
from detector.excel import require_openpyxl, write_workbook
from detector.text_columns import HIT_SEPARATOR, first_bytes, string_buffers
from detector.threads import thread_pool, threads_for

OUTPUT_FORMATS = ("csv", "parquet", "jsonl", "xlsx")
STDOUT = "-"  # an output name meaning standard output
STDIN = "-"  # an input name meaning standard input
STDIN_NAME = "<stdin>"  # how messages name it
_FORMAT_OF_SUFFIX = {"": "csv", ".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
                     ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".xlsx": "xlsx"}
# The key of the run metadata (JSON) in a Parquet file's schema metadata.
METADATA_KEY = b"detector"
DECIMAL_MARKS = (".", ",")
_SNIFF_BYTES = 64 * 1024
_MAX_HEADER_BYTES = 64 * 1024 * 1024
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_BREAK_BYTES = re.compile(rb"[\r\n]")
# Bytes the file's encoding could not decode, as ``surrogateescape`` keeps them.
_UNDECODED = re.compile("[\udc80-\udcff]")
READ_PROBLEM_COLUMNS = ("row", "column", "value", "problem")
# An inner line of a cell with this many fields or more (as many as a header of at
# least this width) is taken for a swallowed row; narrower files rely on the quotes.
_ROW_SHAPED_MIN_FIELDS = 4
# Each block becomes one chunk of every column. pyarrow's 1 MiB default gives a
# 270 MB file 270 chunks, and every later column-wise step pays a little per chunk;
# 8 MiB blocks read as fast and leave a few dozen.
_BLOCK_BYTES = 8 * 1024 * 1024
_CSV_SLICE_ROWS = 16_384  # a few MiB of text per slice: buffers the allocator reuses
_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_DELIMITERS = ",;\t|"
# Cells starting with these are read as formulas by spreadsheet programs (OWASP CSV
# injection); a leading apostrophe makes Excel and LibreOffice show them as text.
_FORMULA_CHARACTERS = ["=", "+", "-", "@", "\t", "\r"]
_PLAIN_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


@dataclass(frozen=True)
class ReadInfo:
    """How a file was read: its format, encoding and delimiter (CSV only), and what the
    reader had to repair.

    ``problems`` lists the rows the reader could only read with a repair, one row per
    problem (``row`` 1-based, ``column``, ``value``, ``problem``): a row with more or
    fewer fields than the header, a quote that never closes, bytes that are not in
    the file's encoding. ``notes`` says the same in a line per kind, for the summary.
    """

    path: str
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    problems: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()


def read_table(
    path: str | Path, *, delimiter: str | None = None, encoding: str | None = None
) -> tuple[pd.DataFrame, ReadInfo]:
    """Read a CSV or Parquet declarations file with every column as it was written.

    Parameters
    ----------
    path : str or Path
        ``.parquet`` / ``.pq`` files are read as Parquet, anything else as CSV
        (gzip-compressed CSV, such as ``history.csv.gz``, is read as it is).
        ``-`` is standard input: CSV (gzip or not) or Parquet, told by its first
        bytes; messages name it ``<stdin>``.
    delimiter, encoding : str, optional
        For CSV; detected from the first 64 KiB when not given (UTF-8, UTF-8 with
        BOM, else Latin-1; one of ``, ; TAB |``). The encoding must write plain
        ASCII as ASCII (UTF-8, Latin-1, cp1252, GB18030, ...), not UTF-16.

    Returns
    -------
    (DataFrame, ReadInfo)
        CSV cells are strings, empty cells empty strings; Parquet keeps its types.
        Every record of the file is one row, in file order, whatever it holds.
    """
    if str(path) == STDIN:
        return _read_stdin(delimiter, encoding)
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: file not found")
    if path.is_dir():
        raise InputFileError(f"{path}: is a folder, expected a CSV or Parquet file")
    if path.is_file() and path.stat().st_size == 0:
        raise InputFileError(f"{path}: file is empty")
    if path.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(path), ReadInfo(str(path), "parquet")
    return _read_csv(path, _delimiter_option(delimiter), _encoding_option(path, encoding))


def _read_stdin(delimiter: str | None, encoding: str | None) -> tuple[pd.DataFrame, ReadInfo]:
    """Read standard input as a file: it is copied to a temporary file first, since
    detecting the encoding and delimiter reads the start twice and a pipe cannot
    seek; the copy is removed once read."""
    if sys.stdin is None or sys.stdin.isatty():
        raise InputFileError(f"{STDIN_NAME}: nothing is piped in; give a file name, or pipe a file "
                             "(detector score - < declarations.csv)")
    with tempfile.TemporaryDirectory(prefix="detector-stdin-") as folder:
        spooled = Path(folder) / "stdin"
        try:
            with open(spooled, "wb") as handle:
                shutil.copyfileobj(sys.stdin.buffer, handle, _BLOCK_BYTES)
        except OSError as exc:  # a full or read-only temporary folder
            raise InputFileError(f"{STDIN_NAME}: cannot copy standard input to {folder}: {exc.strerror or exc}; "
                                 "set TMPDIR to a folder with room, or give a file name") from None
        try:
            if _starts_with(spooled, _PARQUET_MAGIC):
                frame, info = _read_parquet(spooled), ReadInfo(STDIN_NAME, "parquet")
            else:
                frame, info = read_table(spooled, delimiter=delimiter, encoding=encoding)
        except InputFileError as exc:
            raise InputFileError(str(exc).replace(str(spooled), STDIN_NAME)) from None
    return frame, replace(info, path=STDIN_NAME)


def _starts_with(path: Path, magic: bytes) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(magic)) == magic


def _delimiter_option(delimiter: str | None) -> str | None:
    """The one-character delimiter asked for (``\\t`` and ``tab`` mean TAB)."""
    if delimiter is None:
        return None
    if delimiter.lower() in ("\\t", "tab"):
        return "\t"
    if len(delimiter) != 1 or delimiter in '"\r\n':
        raise InputFileError(f"delimiter {delimiter!r}: give one character such as , ; | or TAB "
                             "(not a quote or a line break)")
    return delimiter


def _encoding_option(path: Path, encoding: str | None) -> str | None:
    """Check an encoding asked for: known, and writing ASCII as ASCII, which the
    delimiter and quote detection rely on (UTF-16 and UTF-32 do not)."""
    if encoding is None:
        return None
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise InputFileError(f"{path}: unknown encoding {encoding!r}; give e.g. utf-8, latin-1 or cp1252") from None
    if "a,\n".encode(name, errors="replace") != b"a,\n":
        raise InputFileError(f"{path}: encoding {encoding!r} is not supported (it does not write ASCII as "
                             "ASCII); save the file as UTF-8 CSV")
    return encoding


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputFileError(f"{path}: not a readable Parquet file: {exc}") from exc
    if table.num_columns == 0:
        raise InputFileError(f"{path}: Parquet file has no columns")
    return table.to_pandas()


def _detect_encoding(path: Path, sample: bytes, complete: bool) -> str:
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in sample:
        raise InputFileError(
            f"{path}: unreadable encoding (UTF-16 or binary data); save the file as UTF-8 CSV"
        )
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        # A partial sample may end inside a multi-byte character: decode incrementally.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete)
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def _detect_delimiter(path: Path, first_lines: str) -> str:
    header = first_lines.splitlines()[0] if first_lines.strip() else ""
    if not header.strip():
        raise InputFileError(f"{path}: no header row (the first line is empty)")
    try:
        return csv.Sniffer().sniff(first_lines, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        counts = {d: header.count(d) for d in _DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def _is_gzip(path: Path) -> bool:
    return _starts_with(path, _GZIP_MAGIC)


def _open_bytes(path: Path, compressed: bool):
    """The file's bytes, decompressed when it is gzip (customs exports often are)."""
    return gzip.open(path, "rb") if compressed else path.open("rb")


def _read_head(path: Path, compressed: bool) -> tuple[bytes, bool]:
    """The first 64 KiB of the file, read on to the end of the header line when the
    header is longer (files with thousands of columns); and whether that is all."""
    try:
        with _open_bytes(path, compressed) as handle:
            head = bytearray(handle.read(_SNIFF_BYTES))
            complete = len(head) < _SNIFF_BYTES
            while not complete and not _LINE_BREAK_BYTES.search(head):
                if len(head) >= _MAX_HEADER_BYTES:
                    raise InputFileError(f"{path}: the header row is longer than "
                                         f"{_MAX_HEADER_BYTES >> 20} MiB; is this a CSV file?")
                more = handle.read(_SNIFF_BYTES)
                head += more
                complete = len(more) < _SNIFF_BYTES
    except (OSError, EOFError) as exc:
        raise InputFileError(f"{path}: cannot read the file: {exc}") from exc
    return bytes(head), complete


def read_columns(path: str | Path, *, delimiter: str | None = None, encoding: str | None = None) -> list[str]:
    """The column names of a CSV or Parquet file, read from its header alone.

    What a command needs to tell a scored file from declarations before reading the
    whole of it; the same checks and messages as :func:`read_table` (missing, empty
    or folder, no header, a name twice). Not for standard input, which can be read
    once only: read it with :func:`read_table`.
    """
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return list(read_table(path)[0].columns)  # raises read_table's own message
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            return list(pq.read_schema(path).names)
        except (pa.ArrowException, OSError) as exc:
            raise InputFileError(f"{path}: not a readable Parquet file: {exc}") from None
    return _csv_header(path, _delimiter_option(delimiter), _encoding_option(path, encoding))[1]


def _csv_header(path: Path, delimiter: str | None, encoding: str | None) -> tuple[bool, list[str], str, str]:
    """Whether the file is gzip-compressed, its header, delimiter and encoding (given
    or detected from the first 64 KiB)."""
    compressed = _is_gzip(path)
    sample, complete = _read_head(path, compressed)
    if not sample:
        raise InputFileError(f"{path}: file is empty")
    detected = None if encoding else _detect_encoding(path, sample, complete=complete)
    encoding = encoding or detected
    text_sample = sample.decode(encoding, errors="ignore").lstrip("\ufeff")
    if not text_sample.strip():
        raise InputFileError(f"{path}: file has no header row (only blank lines)")
    lines = _LINE_BREAK.split(text_sample)
    if not complete and len(lines) > 1:
        lines = lines[:-1]  # the last line of a partial sample may be cut
    delimiter = delimiter or _detect_delimiter(path, "\n".join(lines[:50]))
    header = [name.strip() for name in next(csv.reader([lines[0]], delimiter=delimiter))]
    _check_header(path, header)
    return compressed, header, delimiter, encoding


def _read_csv(path: Path, delimiter: str | None, encoding: str | None):
    compressed, header, delimiter, encoding = _csv_header(path, delimiter, encoding)
    try:
        frame = _read_csv_arrow(path, compressed, header, delimiter, encoding)
        problems = notes = None
    except (_NeedsRecordReader, pa.ArrowInvalid, UnicodeDecodeError, OSError, EOFError):
        # Ragged rows, stray or unclosed quotes, cells over several lines, a byte
        # that is not in the encoding: the record reader keeps every row and says
        # what it repaired.
        frame, problems, notes = _read_csv_records(path, compressed, header, delimiter, encoding)
    return frame, ReadInfo(str(path), "csv", encoding, delimiter, problems, notes or ())


def _check_header(path: Path, header: list[str]) -> None:
    if not any(header):
        raise InputFileError(f"{path}: no header row (the first line has no column names)")
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise InputFileError(f"{path}: column '{name}' appears twice in the header")
        seen.add(name)


class _NeedsRecordReader(Exception):
    """The fast reader's table may have merged rows: read the file record by record."""


def _read_csv_arrow(path: Path, compressed: bool, names: list[str], delimiter: str,
                    encoding: str) -> pd.DataFrame:
    """Fast path: pyarrow, every column as text.

    pyarrow raises ArrowInvalid on a ragged row, but a quote that never closes makes it
    read every following line into that one cell, as long as the field counts work
    out. So when some cell holds a line break (a byte scan of the table's own buffers,
    at memory speed), the file goes to the record reader, which tells a cell over
    several lines from rows swallowed by a stray quote.
    """
    source = pa.input_stream(str(path), compression="gzip" if compressed else None)
    table = pa_csv.read_csv(
        source,
        read_options=pa_csv.ReadOptions(
            column_names=names, skip_rows=1,
            encoding="utf8" if encoding.startswith("utf") else encoding,
            block_size=_BLOCK_BYTES,
        ),
        parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        # large_string is what pandas' string dtype holds, so the hand-over is no copy.
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.large_string() for name in names},
            strings_can_be_null=False, quoted_strings_can_be_null=False,
        ),
    )
    if _holds_line_breaks(table):
        raise _NeedsRecordReader
    return table.to_pandas()


def _holds_line_breaks(table: pa.Table) -> bool:
    """Whether any cell holds a newline or carriage return, read from the bytes."""
    for column in table.columns:
        for chunk in column.chunks:
            bounds, data = string_buffers(chunk)
            cells = data[bounds[0]:bounds[-1]] if len(bounds) else data[:0]
            if len(cells) and ((cells == 10).any() or (cells == 13).any()):
                return True
    return False


def _read_csv_records(path: Path, compressed: bool, names: list[str], delimiter: str,
                      encoding: str) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Read any CSV record by record, keeping every row and saying what was repaired.

    - A row with fewer fields than the header is padded; extra fields are kept, joined,
      in an ``extra_fields`` column (an input column of that name becomes
      ``extra_fields_input``).
    - A quote that never closes would swallow the following lines into one cell; a
      cell over several lines is kept when a writer quoted it properly, and otherwise
      (see :func:`_swallows_rows`) read to the end of its own line, the next line
      starting a row of its own.
    - Bytes the encoding cannot decode (a Latin-1 name in a UTF-8 file) are read as
      Latin-1 in that cell alone; the rest of the file keeps its encoding.
    """
    width = len(names)
    text = _decoded_text(path, compressed, encoding)
    undecoded = _UNDECODED.search(text) is not None
    with _no_cycle_collection():
        lines = io.StringIO(text, newline="").readlines()[1:]
        del text  # the lines and then the records hold it; keep one copy at a time
        records, unclosed = _records(lines, delimiter, width)
        del lines
        counts = np.fromiter(map(len, records), dtype=np.int64, count=len(records))
        extras = [delimiter.join(records[i][width:]) for i in np.flatnonzero(counts > width)]
        columns = _columns_of(records, counts, width)
    problems = [_ragged_problems(counts, width), _unclosed_problems(records, unclosed, names, width)]
    del records
    notes = []
    if undecoded:
        columns, latin1 = _latin1_cells(columns, names, encoding)
        problems.append(latin1)
        notes.append(f"{len(latin1)} cell(s) with bytes that are not {encoding}: read as Latin-1 in that "
                     "cell alone (see errors)")
    frame = _text_frame(names, columns)
    if any(extras):
        if "extra_fields" in frame.columns:
            frame = frame.rename(columns={"extra_fields": unclashing_name("extra_fields", frame.columns)})
            notes.append("input column extra_fields renamed extra_fields_input: extra_fields holds the cells "
                         "of rows longer than the header")
        spilled = np.full(len(counts), "", dtype=object)
        spilled[counts > width] = extras
        frame["extra_fields"] = _text_frame(["extra_fields"], [spilled])["extra_fields"]
    if unclosed:
        notes.append(f"{len(unclosed)} row(s) with a quote that never closes: read to the end of the line, "
                     "the following lines as rows of their own (see errors)")
    ragged = int((counts != width).sum())
    if ragged:
        notes.append(f"{ragged} row(s) with more or fewer fields than the header (see errors)")
    found = pd.concat(problems, ignore_index=True).sort_values("row", kind="stable").reset_index(drop=True)
    return frame, found, notes


@contextmanager
def _no_cycle_collection():
    """Pause Python's cycle collector while millions of row lists are built: they hold
    only strings, so no cycle can form, and the collector would otherwise walk all of
    them again and again (half the time of reading a million ragged rows)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _columns_of(records: list[list[str]], counts: np.ndarray, width: int) -> list:
    """The records' cells column by column, short rows padded with empty cells and
    extra cells left out; the transposition itself runs in C (``zip``)."""
    if len(records) and not (counts == width).all():
        records = [row if len(row) == width else (row + [""] * (width - len(row)))[:width] for row in records]
    return list(zip(*records)) if len(records) else [()] * width


def _text_frame(names: list[str], columns) -> pd.DataFrame:
    """Columns of Python strings as a table of pandas' Arrow-backed text, built by
    Arrow straight from the strings (no object array in between)."""
    table = pa.table({name: pa.array(values, type=pa.large_string()) for name, values in zip(names, columns)})
    return table.to_pandas()


def _decoded_text(path: Path, compressed: bool, encoding: str) -> str:
    """The whole file as text; bytes the encoding cannot decode are kept as lone
    surrogates (``surrogateescape``) so that only their cells need a second look."""
    try:
        with _open_bytes(path, compressed) as handle:
            data = handle.read()
    except (OSError, EOFError) as exc:  # a truncated or corrupt gzip stream
        raise InputFileError(f"{path}: cannot read the gzip-compressed file: {exc}") from exc
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return data.decode(encoding, errors="surrogateescape")


class _Lines:
    """The physical lines of a file, fed to ``csv.reader`` one at a time; the position
    can be set back so that lines a stray quote swallowed are read again as rows."""

    def __init__(self, lines: list[str]):
        self.lines, self.position = lines, 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self.position >= len(self.lines):
            raise StopIteration
        self.position += 1
        return self.lines[self.position - 1]


def _records(lines: list[str], delimiter: str, width: int) -> tuple[list[list[str]], list[int]]:
    """Parse lines into records; return them and the records whose quote never closed."""
    source = _Lines(lines)
    reader = csv.reader(source, delimiter=delimiter, strict=False)
    records: list[list[str]] = []
    unclosed: list[int] = []
    start = 0
    for record in reader:
        end = source.position
        if end - start > 1 and _swallows_rows(lines, start + 1, end, delimiter, width):
            record = _fields_of_line(lines[start], delimiter)
            unclosed.append(len(records))
            source.position = end = start + 1
        if record:  # a blank line is no row (pyarrow skips them too)
            records.append(record)
        start = end
    return records, unclosed


def _fields_of_line(line: str, delimiter: str) -> list[str]:
    """One physical line's fields, an open quote running to the end of the line."""
    return next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter, strict=False), [])


def _swallows_rows(lines: list[str], first: int, end: int, delimiter: str, width: int) -> bool:
    """Whether the record on ``lines[first - 1:end]`` (several lines) is a stray quote
    that swallowed rows rather than a cell over several lines.

    A cell over several lines that a CSV writer quoted closes its quote before a
    delimiter or the end of a line, and its inner lines are text. A quote that never
    closes either runs to the end of the file or is "closed" by the opening quote of a
    later cell (followed by that cell's text), which the strict parser refuses; and
    the rows it swallowed are inner lines with as many fields as the header.
    """
    try:
        list(csv.reader(lines[first - 1:end], delimiter=delimiter, strict=True))
    except csv.Error:
        return True
    return width >= _ROW_SHAPED_MIN_FIELDS and any(
        len(_fields_of_line(lines[i], delimiter)) >= width for i in range(first, end - 1))


def _problem_frame(rows, column, value, problem) -> pd.DataFrame:
    return pd.DataFrame({"row": np.asarray(rows, dtype=np.int64) + 1, "column": column, "value": value,
                         "problem": problem}, columns=READ_PROBLEM_COLUMNS)


def _ragged_problems(counts: np.ndarray, width: int) -> pd.DataFrame:
    rows = np.flatnonzero(counts != width)
    return _problem_frame(rows, "(row)", counts[rows].astype(str), f"expected {width} fields as in the header")


def _unclosed_problems(records, unclosed: list[int], names: list[str], width: int) -> pd.DataFrame:
    cells = [min(len(records[i]), width) - 1 for i in unclosed]
    return _problem_frame(
        unclosed, [names[c] if len(records[i]) <= width else "extra_fields" for i, c in zip(unclosed, cells)],
        [records[i][-1] if records[i] else "" for i in unclosed],
        "a quote opens in this cell and never closes: read to the end of its line, "
        "the next lines as rows of their own")


def _latin1_cells(columns: list[list[str]], names: list[str], encoding: str):
    """Read the bytes ``encoding`` could not decode as Latin-1, cell by cell, and list
    those cells; every other character keeps the file's encoding."""
    fixed, parts = [], []
    for name, values in zip(names, columns):
        series = pd.Series(values, dtype=object)
        bad = np.flatnonzero(series.str.contains(_UNDECODED.pattern, regex=True).to_numpy(dtype=bool))
        if len(bad):
            repaired = series.iloc[bad].str.replace(_UNDECODED.pattern, _as_latin1, regex=True)
            series.iloc[bad] = repaired
            parts.append(_problem_frame(bad, name, repaired.to_numpy(),
                                        f"bytes that are not {encoding}, read as Latin-1: check the text"))
        fixed.append(series.tolist() if len(bad) else values)
    return fixed, pd.concat(parts, ignore_index=True)


def _as_latin1(match: re.Match) -> str:
    """A byte kept by ``surrogateescape`` (U+DC80..U+DCFF), read as Latin-1."""
    return chr(ord(match.group()) - 0xDC00)


def unclashing_name(name: str, taken) -> str:
    """``<name>_input`` (or ``_input2``, ...): the new name of an input column whose
    name the detector needs for a column of its own, so both are kept."""
    taken = set(taken)
    candidate, number = f"{name}_input", 2
    while candidate in taken:
        candidate, number = f"{name}_input{number}", number + 1
    return candidate


# --------------------------------------------------------------------------- writing


def output_format(path: str | Path, explicit: str | None = None) -> str:
    """Choose the output format from ``explicit`` or the file extension.

    A name without an extension (or ``-``, standard output) is CSV; an extension that
    is none of the formats (``out.xls``, ``out.csv.gz``) is an error rather than a
    CSV file under a name that promises something else. Excel output needs openpyxl:
    its absence is said here, before any work.
    """
    if explicit:
        if explicit not in OUTPUT_FORMATS:
            raise OutputFileError(f"unknown output format '{explicit}'; expected {', '.join(OUTPUT_FORMATS)}")
        fmt = explicit
    else:
        suffix = "" if str(path) == STDOUT else Path(path).suffix.lower()
        if suffix not in _FORMAT_OF_SUFFIX:
            raise OutputFileError(f"{path}: unknown output extension '{suffix}'; name the file .csv, .parquet, "
                                  f".jsonl or .xlsx, or give the format (--format {'|'.join(OUTPUT_FORMATS)})")
        fmt = _FORMAT_OF_SUFFIX[suffix]
    if fmt == "xlsx":
        require_openpyxl()
    return fmt


def refuse_overwriting(output: str | Path, *inputs: str | Path | None) -> None:
    """Raise when ``output`` is one of the files the run reads (the declarations, a
    model, a mapping, the outcome database), whatever the names: a symlink or a hard
    link to the input is the same file."""
    for source in inputs:
        if source is not None and same_file(output, source):
            raise OutputFileError(f"{output}: is the same file as the input {source}; choose another output "
                                  "so that the input is not overwritten")


def same_file(path: str | Path, other: str | Path) -> bool:
    """Whether two names reach the same file (same device and inode: through a relative
    path, a symlink, a symlinked folder or a hard link); False when either is missing
    or is standard output."""
    if STDOUT in (str(path), str(other)):
        return False
    try:
        return os.path.samefile(path, other)
    except OSError:
        return False


def write_table(frame: pd.DataFrame, path: str | Path, fmt: str | None = None, metadata: dict | None = None,
                *, excel_csv: bool = False, decimal: str = ".") -> Path:
    """Write ``frame`` atomically as CSV, Parquet, JSON lines or an Excel workbook;
    return the path (see :func:`write_chunks` for the options)."""
    return write_chunks([frame], path, fmt, metadata, excel_csv=excel_csv, decimal=decimal)


def write_chunks(chunks: Iterable[pd.DataFrame], path: str | Path, fmt: str | None = None,
                 metadata: dict | None = None, *, excel_csv: bool = False, decimal: str = ".") -> Path:
    """Write a stream of same-shaped frames as one file, holding one chunk in memory at
    a time; return the path (see :func:`output_file` for where and how the bytes go).

    Parameters
    ----------
    chunks : iterable of DataFrame
    path : str or Path
        ``-`` is standard output (any format; Parquet and Excel are binary).
    fmt : {"csv", "parquet", "jsonl", "xlsx"}, optional
        From the name's extension when not given (see :func:`output_format`).
    metadata : dict, optional
        The run metadata (``ScoreResult.metadata``, JSON-serialisable). Parquet keeps
        it as JSON under the schema metadata key ``b"detector"`` (see
        :func:`read_metadata`), Excel on its ``about`` sheet; CSV and JSON lines
        have no place for it.
    excel_csv : bool
        CSV only: start the file with a UTF-8 byte order mark, without which Excel on
        Windows reads UTF-8 as the local code page (``Société`` shows as ``SociÃ©tÃ©``).
    decimal : {".", ","}
        CSV only: the decimal mark of numbers. ``","`` is what Excel expects in a
        comma-decimal locale (most of Europe); Excel there also splits a CSV file on
        the list separator ``;``, so the file is written with ``;`` between fields.
        Text cells are written as they are.

    Parquet keeps the column types: numbers, whole numbers (nullable ones too) and
    dates as such, and ``rule_hits`` as a list of rule ids per row.
    """
    fmt = output_format(path, fmt)
    _check_csv_options(fmt, excel_csv, decimal)
    if str(path) == STDOUT and fmt in ("parquet", "xlsx") and sys.stdout.isatty():
        raise OutputFileError(f"{fmt} output is binary and standard output is a terminal; redirect it "
                              f"(> scored.{fmt}) or give a file name (-o scored.{fmt})")
    frames = (_writable(chunk) for chunk in chunks)
    with output_file(path) as sink:
        if fmt == "csv":
            _write_csv(frames, sink, excel_csv, decimal)
        elif fmt == "parquet":
            _write_parquet(frames, sink, metadata)
        elif fmt == "jsonl":
            _write_jsonl(frames, sink)
        else:
            write_workbook((_neutralise_formulas(_to_arrow(frame)) for frame in frames), sink, metadata,
                           name=str(path))
    return Path(path)


def _check_csv_options(fmt: str, excel_csv: bool, decimal: str) -> None:
    if decimal not in DECIMAL_MARKS:
        raise OutputFileError(f"decimal mark {decimal!r}: give . or ,")
    if fmt != "csv" and (excel_csv or decimal != "."):
        raise OutputFileError(f"the Excel CSV options (byte order mark, decimal comma) are for CSV output, not "
                              f"{fmt}; {fmt} files keep numbers as numbers")


def _write_csv(frames: Iterable[pd.DataFrame], sink, excel_csv: bool, decimal: str) -> None:
    schema = None
    for frame in frames:
        table = _to_arrow(frame)
        if schema is None and excel_csv:
            sink.write(codecs.BOM_UTF8)
        header = schema is None
        schema = schema or table.schema
        _write_csv_rows(table.cast(schema), sink, header=header, decimal=decimal)


def _write_jsonl(frames: Iterable[pd.DataFrame], sink) -> None:
    for frame in frames:
        # 15 significant digits (pandas' most) rather than its default 10, so
        # numbers of a Parquet input come out as they went in.
        sink.write(frame.to_json(orient="records", lines=True, date_format="iso", force_ascii=False,
                                 double_precision=15).encode("utf-8"))


def _write_parquet(frames: Iterable[pd.DataFrame], sink, metadata: dict | None) -> None:
    writer = schema = None
    try:
        for frame in frames:
            table = _parquet_table(_to_arrow(frame), metadata)
            if writer is None:
                schema = table.schema
                writer = pq.ParquetWriter(sink, schema)
            writer.write_table(table.cast(schema))
    finally:
        if writer is not None:
            writer.close()


def _parquet_table(table: pa.Table, metadata: dict | None) -> pa.Table:
    """``table`` as Parquet keeps it: ``rule_hits`` as a list of ids, the run
    metadata as JSON in the schema metadata."""
    stored = dict(table.schema.metadata or {})
    if "rule_hits" in table.column_names and _is_text(table.column("rule_hits").type):
        table = table.set_column(table.column_names.index("rule_hits"), "rule_hits",
                                 _hit_lists(table.column("rule_hits")))
        if b"pandas" in stored:
            stored[b"pandas"] = _pandas_list_column(stored[b"pandas"], "rule_hits")
    if metadata is not None:
        stored[METADATA_KEY] = json.dumps(metadata, ensure_ascii=False).encode()
    return table.replace_schema_metadata(stored)


def _pandas_list_column(pandas_metadata: bytes, name: str) -> bytes:
    """pandas' description of the frame with column ``name`` now a list of text (as
    pyarrow writes for one); left saying "str", reading the file back with pandas
    fails (no cast from a list to text)."""
    described = json.loads(pandas_metadata)
    for column in described["columns"]:
        if column["name"] == name:
            column.update(pandas_type="list[unicode]", numpy_type="object", metadata=None)
    return json.dumps(described).encode()


def _hit_lists(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """``"A;B"`` -> ``["A", "B"]``, an empty (or null) cell -> ``[]``: built from the
    split values and offsets, without a list per row in Python."""
    lists = []
    for chunk in column.chunks:
        split = pc.split_pattern(chunk.cast(pa.string()), HIT_SEPARATOR)
        values = pc.list_flatten(split)
        kept = pc.not_equal(values, "").fill_null(False)
        rows = pc.list_parent_indices(split).filter(kept).to_numpy()
        offsets = np.zeros(len(split) + 1, dtype=np.int32)
        np.cumsum(np.bincount(rows, minlength=len(split)), out=offsets[1:])
        lists.append(pa.ListArray.from_arrays(pa.array(offsets), values.filter(kept)))
    return pa.chunked_array(lists, pa.list_(pa.string()))


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def read_metadata(path: str | Path) -> dict | None:
    """The run metadata a scored Parquet file carries (see :func:`write_chunks`), or
    None when it has none (written without it, or by another program)."""
    try:
        stored = pq.read_schema(path).metadata or {}
    except (pa.ArrowException, OSError) as exc:
        raise InputFileError(f"{path}: not a readable Parquet file: {exc}") from exc
    if METADATA_KEY not in stored:
        return None
    try:
        return json.loads(stored[METADATA_KEY])
    except ValueError as exc:
        raise InputFileError(f"{path}: the detector metadata is not valid JSON: {exc}") from exc


@contextmanager
def output_file(path: str | Path) -> Iterator:
    """A binary file to write an output into, without ever replacing what is not a
    regular file.

    - ``-`` is standard output.
    - A device or a FIFO (``/dev/null``, a named pipe) is written straight into: it
      is where the user wants the bytes, and renaming a file over it would destroy it.
    - A symlink is followed: its target is written, the link stays.
    - A regular file, or a new name, is written through :func:`atomic_file`, so a
      failed run leaves the old file (or nothing) and never half a file.
    """
    if str(path) == STDOUT:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = _write_target(Path(path))
    if target.exists() and not target.is_file():
        with _output_errors(path), open(target, "wb") as handle:
            yield handle
        return
    with atomic_file(target) as temporary, open(temporary, "wb") as handle:
        yield handle


def _write_target(path: Path) -> Path:
    """Where writing ``path`` lands: the target of a symlink; a folder is refused."""
    target = path.resolve() if path.is_symlink() else path
    if target.is_dir():
        raise OutputFileError(f"{path}: is a folder; give a file name for the output")
    return target


@contextmanager
def _output_errors(path: str | Path):
    """A full disk, a missing permission or a read-only file system while writing
    becomes one line naming the output."""
    try:
        yield
    except OSError as exc:
        raise OutputFileError(f"{path}: cannot write: {exc.strerror or exc}; nothing was written") from exc


def _write_csv_rows(table: pa.Table, sink, header: bool, decimal: str = ".") -> None:
    """Write ``table`` as formula-safe CSV, formatting slices of rows on all cores.

    pyarrow formats a table on one thread, and formatting every cell is most of the
    cost of writing; slices are independent (a row's text does not depend on other
    rows), so they are formatted side by side and written in order, with at most two
    slices per core in memory. Formulas are neutralised first, a column per task;
    with a decimal comma, numbers are formatted after that (``-0,5`` is a number).
    """
    slices = range(0, max(table.num_rows, 1), _CSV_SLICE_ROWS)
    tasks = max(len(slices), table.num_columns)
    starts, workers = iter(slices), threads_for(tasks, rows=table.num_rows)
    delimiter = ";" if decimal == "," else ","

    def formatted(start: int) -> pa.Buffer:
        buffer = pa.BufferOutputStream()
        pa_csv.write_csv(table.slice(start, _CSV_SLICE_ROWS), buffer,
                         pa_csv.WriteOptions(include_header=header and start == 0, delimiter=delimiter))
        return buffer.getvalue()

    with thread_pool(tasks, rows=table.num_rows) as pool:
        table = _neutralise_formulas(table, pool)
        if decimal == ",":
            table = _decimal_comma(table)
        pending = deque(pool.submit(formatted, start) for start in islice(starts, 2 * workers))
        while pending:
            sink.write(pending.popleft().result())
            for start in islice(starts, 1):
                pending.append(pool.submit(formatted, start))


@contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """A temporary file beside ``path`` to write; it replaces ``path`` when the block
    ends normally and is removed when it raises, so no reader ever sees half a file.

    Only a regular file (or a new name) is replaced: a symlink's target is written
    and the link kept; a folder, a device or a FIFO is refused, never renamed over.
    """
    path = _write_target(Path(path))
    if path.exists() and not path.is_file():
        raise OutputFileError(f"{path}: is not a regular file (a device, pipe or socket); give a file name")
    with _output_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(handle)
    try:
        with _output_errors(path):
            yield Path(temporary)
            os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private; give it the usual mode
            os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _writable(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every input column one every output format can hold.

    A Parquet input may pass through columns of lists, records, maps or raw bytes that
    no rule reads; CSV has no lists and JSON no bytes. Such a column is written as the
    text of each cell (bytes decoded as UTF-8, other bytes as ``\\xNN``), the same
    in every format. Only columns of Python objects are looked at. The lists of
    ``rule_hits`` that a scored Parquet file holds are joined as the scorer joins them
    (``A;B``), so a scored file read back writes as it was scored.
    """
    converted = {name: (_hits_as_text if name == "rule_hits" else _cells_as_text)(frame[name])
                 for name in frame.columns if frame[name].dtype == object and _needs_text(frame[name])}
    return frame.assign(**converted) if converted else frame


def _hits_as_text(column: pd.Series) -> pd.Series:
    hits = pa.array(column, from_pandas=True)
    if not (pa.types.is_list(hits.type) or pa.types.is_large_list(hits.type)) or not _is_text(hits.type.value_type):
        return _cells_as_text(column)
    joined = pc.binary_join(hits, HIT_SEPARATOR).fill_null("")
    return pd.Series(pd.array(joined.cast(pa.large_string()), dtype="str"), index=column.index)


def _needs_text(column: pd.Series) -> bool:
    try:
        kind = pa.array(column, from_pandas=True).type
    except (pa.ArrowException, TypeError, ValueError):
        return True
    return pa.types.is_nested(kind) or pa.types.is_binary(kind) or pa.types.is_large_binary(kind) \
        or pa.types.is_fixed_size_binary(kind)


def _cells_as_text(column: pd.Series) -> pd.Series:
    codes, distinct = pd.factorize(column.map(lambda cell: cell.tolist() if isinstance(cell, np.ndarray) else cell)
                                   .map(lambda cell: cell if cell is None or isinstance(cell, (bytes, str))
                                        else repr(cell)))
    texts = [value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value for value in distinct]
    return pd.Series(pd.array(texts + [""], dtype="str").take(codes), index=column.index)


def _to_arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def _decimal_comma(table: pa.Table) -> pa.Table:
    """``table`` with its fractional numbers as text with a decimal comma (``0,15``),
    formatted as the CSV writer formats them; whole numbers have no decimal mark and
    stay numbers. (The writer then quotes these cells as it quotes text; Excel and
    pandas read a quoted number as a number.)"""
    columns = [pc.replace_substring(column.cast(pa.string()), ".", ",")
               if pa.types.is_floating(column.type) or pa.types.is_decimal(column.type) else column
               for column in table.columns]
    return pa.table(columns, names=table.column_names)


def _neutralise_formulas(table: pa.Table, pool: Executor | None = None) -> pa.Table:
    """Prefix text cells that a spreadsheet would run as a formula with an apostrophe.

    Plain numbers such as ``-12.5`` are left alone: they are values, not formulas. The
    first byte of every cell is read straight from the Arrow buffers, so only the few
    cells that start with a risky character pay for the number check, and only a
    column that really holds a formula is rewritten. Columns are independent: with a
    ``pool`` they are checked side by side.
    """
    columns = list((pool.map if pool else map)(_neutralise_column, table.columns))
    return pa.table(columns, names=table.column_names)


def _neutralise_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return column
    candidates = _formula_candidates(column)
    if not len(candidates):
        return column
    values = column.take(pa.array(candidates))
    # A null cell may keep bytes behind it; it is no formula.
    plain = pc.match_substring_regex(values, _PLAIN_NUMBER).fill_null(True)
    formulas = candidates[~plain.to_numpy(zero_copy_only=False)]
    if not len(formulas):
        return column
    risky = np.zeros(len(column), dtype=bool)
    risky[formulas] = True
    quote, empty = pa.scalar("'", column.type), pa.scalar("", column.type)
    return pc.if_else(pa.array(risky), pc.binary_join_element_wise(quote, column, empty), column)


_RISKY_BYTE = np.zeros(256, dtype=bool)
_RISKY_BYTE[np.frombuffer("".join(_FORMULA_CHARACTERS).encode(), dtype=np.uint8)] = True


def _formula_candidates(column: pa.ChunkedArray) -> np.ndarray:
    """Positions of the non-empty cells that start with a formula character.

    Only the first byte of each cell is read, straight from the Arrow buffers; a
    column without such a cell costs one gather. Null cells usually have no bytes;
    when they do, the caller treats them as plain.
    """
    parts, start = [], 0
    for chunk in column.chunks:
        bounds, data = string_buffers(chunk)
        found = np.flatnonzero(np.take(_RISKY_BYTE, first_bytes(bounds, data)))
        parts.append(found[bounds[found + 1] > bounds[found]] + start)
        start += len(chunk)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
