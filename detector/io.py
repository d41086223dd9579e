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
import gzip
import io
import os
import tempfile
from collections import deque
from concurrent.futures import Executor
from contextlib import contextmanager
from itertools import islice
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from detector.errors import InputFileError
from detector.tables import first_bytes, string_buffers
from detector.threads import thread_pool, threads_for

OUTPUT_FORMATS = ("csv", "parquet", "jsonl")
_SNIFF_BYTES = 64 * 1024
# Each block becomes one chunk of every column. pyarrow's 1 MiB default gives a
# 270 MB file 270 chunks, and every later column-wise step pays a little per chunk;
# 8 MiB blocks read as fast and leave a few dozen.
_BLOCK_BYTES = 8 * 1024 * 1024
_CSV_SLICE_ROWS = 16_384  # a few MiB of text per slice: buffers the allocator reuses
_GZIP_MAGIC = b"\x1f\x8b"
_DELIMITERS = ",;\t|"
# Cells starting with these are read as formulas by spreadsheet programs (OWASP CSV
# injection); a leading apostrophe makes Excel and LibreOffice show them as text.
_FORMULA_CHARACTERS = ["=", "+", "-", "@", "\t", "\r"]
_PLAIN_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


@dataclass(frozen=True)
class ReadInfo:
    """How a file was read: its format, encoding and delimiter (CSV only)."""

    path: str
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    # Fields per data row, kept only when some row's count differs from the header's.
    field_counts: np.ndarray | None = None
    header_fields: int | None = None


def read_table(
    path: str | Path, *, delimiter: str | None = None, encoding: str | None = None
) -> tuple[pd.DataFrame, ReadInfo]:
    """Read a CSV or Parquet declarations file with every column as it was written.

    Parameters
    ----------
    path : str or Path
        ``.parquet`` / ``.pq`` files are read as Parquet, anything else as CSV
        (gzip-compressed CSV, such as ``history.csv.gz``, is read as it is).
    delimiter, encoding : str, optional
        For CSV; detected from the first 64 KiB when not given (UTF-8, UTF-8 with
        BOM, else Latin-1; one of ``, ; TAB |``).

    Returns
    -------
    (DataFrame, ReadInfo)
        CSV cells are strings, empty cells empty strings; Parquet keeps its types.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: file not found")
    if path.is_dir():
        raise InputFileError(f"{path}: is a folder, expected a CSV or Parquet file")
    if path.stat().st_size == 0:
        raise InputFileError(f"{path}: file is empty")
    if path.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(path), ReadInfo(str(path), "parquet")
    return _read_csv(path, delimiter, encoding)


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
    with path.open("rb") as handle:
        return handle.read(2) == _GZIP_MAGIC


def _open_bytes(path: Path, compressed: bool):
    """The file's bytes, decompressed when it is gzip (customs exports often are)."""
    return gzip.open(path, "rb") if compressed else path.open("rb")


def _read_csv(path: Path, delimiter: str | None, encoding: str | None):
    compressed = _is_gzip(path)
    try:
        with _open_bytes(path, compressed) as handle:
            sample = handle.read(_SNIFF_BYTES)
    except (OSError, EOFError) as exc:
        raise InputFileError(f"{path}: cannot read the file: {exc}") from exc
    if not sample:
        raise InputFileError(f"{path}: file is empty")
    detected = None if encoding else _detect_encoding(path, sample, complete=len(sample) < _SNIFF_BYTES)
    encoding = encoding or detected
    try:
        text_sample = sample.decode(encoding, errors="ignore" if encoding.startswith("utf") else "strict")
    except (LookupError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: cannot decode as {encoding}: {exc}") from exc
    text_sample = text_sample.lstrip("\ufeff")
    if not text_sample.strip():
        raise InputFileError(f"{path}: file has no header row (only blank lines)")
    lines = text_sample.splitlines()
    if len(sample) == _SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line of a partial sample may be cut
    delimiter = delimiter or _detect_delimiter(path, "\n".join(lines[:50]))
    header = [name.strip() for name in next(csv.reader([lines[0]], delimiter=delimiter))]
    _check_header(path, header)
    field_counts = None
    try:
        frame = _read_csv_arrow(path, compressed, header, delimiter, encoding)
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError, EOFError):
        # Ragged rows, stray quotes or a bad byte past the sample: the slow reader
        # keeps every row; a UTF-8 guess that proves wrong falls back to Latin-1,
        # which decodes any byte.
        try:
            frame, field_counts = _read_csv_python(path, compressed, header, delimiter, encoding)
        except UnicodeDecodeError as exc:
            if detected != "utf-8":
                raise InputFileError(f"{path}: cannot decode as {encoding} at byte {exc.start}; "
                                     "give the right --encoding") from exc
            encoding = "latin-1"
            frame, field_counts = _read_csv_python(path, compressed, header, delimiter, encoding)
    return frame, ReadInfo(str(path), "csv", encoding, delimiter, field_counts, len(header))


def _check_header(path: Path, header: list[str]) -> None:
    if not any(header):
        raise InputFileError(f"{path}: no header row (the first line has no column names)")
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise InputFileError(f"{path}: column '{name}' appears twice in the header")
        seen.add(name)


