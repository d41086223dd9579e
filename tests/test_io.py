import csv
import io
import os
import re

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import detector.io
from detector.errors import InputFileError
from detector.io import read_columns, read_table, write_chunks, write_table


def test_reads_every_cell_as_text_keeping_leading_zeros(write_csv):
    frame, info = read_table(write_csv("declaration_id,hs_code,gross_weight_kg\n1,0101210000,12.50\n"))
    assert frame["hs_code"].tolist() == ["0101210000"]
    assert frame["gross_weight_kg"].tolist() == ["12.50"]
    assert (info.format, info.delimiter, info.encoding) == ("csv", ",", "utf-8")


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_detects_delimiter(write_csv, delimiter):
    text = delimiter.join(["declaration_id", "hs_code", "description"]) + "\n" + \
        delimiter.join(["1", "2805", "rare earth"]) + "\n"
    frame, info = read_table(write_csv(text))
    assert info.delimiter == delimiter
    assert frame.columns.tolist() == ["declaration_id", "hs_code", "description"]


def test_utf8_bom_is_stripped_from_the_first_header(write_csv):
    frame, info = read_table(write_csv("\ufeffdeclaration_id,hs_code\nA,2805\n".encode("utf-8")))
    assert frame.columns[0] == "declaration_id"
    assert info.encoding == "utf-8-sig"


def test_latin1_file_is_detected(write_csv):
    path = write_csv("declaration_id,hs_code,consignee\nA,2805,Société Générale\n".encode("latin-1"))
    frame, info = read_table(path)
    assert info.encoding == "latin-1"
    assert frame["consignee"].iloc[0] == "Société Générale"


def test_utf16_file_is_a_clear_error(write_csv):
    path = write_csv("declaration_id,hs_code\nA,2805\n".encode("utf-16"))
    with pytest.raises(InputFileError, match="unreadable encoding"):
        read_table(path)


@pytest.mark.parametrize("content, message", [
    (b"", "file is empty"),
    (b"\n\n\n", "no header row"),
])
def test_empty_files_are_clear_errors(write_csv, content, message):
    with pytest.raises(InputFileError, match=message):
        read_table(write_csv(content))


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(InputFileError, match=r"nope\.csv: file not found"):
        read_table(tmp_path / "nope.csv")


def test_duplicate_header_is_a_clear_error(write_csv):
    with pytest.raises(InputFileError, match="column 'hs_code' appears twice"):
        read_table(write_csv("declaration_id,hs_code,hs_code\n1,2,3\n"))


def test_ragged_rows_are_kept_and_reported(write_csv):
    frame, info = read_table(write_csv("declaration_id,hs_code,description\nA,2805\nB,2846,x,extra\nC,2805,ok\n"))
    assert frame["declaration_id"].tolist() == ["A", "B", "C"]
    assert frame["description"].tolist() == ["", "x", "ok"]
    assert frame["extra_fields"].tolist() == ["", "extra", ""]
    problems = info.problems
    assert problems["row"].tolist() == [1, 2]
    assert problems["value"].tolist() == ["2", "4"]


def test_quoted_newlines_stay_in_one_cell(write_csv):
    frame, _ = read_table(write_csv('declaration_id,hs_code,description\nA,2805,"two\nlines"\nB,2846,x\n'))
    assert frame["description"].tolist() == ["two\nlines", "x"]


def test_reads_parquet_with_types(tmp_path):
    path = tmp_path / "d.parquet"
    pd.DataFrame({"declaration_id": ["A"], "gross_weight_kg": [1.5]}).to_parquet(path)
    frame, info = read_table(path)
    assert info.format == "parquet"
    assert frame["gross_weight_kg"].iloc[0] == 1.5


def test_csv_output_neutralises_formulas_but_not_numbers(tmp_path):
    out = write_table(pd.DataFrame({"a": ["=HYPERLINK(\"x\")", "+1+2", "-12.5", "@SUM(A1)", "plain", "-x"]}),
                      tmp_path / "o.csv")
    cells = list(csv.reader(io.StringIO(out.read_text())))[1:]
    assert [c[0] for c in cells] == ["'=HYPERLINK(\"x\")", "'+1+2", "-12.5", "'@SUM(A1)", "plain", "'-x"]


