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
from detector.io import read_table, write_chunks, write_table
from detector.schema import ragged_row_problems


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
    problems = ragged_row_problems(info.field_counts, 3)
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
