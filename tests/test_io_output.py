"""The files an analyst opens: the Excel workbook, CSV for Excel, typed Parquet, and
standard input and output."""

import json
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import detector.excel
import detector.io
from detector.errors import InputFileError, OutputFileError
from detector.io import output_format, read_metadata, read_table, write_chunks, write_table

try:
    import openpyxl
except ImportError:  # the "excel" extra is not installed: only the workbook tests skip
    openpyxl = None
needs_openpyxl = pytest.mark.skipif(openpyxl is None, reason='needs openpyxl: pip install "detector[excel]"')

METADATA = {"detector_version": "0.1.0", "source": "declarations.csv", "rows": 3, "invalid_rows": 1,
            "rule_packs": [{"path": "rules/core.yaml", "sha256": "ab12"}], "rules_skipped": {"RE-X-001": "no column"},
            "anomaly": {"mode": "batch", "fingerprint": None}, "options": {"budget": 0.02, "seed": 0},
            "lanes": {"red": 1, "yellow": 1, "green": 1}}


def scored_frame() -> pd.DataFrame:
    """Three scored rows as the scorer hands them over, with typed input columns."""
    return pd.DataFrame({
        "declaration_id": ["D001", "D002", "D003"],
        "hs_code": ["0101210000", "2846901920", "8501310000"],
        "declared_value": [1250.5, np.nan, 7.25],
        "package_count": pd.array([3, None, 12], dtype="Int64"),
        "declaration_date": pd.to_datetime(["2026-01-01", "2026-01-02", None]),
        "remarks": ["=HYPERLINK(\"http://x\")", "-12.5", ""],
        "risk_score": [0.91, 0.4, 0.0],
        "lane": ["red", "yellow", "green"],
        "rule_hits": ["RE-ORIGIN-001;RF-GENERIC-001", "RF-GENERIC-001", ""],
        "reasons": ["[RE-ORIGIN-001] origin CN routed through VN; [RF-GENERIC-001] vague description", "x", ""],
        "anomaly_score": [0.97, 0.5, np.nan],
        "status": ["valid", "valid", "invalid"],
        "errors": ["", "", "hs_code: not a number"],
    })


def _sheet_rows(sheet) -> list[list]:
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


@needs_openpyxl
def test_xlsx_is_a_workbook_with_frozen_filtered_header_wrapped_reasons_and_lane_colours(tmp_path):
    """Before: `-o scored.xlsx` was refused ("unknown output extension '.xlsx'"); an
    analyst had to open CSV in Excel and set up filters and colours by hand."""
    path = write_table(scored_frame(), tmp_path / "scored.xlsx", metadata=METADATA)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["scored", "about"]
    sheet = book["scored"]
    header = [cell.value for cell in sheet[1]]
    assert header == scored_frame().columns.tolist()
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(header))}4"
    column = {name: number for number, name in enumerate(header, 1)}
    red, green = sheet.cell(2, column["lane"]), sheet.cell(4, column["lane"])
    assert (red.value, red.fill.fill_type, red.fill.fgColor.rgb[-6:]) == ("red", "solid", "FFC7CE")
    assert green.fill.fgColor.rgb[-6:] == "C6EFCE"
    reasons = sheet.cell(2, column["reasons"])
    assert reasons.alignment.wrap_text and reasons.value.startswith("[RE-ORIGIN-001]")
    assert sheet.cell(4, column["errors"]).alignment.wrap_text
    assert sheet.column_dimensions[openpyxl.utils.get_column_letter(column["reasons"])].width >= 60
    assert sheet[1][0].font.bold


@needs_openpyxl
def test_xlsx_numbers_are_numbers_and_text_keeps_its_zeros(tmp_path):
    """Numbers sort and sum in Excel only when written as numbers; an HS code written as a
    number would lose its leading zero."""
    sheet = openpyxl.load_workbook(write_table(scored_frame(), tmp_path / "o.xlsx"))["scored"]
    header, *rows = _sheet_rows(sheet)
    columns = dict(zip(header, map(list, zip(*rows))))
    assert columns["risk_score"] == [0.91, 0.4, 0]
    assert columns["declared_value"] == [1250.5, None, 7.25]
    assert columns["package_count"] == [3, None, 12]
    assert columns["declaration_date"] == [pd.Timestamp("2026-01-01"), pd.Timestamp("2026-01-02"), None]
    assert columns["hs_code"] == ["0101210000", "2846901920", "8501310000"]
    assert columns["anomaly_score"] == [0.97, 0.5, None]
    assert columns["errors"] == [None, None, "hs_code: not a number"]  # empty text, empty cell