_CELLS = st.one_of(st.none(), st.text(alphabet="=+-@\t\r a1.", max_size=4))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_CELLS, max_size=6), min_size=1, max_size=4), st.integers(0, 3),
       st.sampled_from([pa.string(), pa.large_string()]))
def test_formula_cells_found_from_first_bytes_across_chunks_and_slices(chunks, cut, kind):
    column = pa.chunked_array([pa.array(cells, kind) for cells in chunks], kind)
    column = column.slice(min(cut, len(column)))
    cells = column.to_pylist()
    expected = [i for i, cell in enumerate(cells) if cell and cell[0] in "=+-@\t\r"]
    assert detector.io._formula_candidates(column).tolist() == expected
    plain = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
    neutralised = detector.io._neutralise_column(column).to_pylist()
    assert neutralised == [f"'{cell}" if i in expected and not plain.fullmatch(cell) else cell
                           for i, cell in enumerate(cells)]


@pytest.mark.parametrize("name, fmt", [("o.parquet", "parquet"), ("o.jsonl", "jsonl"), ("o.csv", "csv")])
def test_writes_each_format(tmp_path, name, fmt):
    frame = pd.DataFrame({"declaration_id": ["A", "B"], "risk_score": [0.5, 0.0]})
    path = write_table(frame, tmp_path / name)
    if fmt == "parquet":
        assert pq.read_table(path).to_pandas().equals(frame)
    elif fmt == "jsonl":
        assert pd.read_json(path, lines=True)["declaration_id"].tolist() == ["A", "B"]
    else:
        assert pd.read_csv(path)["risk_score"].tolist() == [0.5, 0.0]


@pytest.mark.parametrize("name", ["o.csv", "o.parquet", "o.jsonl"])
def test_failed_write_leaves_the_old_file_and_no_part_file(tmp_path, name):
    target = tmp_path / name
    target.write_text("old complete file")

    def chunks():
        yield pd.DataFrame({"a": ["x"]})
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_chunks(chunks(), target)
    assert target.read_text() == "old complete file"
    assert os.listdir(tmp_path) == [name]


def test_chunks_stream_into_one_file(tmp_path):
    chunks = (pd.DataFrame({"n": [i, i + 1], "text": ["a", "=b"]}) for i in range(0, 6, 2))
    path = write_chunks(chunks, tmp_path / "o.csv")
    written = pd.read_csv(path, dtype=str)
    assert written["n"].tolist() == [str(i) for i in range(6)]
    assert written["text"].tolist() == ["a", "'=b"] * 3


def test_csv_formatted_in_slices_is_the_same_file_as_in_one_piece(tmp_path, monkeypatch):
    frame = pd.DataFrame({"id": [f"D{i:03d}" for i in range(11)],
                          "text": ["a,b", "=1+1", "say \"hi\"", "", "x\ny"] * 2 + ["-5"],
                          "score": [i / 7 for i in range(11)]})
    whole = write_table(frame, tmp_path / "whole.csv").read_bytes()
    monkeypatch.setattr(detector.io, "_CSV_SLICE_ROWS", 3)  # 4 slices on however many cores
    sliced = write_table(frame, tmp_path / "sliced.csv").read_bytes()
    assert sliced == whole
    assert sliced.count(b'"id","text","score"') == 1
    assert pd.read_csv(tmp_path / "sliced.csv", dtype=str)["id"].tolist() == frame["id"].tolist()


def test_an_empty_table_is_written_as_its_header(tmp_path):
    path = write_table(pd.DataFrame({"a": pd.Series(dtype="str"), "b": pd.Series(dtype="float64")}),
                       tmp_path / "o.csv")
    assert path.read_text() == '"a","b"\n'


cell_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"),
                    max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(cell_text, min_size=1, max_size=5), min_size=1, max_size=15),
       delimiter=st.sampled_from([",", ";", "\t"]))