def _read_csv_arrow(path: Path, compressed: bool, names: list[str], delimiter: str,
                    encoding: str) -> pd.DataFrame:
    """Fast path: pyarrow, every column as text; raises ArrowInvalid on any ragged row."""
    source = pa.input_stream(str(path), compression="gzip" if compressed else None)
    table = pa_csv.read_csv(
        source,
        read_options=pa_csv.ReadOptions(
            column_names=names, skip_rows=1, encoding="utf8" if encoding.startswith("utf") else encoding,
            block_size=_BLOCK_BYTES,
        ),
        parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        # large_string is what pandas' string dtype holds, so the hand-over is no copy.
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.large_string() for name in names},
            strings_can_be_null=False, quoted_strings_can_be_null=False,
        ),
    )
    return table.to_pandas()


def _read_csv_python(path: Path, compressed: bool, names: list[str], delimiter: str,
                     encoding: str) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Parse any CSV, ragged rows included: short rows are padded, extra cells are kept
    in an ``extra_fields`` column so nothing the file holds is lost. Returns the table
    and, when some row is ragged, the number of fields of every row."""
    width = len(names)
    try:
        with io.TextIOWrapper(_open_bytes(path, compressed), encoding=encoding, newline="", errors="strict") as handle:
            reader = csv.reader(handle, delimiter=delimiter, strict=False)
            next(reader, None)
            records = [row for row in reader if row]
    except (OSError, EOFError) as exc:  # a truncated or corrupt gzip stream
        raise InputFileError(f"{path}: cannot read the gzip-compressed file: {exc}") from exc
    padded = [row[:width] + [""] * (width - len(row)) for row in records]
    frame = pd.DataFrame(padded, columns=names, dtype="str") if padded else pd.DataFrame(
        {name: pd.Series(dtype="str") for name in names})
    extras = [delimiter.join(row[width:]) for row in records]
    if any(extras):
        frame["extra_fields"] = pd.Series(extras, dtype="str")
    counts = np.array([len(row) for row in records], dtype=np.int64)
    return frame, (counts if (counts != width).any() else None)


# --------------------------------------------------------------------------- writing


def output_format(path: str | Path, explicit: str | None = None) -> str:
    """Choose the output format from ``explicit`` or the file extension (default CSV)."""
    if explicit:
        if explicit not in OUTPUT_FORMATS:
            raise InputFileError(f"unknown output format '{explicit}'; expected {', '.join(OUTPUT_FORMATS)}")
        return explicit
    suffix = Path(path).suffix.lower()
    return {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".json": "jsonl"}.get(suffix, "csv")


def write_table(frame: pd.DataFrame, path: str | Path, fmt: str | None = None) -> Path:
    """Write ``frame`` atomically as CSV, Parquet or JSON lines; return the path."""
    return write_chunks([frame], path, fmt)


def write_chunks(chunks: Iterable[pd.DataFrame], path: str | Path, fmt: str | None = None) -> Path:
    """Write a stream of same-shaped frames atomically as one CSV, Parquet or JSON-lines
    file, holding one chunk in memory at a time; return the path."""
    path = Path(path)
    fmt = output_format(path, fmt)
    writer = schema = None
    header_written = False
    with atomic_file(path) as temporary, open(temporary, "wb") as sink:
        try:
            for chunk in chunks:
                if fmt == "jsonl":
                    sink.write(chunk.to_json(orient="records", lines=True, date_format="iso",
                                             force_ascii=False).encode("utf-8"))
                    continue
                table = _to_arrow(chunk)
                if fmt == "csv":
                    schema = schema or table.schema
                    _write_csv_rows(table.cast(schema), sink, header=not header_written)
                    header_written = True
                    continue
                if writer is None:
                    schema = table.schema
                    writer = pq.ParquetWriter(sink, schema)
                writer.write_table(table.cast(schema))
        finally:
            if writer is not None:
                writer.close()
    return path


def _write_csv_rows(table: pa.Table, sink, header: bool) -> None:
    """Write ``table`` as formula-safe CSV, formatting slices of rows on all cores.

    pyarrow formats a table on one thread, and formatting every cell is most of the
    cost of writing; slices are independent (a row's text does not depend on other
    rows), so they are formatted side by side and written in order, with at most two
    slices per core in memory. Formulas are neutralised first, a column per task.
    """
    slices = range(0, max(table.num_rows, 1), _CSV_SLICE_ROWS)
    tasks = max(len(slices), table.num_columns)
    starts, workers = iter(slices), threads_for(tasks, rows=table.num_rows)

    def formatted(start: int) -> pa.Buffer:
        buffer = pa.BufferOutputStream()
        pa_csv.write_csv(table.slice(start, _CSV_SLICE_ROWS), buffer,
                         pa_csv.WriteOptions(include_header=header and start == 0))
        return buffer.getvalue()

    with thread_pool(tasks, rows=table.num_rows) as pool:
        table = _neutralise_formulas(table, pool)
        pending = deque(pool.submit(formatted, start) for start in islice(starts, 2 * workers))
        while pending:
            sink.write(pending.popleft().result())
            for start in islice(starts, 1):
                pending.append(pool.submit(formatted, start))


@contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """A temporary file beside ``path`` to write; it replaces ``path`` when the block
    ends normally and is removed when it raises, so no reader ever sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(handle)
    try:
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


def _to_arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


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