@needs_openpyxl
def test_xlsx_formula_text_is_neutralised_as_in_csv(tmp_path):
    """A remark `=HYPERLINK(...)` typed by a declarant must not become a live formula in
    the analyst's workbook (openpyxl writes any text starting with = as a formula)."""
    sheet = openpyxl.load_workbook(write_table(scored_frame(), tmp_path / "o.xlsx"))["scored"]
    remarks = [row[5] for row in sheet.iter_rows(min_row=2)]
    assert remarks[0].value == "'=HYPERLINK(\"http://x\")" and remarks[0].data_type == "s"
    assert remarks[1].value == "-12.5"  # a number typed as text is no formula


@needs_openpyxl
def test_xlsx_whole_numbers_past_15_digits_are_text(tmp_path):
    """Excel keeps 15 significant digits: a 19-digit id written as a number would show
    another id."""
    frame = pd.DataFrame({"container": pd.array([1234567890123456789, 5], dtype="Int64")})
    sheet = openpyxl.load_workbook(write_table(frame, tmp_path / "o.xlsx"))["scored"]
    assert [row[0] for row in _sheet_rows(sheet)[1:]] == ["1234567890123456789", "5"]


@needs_openpyxl
def test_xlsx_control_characters_do_not_stop_the_write(tmp_path):
    """Before (with openpyxl as it is): a cell holding a form feed or NUL raised
    IllegalCharacterError at the last step of a run."""
    frame = pd.DataFrame({"description": ["cerium\x0coxide", "ok\x00"]})
    sheet = openpyxl.load_workbook(write_table(frame, tmp_path / "o.xlsx"))["scored"]
    assert [row[0] for row in _sheet_rows(sheet)[1:]] == ["cerium\ufffdoxide", "ok\ufffd"]


@needs_openpyxl
def test_xlsx_about_sheet_lists_the_run_metadata(tmp_path):
    book = openpyxl.load_workbook(write_table(scored_frame(), tmp_path / "o.xlsx", metadata=METADATA))
    about = dict(row for row in _sheet_rows(book["about"])[1:])
    assert about["detector_version"] == "0.1.0"
    assert about["rows"] == 3 and about["options.budget"] == 0.02
    assert about["rule_packs.1.sha256"] == "ab12"
    assert about["rules_skipped.RE-X-001"] == "no column"
    assert about["anomaly.mode"] == "batch" and about["anomaly.fingerprint"] is None
    assert openpyxl.load_workbook(write_table(scored_frame(), tmp_path / "n.xlsx")).sheetnames == ["scored"]


@needs_openpyxl
def test_xlsx_beyond_excels_row_limit_is_a_clear_error(tmp_path, monkeypatch):
    """An Excel sheet holds 1,048,576 rows with the header; more would be a file Excel
    cuts or refuses. The error says how many rows and what to write instead, and
    leaves no file."""
    monkeypatch.setattr(detector.excel, "MAX_ROWS", 4)
    path = tmp_path / "o.xlsx"
    write_table(scored_frame(), path)  # 3 rows under the header: fits
    path.unlink()
    frame = pd.concat([scored_frame()] * 2, ignore_index=True)
    with pytest.raises(OutputFileError, match=r"o\.xlsx: 6 rows do not fit in an Excel sheet \(at most 3 .*"
                                              r"write \.parquet or \.csv"):
        write_table(frame, path)
    with pytest.raises(OutputFileError, match="6 rows or more"):
        write_chunks([frame, frame], path)
    assert list(tmp_path.iterdir()) == []


@needs_openpyxl
def test_xlsx_same_table_gives_the_same_bytes(tmp_path):
    """Before the dates were fixed, two writes of one table differed (the workbook's
    created / modified dates and every zip entry's date), so a re-run could not be
    checked with `cmp` and every scored file looked changed."""
    first = write_table(scored_frame(), tmp_path / "a.xlsx", metadata=METADATA).read_bytes()
    time.sleep(2.1)  # zip dates have a 2-second resolution
    second = write_table(scored_frame(), tmp_path / "b.xlsx", metadata=METADATA).read_bytes()
    assert first == second


@needs_openpyxl
def test_xlsx_streams_chunks_into_one_sheet(tmp_path):
    chunks = (scored_frame().assign(declaration_id=lambda f, n=n: f["declaration_id"] + f"-{n}") for n in range(3))
    sheet = openpyxl.load_workbook(write_chunks(chunks, tmp_path / "o.xlsx"))["scored"]
    assert sheet.max_row == 10 and sheet.auto_filter.ref.endswith("10")
    assert [row[0] for row in _sheet_rows(sheet)[1:]][3:5] == ["D001-1", "D002-1"]