def test_random_csv_content_never_loses_a_row(tmp_path_factory, rows, delimiter):
    """Whatever the cells hold, every written record comes back once, in order."""
    path = tmp_path_factory.mktemp("csv") / "random.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter, quoting=csv.QUOTE_ALL)
        writer.writerow(["declaration_id", "hs_code", "description", "remarks", "exporter"])
        for number, row in enumerate(rows):
            writer.writerow([f"id{number}", *row])
    frame, _ = read_table(path, delimiter=delimiter)
    assert frame["declaration_id"].tolist() == [f"id{n}" for n in range(len(rows))]
    assert frame["hs_code"].tolist() == [row[0] for row in rows]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=400))
def test_random_bytes_never_crash_the_reader(tmp_path_factory, content):
    """Arbitrary bytes give a table or one clear InputFileError, never a traceback."""
    path = tmp_path_factory.mktemp("bytes") / "random.csv"
    path.write_bytes(b"declaration_id,hs_code\n" + content)
    try:
        frame, _ = read_table(path)
    except InputFileError:
        return
    assert list(frame.columns[:2]) == ["declaration_id", "hs_code"]


def test_reads_gzip_compressed_csv(tmp_path):
    import gzip
    path = tmp_path / "history.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("declaration_id,hs_code\nA,0101210000\nB,2805\n")
    frame, info = read_table(path)
    assert frame["hs_code"].tolist() == ["0101210000", "2805"]
    truncated = tmp_path / "broken.csv.gz"
    truncated.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(InputFileError, match="gzip"):
        read_table(truncated)


def test_written_files_get_the_usual_permissions(tmp_path):
    path = write_table(pd.DataFrame({"a": ["x"]}), tmp_path / "o.csv")
    assert path.stat().st_mode & 0o777 == 0o666 & ~_current_umask()


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _rows_text(count: int, quoted: bool) -> list[str]:
    cell = '"{}"' if quoted else "{}"
    return [",".join(cell.format(v) for v in (f"D{n}", "2846901920", f"cerium oxide {n}", "CN"))
            for n in range(count)]


@pytest.mark.parametrize("quoted", [False, True])
def test_an_unclosed_quote_does_not_swallow_the_rows_after_it(write_csv, quoted):
    """Before: `"oops` in row 10 of 100,000 read every following row into that cell:
    11 rows out, all valid, and `validate` said nothing."""
    lines = _rows_text(3_000, quoted)
    lines[9] = lines[9][:-4 if quoted else -2] + ('"oops' if not quoted else '"oops')
    frame, info = read_table(write_csv("declaration_id,hs_code,description,origin_country\n"
                                       + "\n".join(lines) + "\n"))
    assert frame["declaration_id"].tolist() == [f"D{n}" for n in range(3_000)]
    assert frame["origin_country"].iloc[10:].eq("CN").all()
    assert info.problems["row"].tolist() == [10]
    assert info.problems["column"].tolist() == ["origin_country"]
    assert "never closes" in info.problems["problem"].iloc[0]
    assert any("quote that never closes" in note for note in info.notes)


def test_a_cell_over_several_lines_is_still_one_cell(write_csv):
    """A quoted address over three lines is text, not swallowed rows."""
    text = ('declaration_id,hs_code,remarks,origin_country\nA,2846,"Room 5\nBldg 3, Zone 2\nXiamen",CN\n'
            'B,2805,"x, y",VN\n')
    frame, info = read_table(write_csv(text))
    assert frame["remarks"].tolist() == ["Room 5\nBldg 3, Zone 2\nXiamen", "x, y"]
    assert info.problems is None or info.problems.empty


def test_a_latin1_byte_past_the_sample_garbles_no_utf8_cell(write_csv):
    """Before: one Latin-1 byte after the first 64 KiB made the reader re-read the whole
    file as Latin-1, so every UTF-8 name came out garbled ('ZÃ¼rich')."""
    rows = [f"D{n},2846,Zürich Trading {n}" for n in range(4_000)]
    data = ("declaration_id,hs_code,consignee\n" + "\n".join(rows) + "\n").encode("utf-8")
    data += "D4000,2846,Société Générale\n".encode("latin-1")
    frame, info = read_table(write_csv(data))
    assert len(data) > 64 * 1024 and info.encoding == "utf-8"
    assert frame["consignee"].iloc[:4000].str.startswith("Zürich").all()
    assert frame["consignee"].iloc[4000] == "Société Générale"
    assert info.problems[["row", "column"]].values.tolist() == [[4001, "consignee"]]
    assert "read as Latin-1" in info.problems["problem"].iloc[0]