def test_xlsx_without_openpyxl_names_the_install_before_any_work(monkeypatch):
    """Excel output needs an optional package: say which and how, when the output name
    is read (before a run scores anything), not with a traceback at the end."""
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # import openpyxl now raises ImportError
    with pytest.raises(OutputFileError, match=r'openpyxl: pip install "detector\[excel\]"'):
        output_format("scored.xlsx")
    with pytest.raises(OutputFileError, match=r"detector\[excel\]"):
        output_format("-", "xlsx")


@pytest.mark.parametrize("name", ["scored.xls", "scored.csv.gz", "scored.xlsm"])
def test_an_unknown_extension_is_still_a_clear_error(name):
    with pytest.raises(OutputFileError, match=r"unknown output extension .*\.xlsx"):
        output_format(name)


def test_excel_csv_starts_with_a_byte_order_mark(tmp_path):
    """Without the BOM, Excel on Windows opens UTF-8 as the local code page: `Société`
    shows as `SociÃ©tÃ©`."""
    frame = pd.DataFrame({"consignee": ["Société Générale"], "risk_score": [0.5]})
    plain = write_table(frame, tmp_path / "plain.csv").read_bytes()
    marked = write_table(frame, tmp_path / "excel.csv", excel_csv=True).read_bytes()
    assert marked == b"\xef\xbb\xbf" + plain
    assert not plain.startswith(b"\xef\xbb\xbf")
    assert pd.read_csv(tmp_path / "excel.csv", encoding="utf-8-sig").columns[0] == "consignee"


def test_decimal_comma_csv_reads_back_as_numbers(tmp_path):
    """Excel in a comma-decimal locale reads `0.91` as text (or a date); with
    `decimal=","` numbers are `0,91` and fields split on `;`, as it expects."""
    frame = scored_frame()
    write_table(frame, tmp_path / "eu.csv", decimal=",")
    text = (tmp_path / "eu.csv").read_text()
    assert text.splitlines()[0].startswith('"declaration_id";"hs_code";"declared_value"')
    assert '"0,91"' in text and '"0.91"' not in text
    back = pd.read_csv(tmp_path / "eu.csv", sep=";", decimal=",", dtype={"hs_code": str}, keep_default_na=False,
                       na_values=[""])
    assert back["risk_score"].tolist() == [0.91, 0.4, 0.0]
    assert back["declared_value"].tolist()[::2] == [1250.5, 7.25]
    assert back["package_count"].tolist()[::2] == [3, 12]
    assert back["hs_code"].tolist() == frame["hs_code"].tolist()
    assert back["rule_hits"][0] == "RE-ORIGIN-001;RF-GENERIC-001"  # a ; inside text stays quoted
    assert back["remarks"][1] == "-12.5"  # text is written as it is


@needs_openpyxl
def test_csv_options_are_refused_for_other_formats(tmp_path):
    with pytest.raises(OutputFileError, match="for CSV output, not parquet"):
        write_table(scored_frame(), tmp_path / "o.parquet", decimal=",")
    with pytest.raises(OutputFileError, match="for CSV output, not xlsx"):
        write_table(scored_frame(), tmp_path / "o.xlsx", excel_csv=True)
    with pytest.raises(OutputFileError, match="give . or ,"):
        write_table(scored_frame(), tmp_path / "o.csv", decimal=";")
    assert list(tmp_path.iterdir()) == []


def test_parquet_keeps_types_rule_hit_lists_and_run_metadata(tmp_path):
    """Before: `rule_hits` was one text per row ("A;B") and the file carried no word of
    the run (version, rule-pack hashes, model fingerprint)."""
    path = write_table(scored_frame(), tmp_path / "o.parquet", metadata=METADATA)
    schema = pq.read_schema(path)
    assert schema.field("rule_hits").type == pa.list_(pa.string())
    assert schema.field("risk_score").type == pa.float64()
    assert schema.field("package_count").type == pa.int64()
    assert pa.types.is_timestamp(schema.field("declaration_date").type)
    assert read_metadata(path) == METADATA
    assert json.loads(schema.metadata[b"detector"]) == METADATA
    back = pd.read_parquet(path)  # pandas reads it back, list column and all
    assert [list(hits) for hits in back["rule_hits"]] == [["RE-ORIGIN-001", "RF-GENERIC-001"], ["RF-GENERIC-001"], []]
    assert str(back["package_count"].dtype) == "Int64" and back["package_count"].isna().tolist() == [False, True,
                                                                                                      False]
    assert back["declaration_date"].iloc[0] == pd.Timestamp("2026-01-01")
    assert read_table(path)[0]["risk_score"].tolist() == [0.91, 0.4, 0.0]


def test_parquet_rule_hits_across_chunks_and_without_metadata(tmp_path):
    chunks = [pd.DataFrame({"rule_hits": ["", "A"]}), pd.DataFrame({"rule_hits": ["B;C", None]})]
    path = write_chunks(chunks, tmp_path / "o.parquet")
    assert pq.read_table(path).column("rule_hits").to_pylist() == [[], ["A"], ["B", "C"], []]
    assert read_metadata(path) is None


@pytest.mark.parametrize("name", ["again.parquet", "again.csv"])
def test_a_scored_parquet_file_read_back_writes_as_it_was_scored(tmp_path, name):
    """Before the lists were joined, a scored Parquet file read back (a report, a filter
    of the lanes) wrote `rule_hits` as the text of a Python list ("['A' 'B']"), and
    Parquet split that text into one id."""
    scored = write_table(scored_frame(), tmp_path / "scored.parquet")
    again = write_table(read_table(scored)[0], tmp_path / name)
    hits = pq.read_table(again).column("rule_hits").to_pylist() if name.endswith("parquet") else \
        pd.read_csv(again, keep_default_na=False)["rule_hits"].tolist()
    expected = [["RE-ORIGIN-001", "RF-GENERIC-001"], ["RF-GENERIC-001"], []]
    assert hits == (expected if name.endswith("parquet") else [";".join(ids) for ids in expected])


def test_hit_separator_is_the_one_risk_joins_with():
    from detector.risk import HIT_SEPARATOR

    assert detector.io.HIT_SEPARATOR == HIT_SEPARATOR


def test_csv_and_jsonl_keep_rule_hits_as_text_and_carry_no_metadata(tmp_path):
    write_table(scored_frame(), tmp_path / "o.csv", metadata=METADATA)
    write_table(scored_frame(), tmp_path / "o.jsonl", metadata=METADATA)
    assert pd.read_csv(tmp_path / "o.csv")["rule_hits"][0] == "RE-ORIGIN-001;RF-GENERIC-001"
    assert json.loads((tmp_path / "o.jsonl").read_text().splitlines()[0])["rule_hits"] == \
        "RE-ORIGIN-001;RF-GENERIC-001"
    assert "detector_version" not in (tmp_path / "o.csv").read_text()


def _run_python(code: str, stdin: bytes) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], input=stdin, capture_output=True, timeout=120)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_stdin_is_read_as_a_file(tmp_path, kind):
    """`detector score - < file` and `cat file | detector validate -`: standard input is
    read like a file (a pipe cannot seek, which detection needs)."""
    frame = pd.DataFrame({"declaration_id": ["A", "B"], "hs_code": ["0101210000", "2805"]})
    data = frame.to_csv(index=False, sep=";").encode() if kind == "csv" else _parquet_bytes(frame, tmp_path)
    done = _run_python("from detector.io import read_table; frame, info = read_table('-');"
                       "print(frame['hs_code'].tolist(), info.path, info.format)", data)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().split() == ["['0101210000',", "'2805']", "<stdin>", kind]


def _parquet_bytes(frame: pd.DataFrame, folder) -> bytes:
    frame.to_parquet(folder / "in.parquet")
    return (folder / "in.parquet").read_bytes()


def test_stdin_problems_name_stdin():
    done = _run_python("from detector.io import read_table; read_table('-')", b"declaration_id,a,a\n1,2,3\n")
    message = done.stderr.decode().strip().splitlines()[-1]  # the error, after the traceback
    assert "<stdin>: column 'a' appears twice in the header" in message
    assert tempfile.gettempdir() not in message  # not the spooled copy's name


def test_stdin_in_a_terminal_is_a_clear_error(monkeypatch):
    """Without a pipe, reading `-` would wait for the keyboard with no word."""
    class Terminal:
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdin", Terminal())
    with pytest.raises(InputFileError, match="<stdin>: nothing is piped in"):
        read_table("-")


def test_declarations_load_from_stdin():
    done = _run_python("import detector; d = detector.load_declarations('-'); print(len(d.raw), d.read_info.path)",
                       b"declaration_id,hs_code\nA,2805\nB,2846\n")
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().split() == ["2", "<stdin>"]


@pytest.mark.parametrize("fmt", [pytest.param("xlsx", marks=needs_openpyxl), "parquet"])
def test_binary_formats_go_to_standard_output(fmt):
    code = ("import pandas as pd; from detector.io import write_table;"
            f"write_table(pd.DataFrame({{'lane': ['red'], 'risk_score': [0.9]}}), '-', '{fmt}')")
    done = _run_python(code, b"")
    assert done.returncode == 0, done.stderr.decode()
    magic = b"PK\x03\x04" if fmt == "xlsx" else b"PAR1"
    assert done.stdout.startswith(magic)


def test_binary_formats_to_a_terminal_are_refused(monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    with pytest.raises(OutputFileError, match="binary and standard output is a terminal"):
        write_table(scored_frame(), "-", "parquet")