def test_a_header_longer_than_the_sample_is_read_in_full(write_csv):
    """Before: a header longer than the 64 KiB sample was cut (4,002 columns read as
    2,851) and every row was invalid."""
    names = ["declaration_id", "hs_code", *(f"attribute_number_{n:05d}" for n in range(4_000))]
    values = ["D1", "2846", *("x" for _ in range(4_000))]
    frame, info = read_table(write_csv(",".join(names) + "\n" + ",".join(values) + "\n"))
    assert len(",".join(names)) > 64 * 1024
    assert frame.columns.tolist() == names
    assert frame.iloc[0].tolist() == values
    assert info.problems is None


@pytest.mark.parametrize("option, message", [
    ({"delimiter": "ab"}, "give one character"),
    ({"delimiter": '"'}, "give one character"),
    ({"encoding": "utf-16"}, "not supported"),
    ({"encoding": "klingon"}, "unknown encoding"),
])
def test_bad_reading_options_are_one_clear_line(write_csv, option, message):
    """Before: `--delimiter ab` and `--encoding utf-16` ended in tracebacks from deep in
    the CSV readers."""
    with pytest.raises(InputFileError, match=message):
        read_table(write_csv("declaration_id,hs_code\nA,2805\n"), **option)


def test_tab_can_be_given_as_backslash_t(write_csv):
    frame, info = read_table(write_csv("declaration_id\ths_code\nA\t2805\n"), delimiter="\\t")
    assert info.delimiter == "\t" and frame["hs_code"].tolist() == ["2805"]


def test_an_input_column_named_extra_fields_is_kept(write_csv):
    """Before: an input column named `extra_fields` was overwritten by the cells of
    ragged rows."""
    frame, info = read_table(write_csv("declaration_id,hs_code,extra_fields\nA,2805,mine\nB,2846,ours,spill\n"))
    assert frame["extra_fields_input"].tolist() == ["mine", "ours"]
    assert frame["extra_fields"].tolist() == ["", "spill"]
    assert any("extra_fields_input" in note for note in info.notes)


fuzz_cell = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                    max_size=10)


# derandomize: CI runs the same 150 files every time, so a pass or a failure repeats.
@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(fuzz_cell, min_size=0, max_size=6), min_size=1, max_size=12),
       quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
       delimiter=st.sampled_from([",", ";", "\t", "|"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "latin-1"]),
       header_width=st.sampled_from([2, 3, 4, 6, 9, 2_500]), broken=st.none() | st.integers(0, 11),
       latin1_row=st.none() | st.integers(0, 11))
def test_fuzz_every_record_comes_out_once_in_order(tmp_path_factory, rows, quoting, delimiter, encoding,
                                                   header_width, broken, latin1_row):
    """Quoted cells with delimiters, quotes and line breaks, three encodings, headers up
    to 2,500 columns (past the 64 KiB sample), ragged rows, an unclosed quote in an
    all-quoted file and a Latin-1 cell in a UTF-8 file: every record comes back once,
    in order, under its own id. (The unclosed quote is put in a row without a cell over
    several lines: the repair reads the opening line of the record to its end.)"""
    header = ["declaration_id", "hs_code", *(f"column_{n}" for n in range(header_width - 2))]
    out = io.StringIO(newline="")
    # A CSV writer quotes a cell holding a character of its line terminator: with
    # "\r\n" both line-break characters are quoted, as spreadsheet exports do.
    writer = csv.writer(out, delimiter=delimiter, quoting=quoting, lineterminator="\r\n")
    writer.writerow(header)
    latin1 = "latin-1" if encoding == "latin-1" else None
    lines = []
    for number, cells in enumerate(rows):
        if latin1:
            cells = [c.encode("latin-1", "replace").decode("latin-1") for c in cells]
        line = io.StringIO(newline="")
        csv.writer(line, delimiter=delimiter, quoting=quoting, lineterminator="\r\n").writerow(
            [f"id{number}", *cells])
        lines.append(line.getvalue())
    if broken is not None and broken < len(lines) and quoting == csv.QUOTE_ALL \
            and not re.search("[\r\n]", lines[broken][:-2]):
        lines[broken] = lines[broken][:-2] + f'{delimiter}"oops\r\n'
    data = (out.getvalue() + "".join(lines)).encode("utf-8-sig" if encoding == "utf-8-sig" else encoding,
                                                   errors="replace")
    if latin1_row is not None and latin1_row < len(rows) and encoding == "utf-8":
        split = data.index(f"id{latin1_row}".encode()) + len(f"id{latin1_row}")
        data = data[:split] + b"\xe9" + data[split:]
    path = tmp_path_factory.mktemp("fuzz") / "declarations.csv"
    path.write_bytes(data)
    frame, _ = read_table(path, delimiter=delimiter)
    ids = frame["declaration_id"].str.replace("é", "", regex=False).tolist()
    assert ids == [f"id{n}" for n in range(len(rows))]
    assert frame.columns[:len(header)].tolist() == header


def test_list_map_and_byte_columns_passing_through_are_written_as_text(tmp_path):
    """Before: a Parquet input with an unmapped list, map or non-UTF-8 bytes column
    crashed on writing (ArrowInvalid for CSV, ArrowTypeError for a map in every format,
    UnicodeDecodeError for JSON lines)."""
    frame = pd.DataFrame({"declaration_id": ["A", "B"], "tags": [["x", "y"], None],
                          "blob": [b"ok", b"\xe9t\xe9"], "attrs": [[("k", "v")], [("a", "b")]]})
    for name in ("o.csv", "o.jsonl", "o.parquet"):
        write_table(frame, tmp_path / name)
    written = pd.read_csv(tmp_path / "o.csv", dtype=str, keep_default_na=False)
    assert written["tags"].tolist() == ["['x', 'y']", ""]
    assert written["blob"].tolist() == ["ok", "\\xe9t\\xe9"]
    assert pd.read_json(tmp_path / "o.jsonl", lines=True)["attrs"].tolist() == ["[('k', 'v')]", "[('a', 'b')]"]


def test_jsonl_keeps_the_numbers_of_a_parquet_input(tmp_path):
    """Before: JSON lines rounded numbers to 10 significant digits (0.1000000000001 -> 0.1)."""
    write_table(pd.DataFrame({"declared_value": [0.1000000000001, 123456789.125]}), tmp_path / "o.jsonl")
    import json

    lines = (tmp_path / "o.jsonl").read_text().splitlines()
    assert [json.loads(line)["declared_value"] for line in lines] == [0.1000000000001, 123456789.125]


def test_read_columns_reads_the_header_as_read_table_names_it(tmp_path):
    """What tells a scored file from declarations without reading its body: the
    same names as a full read, for CSV (any delimiter, gzip, BOM) and Parquet."""
    import gzip

    text = "\ufeffdeclaration_id; hs_code ;lane\nA;2805301200;red\n"
    plain, packed, parquet = tmp_path / "a.csv", tmp_path / "a.csv.gz", tmp_path / "a.parquet"
    plain.write_text(text, encoding="utf-8")
    packed.write_bytes(gzip.compress(text.encode("utf-8")))
    pq.write_table(pa.table({"declaration_id": ["A"], "lane": ["red"]}), parquet)
    for path in (plain, packed, parquet):
        assert read_columns(path) == list(read_table(path)[0].columns), path
    assert read_columns(plain) == ["declaration_id", "hs_code", "lane"]


def test_read_columns_refuses_what_read_table_refuses(tmp_path):
    twice = tmp_path / "twice.csv"
    twice.write_text("a,b,a\n1,2,3\n")
    with pytest.raises(InputFileError, match="column 'a' appears twice"):
        read_columns(twice)
    with pytest.raises(InputFileError, match="file not found"):
        read_columns(tmp_path / "none.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputFileError, match="file is empty"):
        read_columns(tmp_path / "empty.csv")
