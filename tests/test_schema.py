import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.errors import InputFileError, MappingError
from detector.schema import (
    _NUMBER,
    ColumnMapping,
    _cast_numbers,
    _clean_text,
    _fold_cell,
    _fold_digits,
    canonical_frame,
    load_mapping,
    normalise_header,
    resolve_columns,
    row_errors,
    validate,
)
from tests.conftest import frame


def problems_of(rows, **kwargs):
    return validate(frame(rows), **kwargs).problems


def test_normalise_header_collapses_case_and_punctuation():
    assert normalise_header(" Gross Weight (kg) ") == "gross_weight_kg"
    assert normalise_header("sgd.id") == "sgd_id"


def test_aliases_resolve_without_a_mapping():
    columns = ["Declaration No", "HS Code", "Country of Origin", "Gross Weight", "Shipper"]
    resolved = resolve_columns(columns, ColumnMapping(), "f.csv")
    assert resolved == {"declaration_id": "Declaration No", "hs_code": "HS Code",
                        "origin_country": "Country of Origin", "gross_weight_kg": "Gross Weight",
                        "exporter": "Shipper"}


def test_exact_canonical_name_beats_an_alias_seen_first():
    resolved = resolve_columns(["value", "declared_value", "declaration_id", "hs_code"],
                               ColumnMapping(), "f.csv")
    assert resolved["declared_value"] == "declared_value"


def test_missing_required_column_names_file_columns_and_closest():
    with pytest.raises(InputFileError) as error:
        resolve_columns(["declaration_id", "hs_cod", "origin"], ColumnMapping(), "f.csv")
    message = str(error.value)
    assert "f.csv" in message and "missing required column 'hs_code'" in message
    assert "columns found: declaration_id, hs_cod, origin" in message
    assert "closest: hs_cod" in message


def test_mapping_file_maps_and_checks_columns(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("columns:\n  declaration_id: ref\n  hs_code: tariff\nconstants:\n  direction: export\n")
    mapping = load_mapping(path)
    assert resolve_columns(["ref", "tariff"], mapping, "f.csv") == {"declaration_id": "ref", "hs_code": "tariff"}
    with pytest.raises(MappingError, match="maps hs_code to column 'tariff', which the file lacks"):
        resolve_columns(["ref", "tarif"], mapping, "f.csv")


def test_mapping_rejects_unknown_canonical_field(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("columns:\n  hs_cde: tariff\n")
    with pytest.raises(MappingError, match="'hs_cde' in columns is not a canonical field.*hs_code"):
        load_mapping(path)


def test_shipped_bacuda_mapping_reads_yy_mm_dd_dates():
    mapping = load_mapping("wco_bacuda")
    assert mapping.columns["declaration_id"] == "sgd.id"
    table = validate(frame([{"declaration_date": "13-01-02"}]), formats=mapping.formats).table
    assert table["declaration_date"].iloc[0] == pd.Timestamp("2013-01-02")


def test_mapping_values_translate_a_systems_codes_before_validation(tmp_path):
    import detector

    mapping = load_mapping("korea_customs")
    assert mapping.values["transport_mode"]["40"] == "air"
    columns = dict.fromkeys(mapping.columns.values(), "")
    rows = frame([{**columns, "Declaration ID": str(i), "HS6 Code": "850440", "Mode of Transport": code}
                  for i, code in enumerate(("10", " 40 ", "50", "77"))])
    decl = detector.load_declarations(rows, mapping)
    assert decl.table["transport_mode"].tolist()[:3] == ["sea", "air", "post"]
    # An untranslated code is still checked and reported as written.
    assert decl.problems[["value", "problem"]].values.tolist()[0][0] == "77"
    bad = tmp_path / "m.yaml"
    bad.write_text("values:\n  transport_mode: air\n")
    with pytest.raises(MappingError, match="values.transport_mode must map each code to one value"):
        load_mapping(bad)


def test_unknown_mapping_name_lists_shipped_mappings():
    with pytest.raises(MappingError, match="wco_bacuda"):
        load_mapping("no_such_mapping")


def test_hs_code_keeps_leading_zeros_and_drops_dots():
    result = validate(frame([{"hs_code": "0101.21 00"}, {"hs_code": "28AB"}, {"hs_code": "12"}]))
    assert result.table["hs_code"].tolist()[0] == "01012100"
    assert result.table["hs_code"].isna().tolist() == [False, True, True]
    assert result.problems["row"].tolist() == [2, 3]
    assert "4 to 10 digits" in result.problems["problem"].iloc[0]


def test_dates_must_be_iso():
    result = validate(frame([{"declaration_date": "2025-03-04"}, {"declaration_date": "03/04/2025"},
                             {"declaration_date": "2025-02-30"}, {"declaration_date": ""}]))
    assert result.table["declaration_date"].iloc[0] == pd.Timestamp("2025-03-04")
    assert result.problems["row"].tolist() == [2, 3]
    assert set(result.problems["problem"]) == {"expected an ISO date YYYY-MM-DD"}


def test_numbers_report_unparsable_and_negative_values():
    result = validate(frame([{"gross_weight_kg": "12.5"}, {"gross_weight_kg": "12,5"},
                             {"gross_weight_kg": "-3"}, {"gross_weight_kg": "inf"}]))
    assert result.table["gross_weight_kg"].iloc[0] == 12.5
    assert result.table["gross_weight_kg"].iloc[1:].isna().all()
    assert result.problems[["row", "value"]].values.tolist() == [[2, "12,5"], [3, "-3"], [4, "inf"]]


_ODD_NUMBERS = ["1", "+1", "-.5e-3", "5.", "1E5", "inf", "-Infinity", "1e400", "00012", "nan",
                "NaN", "0x10", "1_000", "1,5", "1d5", "1.2.3", "e5", ".e5", "5e", "-", "nanx"]


@pytest.mark.parametrize("bad", ["12 kg", "1.2.3"])
@pytest.mark.parametrize("typed", _ODD_NUMBERS)
def test_a_number_reads_the_same_in_a_clean_column_and_beside_a_bad_cell(typed, bad):
    # A clean column is cast as a whole; beside a cell with a letter the rest is cast
    # without it; beside a bad cell made of number bytes every cell goes through the
    # number pattern: all must read every cell the same way.
    alone = validate(frame([{"gross_weight_kg": typed}]))
    beside_bad = validate(frame([{"gross_weight_kg": typed}, {"gross_weight_kg": bad}]))
    assert alone.table["gross_weight_kg"].iloc[:1].equals(beside_bad.table["gross_weight_kg"].iloc[:1])
    assert alone.problems["problem"].tolist() == beside_bad.problems["problem"].tolist()[:len(alone.problems)]
    if typed.lower().startswith("nan"):
        assert alone.problems["problem"].tolist() == ["expected a number like 1234.5"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet="0123456789.+-eEinfatyINF ,x", max_size=6)),
                min_size=1, max_size=20))
def test_numbers_read_as_the_number_pattern_reads_them(cells):
    # Whichever path a column takes (whole cast, cast without cells that have a byte no
    # number has, or the pattern cell by cell), each cell reads as the pattern alone says.
    chunk = pa.array(cells, pa.large_string())
    numeric = pc.match_substring_regex(chunk, _NUMBER, ignore_case=True)
    expected = pc.cast(pc.if_else(numeric, chunk, pa.scalar(None, chunk.type)), pa.float64())
    np.testing.assert_array_equal(_cast_numbers(chunk), expected.to_numpy(zero_copy_only=False))


_EDGE_TEXT = st.text(alphabet=st.sampled_from(
    ["a", "Z", "7", " ", "\t", "\n", "\x1c", "\u0085", "\u00a0", "\u1680", "\u2003", "\u2028",
     "\u202f", "\u205f", "\u3000", "\u200b", "\ufeff", "\u00e9", "\u4e0a", "\U0001f600", "\u00a3"]),
    max_size=6)


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(st.one_of(st.none(), _EDGE_TEXT), min_size=1, max_size=30))
def test_text_is_cleaned_exactly_as_unicode_trimming_would(cells):
    # Chunks with nothing to trim are kept as they are: the shortcut must agree with
    # trimming every cell, whatever whitespace or other character sits at the edges.
    values = pd.Series(cells, dtype="str")
    trimmed = pc.utf8_trim_whitespace(pa.array(values, from_pandas=True))
    expected = pc.if_else(pc.equal(pc.binary_length(trimmed), 0), pa.scalar(None, trimmed.type), trimmed)
    assert _clean_text(values).tolist() == pd.Series(expected.to_pylist(), dtype="str").tolist()


@pytest.mark.parametrize("cells", [["  x", "", "a", "b", "", "c", "d"], ["  x", "", "a", "b ", "", "c", "d"]])
def test_text_cleaning_of_a_slice_keeps_its_own_cells(cells):
    # A slice of a column starts inside its Arrow buffers (offset 2 here): the new
    # validity bitmap must line up with the slice, not with the buffers' start.
    assert _clean_text(pd.Series(cells, dtype="str").iloc[2:]).tolist() == ["a", "b", np.nan, "c", "d"]


def test_duplicate_ids_name_the_first_row_and_missing_ids_are_no_duplicates():
    problems = problems_of([{"declaration_id": "A"}, {"declaration_id": "B"}, {"declaration_id": ""},
                            {"declaration_id": "A"}, {"declaration_id": " "}, {"declaration_id": "B"},
                            {"declaration_id": "A"}])
    duplicates = problems[problems["problem"].str.startswith("duplicate")]
    assert duplicates[["row", "problem"]].values.tolist() == [
        [4, "duplicate declaration_id; first seen in row 1"],
        [6, "duplicate declaration_id; first seen in row 2"],
        [7, "duplicate declaration_id; first seen in row 1"]]
    assert problems[problems["problem"].str.startswith("missing")]["row"].tolist() == [3, 5]


def test_a_file_without_any_id_reports_each_row_missing_and_no_duplicate():
    problems = problems_of([{"declaration_id": ""}, {"declaration_id": " "}])
    assert problems["problem"].tolist() == ["missing declaration_id (required)"] * 2


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(["", "0", "00", "-0", "012", "12", "+12", "1 2", "x1"]),
                          st.from_regex(r"[0-9]{1,19}", fullmatch=True)), max_size=30))
def test_duplicate_ids_found_alike_whether_ids_are_digits_or_not(ids):
    """Digit-only ids take a faster path than other ids; both name the same first rows."""
    problems = problems_of([{"declaration_id": i} for i in ids]) if ids else None
    first_seen = {}
    expected = []
    for row, i in enumerate(ids, start=1):
        if i and i in first_seen:
            expected.append([row, f"duplicate declaration_id; first seen in row {first_seen[i]}"])
        first_seen.setdefault(i, row)
    if ids:
        duplicates = problems[problems["problem"].str.startswith("duplicate")]
        assert duplicates[["row", "problem"]].values.tolist() == expected


def test_duplicate_digit_ids_keep_leading_zeros_apart():
    problems = problems_of([{"declaration_id": i} for i in ["012", "12", "0012", "12", "012", "13"]])
    duplicates = problems[problems["problem"].str.startswith("duplicate")]
    assert duplicates[["row", "problem"]].values.tolist() == [
        [4, "duplicate declaration_id; first seen in row 2"], [5, "duplicate declaration_id; first seen in row 1"]]


def test_package_count_must_be_whole():
    problems = problems_of([{"package_count": "2.5"}, {"package_count": "3"}])
    assert problems[["row", "problem"]].values.tolist() == [[1, "expected a whole number"]]


@pytest.mark.parametrize("typed, expected", [
    ("CN", "CN"), ("chn", "CN"), ("China", "CN"), ("People's Republic of China", "CN"),
    ("viet nam", "VN"), ("Vietnam", "VN"), ("HKG", "HK"), ("  united   states ", "US"),
])
def test_country_names_and_alpha3_codes_normalise_to_alpha2(typed, expected):
    table = validate(frame([{"origin_country": typed}])).table
    assert table["origin_country"].iloc[0] == expected


def test_unknown_country_is_a_row_problem():
    result = validate(frame([{"origin_country": "Chna"}]))
    assert result.table["origin_country"].isna().all()
    assert "unknown country" in result.problems["problem"].iloc[0]
    assert result.problems["value"].iloc[0] == "Chna"


@pytest.mark.parametrize("typed, expected", [
    ("Mail", "post"), ("postal", "post"), ("EMS", "post"), ("courier", "express"),
    ("Ocean", "sea"), ("truck", "road"), ("air freight", "air"), ("4", "air"),
])
def test_transport_mode_synonyms(typed, expected):
    assert validate(frame([{"transport_mode": typed}])).table["transport_mode"].iloc[0] == expected


def test_unknown_transport_mode_is_a_row_problem():
    problems = problems_of([{"transport_mode": "teleport"}])
    assert "unknown transport mode" in problems["problem"].iloc[0]


def test_package_words_become_rec21_codes_and_unknown_words_are_kept():
    table = validate(frame([{"package_type": "bottles"}, {"package_type": "BO"},
                            {"package_type": "drum"}, {"package_type": "tote"}])).table
    assert table["package_type"].tolist() == ["BO", "BO", "DR", "TOTE"]


def test_currency_defaults_to_usd_and_unknown_is_a_problem():
    result = validate(frame([{"currency": ""}, {"currency": "eur"}, {"currency": "XXQ"}]))
    assert result.table["currency"].tolist()[:2] == ["USD", "EUR"]
    assert pd.isna(result.table["currency"].iloc[2])
    assert result.problems["row"].tolist() == [3]


def test_duplicate_ids_point_at_the_first_row():
    problems = problems_of([{"declaration_id": "A"}, {"declaration_id": "B"}, {"declaration_id": "A"},
                            {"declaration_id": ""}])
    assert problems[["row", "problem"]].values.tolist() == [
        [3, "duplicate declaration_id; first seen in row 1"], [4, "missing declaration_id (required)"]]


def test_direction_synonyms_and_errors():
    result = validate(frame([{"direction": "EXP"}, {"direction": "Import"}, {"direction": "sideways"}]))
    assert result.table["direction"].tolist()[:2] == ["export", "import"]
    assert result.problems["row"].tolist() == [3]


def test_problems_name_the_users_column():
    result = validate(frame([{"hs_code": "x"}]), resolved={"hs_code": "Tariff No"})
    assert result.problems["column"].tolist() == ["Tariff No"]
    assert result.problems["field"].tolist() == ["hs_code"]


def test_row_errors_join_problems_per_row():
    problems = problems_of([{"hs_code": "x", "gross_weight_kg": "-1"}, {"hs_code": "2805"}])
    invalid, errors = row_errors(problems, 2)
    assert invalid.tolist() == [True, False]
    assert errors.iloc[0].startswith("hs_code: expected an HS code")
    assert "gross_weight_kg: negative number" in errors.iloc[0]
    assert errors.iloc[1] == ""


def test_parquet_typed_columns_validate():
    raw = pd.DataFrame({"hs_code": [2805301200, 28053012], "gross_weight_kg": [1.5, -2.0],
                        "declaration_date": pd.to_datetime(["2025-01-02", None])})
    result = validate(raw)
    assert result.table["hs_code"].tolist() == ["2805301200", "28053012"]
    assert result.problems["row"].tolist() == [2]
    assert np.isnan(result.table["gross_weight_kg"].iloc[1])


def test_a_numeric_hs_code_gets_its_lost_leading_zero_back_and_the_row_says_so():
    """Before: HS 0101210000 stored as the integer 101210000 was read, silently, as
    chapter 10 (cereals) instead of 01 (live animals) and met the wrong rules."""
    result = validate(pd.DataFrame({"hs_code": [101210000, 2805301200, 101, 1012100, 10121]}))
    assert result.table["hs_code"].tolist() == ["0101210000", "2805301200", "0101", "01012100", "010121"]
    assert result.problems[["row", "problem"]].values.tolist() == [
        [1, "read as the number 101210000; leading zero restored as 0101210000"],
        [3, "read as the number 101; leading zero restored as 0101"],
        [4, "read as the number 1012100; leading zero restored as 01012100"],
        [5, "read as the number 10121; leading zero restored as 010121"]]
    invalid, errors = row_errors(result.problems, 5)
    assert invalid.tolist() == [True, False, True, True, True]
    assert errors.iloc[0] == "hs_code: read as the number 101210000; leading zero restored as 0101210000"


def test_float_hs_codes_are_read_or_marked_never_a_traceback():
    """Before: a float HS column holding inf or 1e19 stopped the run with OverflowError."""
    result = validate(pd.DataFrame({"hs_code": [1.0121e9, np.inf, 1e19, np.nan, -2805.0, 2805.5, 1.01e8, 12.0]}))
    assert result.table["hs_code"].tolist()[:1] == ["1012100000"]
    assert result.table["hs_code"].iloc[6] == "0101000000"
    assert result.table["hs_code"].iloc[1:6].isna().all() and pd.isna(result.table["hs_code"].iloc[7])
    assert result.problems.fillna({"value": ""})[["row", "value", "problem"]].values.tolist() == [
        [2, "inf", "expected an HS code of 4 to 10 digits (dots and spaces allowed)"],
        [3, "1e+19", "expected an HS code of 4 to 10 digits (dots and spaces allowed)"],
        [4, "", "missing hs_code (required)"],
        [5, "-2805.0", "expected an HS code of 4 to 10 digits (dots and spaces allowed)"],
        [6, "2805.5", "expected an HS code of 4 to 10 digits (dots and spaces allowed)"],
        [7, "101000000.0", "read as the number 101000000; leading zero restored as 0101000000"],
        [8, "12.0", "expected an HS code of 4 to 10 digits (dots and spaces allowed)"]]


def test_text_hs_codes_with_an_odd_number_of_digits_are_used_and_marked():
    """Before: the text code 101210000 (a spreadsheet dropped its zero) passed as a
    valid code of chapter 10 with nothing to show the analyst."""
    result = validate(frame([{"hs_code": "101210000"}, {"hs_code": "0101.21"}, {"hs_code": "10121"},
                             {"hs_code": "2805301"}]))
    assert result.table["hs_code"].tolist() == ["101210000", "010121", "10121", "2805301"]
    assert result.problems[["row", "problem"]].values.tolist() == [
        [1, "9 digits, where HS codes have 4, 6, 8 or 10: a leading zero may be missing (used as written)"],
        [3, "5 digits, where HS codes have 4, 6, 8 or 10: a leading zero may be missing (used as written)"],
        [4, "7 digits, where HS codes have 4, 6, 8 or 10: a leading zero may be missing (used as written)"]]


@pytest.mark.parametrize("field, typed, expected", [
    ("hs_code", "０１０１.２１", "010121"),                 # full-width
    ("hs_code", "٠١٠١٢١", "010121"),                      # Arabic-Indic
    ("hs_code", "۰۱۰۱۲۱", "010121"),                      # Persian
    ("hs_code", "०१०१२१", "010121"),                      # Devanagari
    ("gross_weight_kg", "１２.５", 12.5),
    ("gross_weight_kg", "١٢٫٥", 12.5),                    # Arabic decimal separator
    ("package_count", "３", 3.0),
    ("declaration_date", "٢٠٢٥-٠٣-٠٤", pd.Timestamp("2025-03-04")),
    ("declaration_date", "２０２５－０３－０４", pd.Timestamp("2025-03-04")),
    ("origin_country", "ＣＮ", "CN"),
    ("transport_mode", "４", "air"),
    ("declaration_id", "Ａ١٢", "A12"),
])
def test_codes_and_numbers_in_other_digits_read_as_ascii(field, typed, expected):
    """Before: an HS code in full-width or Arabic-Indic digits passed validation but
    matched no rule (so evaded the critical licence rule), and such numbers and dates
    were row problems."""
    result = validate(frame([{field: typed}]))
    assert result.table[field].iloc[0] == expected
    assert result.problems.empty


@pytest.mark.parametrize("typed", ["10²", "½", "①②③④"])
def test_superscripts_and_fractions_stay_unreadable_numbers(typed):
    # NFKC would turn 10² into 102: a number the declarant never wrote.
    assert validate(frame([{"gross_weight_kg": typed}])).problems["problem"].tolist() == [
        "expected a number like 1234.5"]
    assert validate(frame([{"hs_code": typed}])).table["hs_code"].isna().all()


def test_ids_in_other_digits_are_duplicates_of_the_same_ascii_id():
    """Before: declaration 12 typed again as １２ was not seen as a duplicate."""
    problems = problems_of([{"declaration_id": "12"}, {"declaration_id": "１２"}, {"declaration_id": "١٢"}])
    assert problems[["row", "problem"]].values.tolist() == [
        [2, "duplicate declaration_id; first seen in row 1"], [3, "duplicate declaration_id; first seen in row 1"]]


def test_mapping_values_match_codes_written_in_other_digits():
    mapping = load_mapping("korea_customs")
    assert canonical_frame(frame([{"Mode of Transport": "٤٠"}]), {"transport_mode": "Mode of Transport"},
                           mapping)["transport_mode"].tolist() == ["air"]


def test_opaque_country_codes_pass_as_written_and_compare_by_equality(tmp_path):
    """Before: a mapping could not say that countries are anonymised codes, and every
    row of such a file was invalid ('unknown country')."""
    path = tmp_path / "m.yaml"
    path.write_text("formats: {origin_country: opaque, export_country: opaque}\n")
    mapping = load_mapping(path)
    result = validate(frame([{"origin_country": " QLRUMZ ", "export_country": "QLRUMZ"},
                             {"origin_country": "412", "export_country": "ＱＬＲＵＭＺ"},
                             {"origin_country": "", "export_country": "CN"}]), formats=mapping.formats)
    assert result.problems.empty
    table = result.table
    assert table["origin_country"].tolist()[:2] == ["QLRUMZ", "412"] and pd.isna(table["origin_country"].iloc[2])
    assert (table["origin_country"] == table["export_country"]).tolist() == [True, False, False]


@pytest.mark.parametrize("formats, message", [
    ('{declaration_date: "%Q"}', r"formats.declaration_date: '%Q' is not a date format"),
    ('{declaration_date: "%Y-%m-%d %Q"}', r"'%Y-%m-%d %Q' is not a date format"),
    ('{declaration_date: "yyyy-mm-dd"}', r"'yyyy-mm-dd' does not name a whole date \(year, month and day\)"),
    ('{declaration_date: "%d/%m"}', r"'%d/%m' does not name a whole date"),
    ('{declaration_date: "%H:%M"}', r"'%H:%M' does not name a whole date"),
    ('{origin_country: iso}', r"formats.origin_country: 'iso' is no country format; write 'opaque'"),
    ('{hs_code: opaque}', r"formats.hs_code: formats apply to date fields .* and country fields"),
])
def test_a_bad_format_in_a_mapping_stops_at_mapping_load(tmp_path, formats, message):
    """Before: formats {declaration_date: "%Q"} passed mapping load and stopped the run
    later with pandas' "'Q' is a bad directive"; a format without directives made every
    date of the file a row problem."""
    path = tmp_path / "m.yaml"
    path.write_text(f"formats: {formats}\n")
    with pytest.raises(MappingError, match=message) as error:
        load_mapping(path)
    assert str(error.value).startswith(f"{path}: ") and "\n" not in str(error.value)


@pytest.mark.parametrize("fmt, typed", [("%d/%m/%Y", "23/11/2031"), ("%y-%m-%d", "31-11-23"),
                                        ("%Y%m%d", "20311123"), ("%d %b %Y", "23 Nov 2031"),
                                        ("%Y-%j", "2031-327")])
def test_real_date_formats_load_and_read(tmp_path, fmt, typed):
    path = tmp_path / "m.yaml"
    path.write_text(f'formats: {{declaration_date: "{fmt}"}}\n')
    table = validate(frame([{"declaration_date": typed}]), formats=load_mapping(path).formats).table
    assert table["declaration_date"].iloc[0] == pd.Timestamp("2031-11-23")


_DIGIT_TEXT = st.text(alphabet=st.sampled_from(
    ["0", "7", ".", "-", "a", " ", "０", "９", "٠", "٣", "۷", "७", "٫", "²", "½", "Ｃ", "é", "\u3000"]), max_size=8)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), _DIGIT_TEXT), min_size=1, max_size=20))
def test_folding_digits_leaves_only_ascii_digits_and_ascii_cells_alone(cells):
    # The column shortcut (ASCII bytes only: returned as it is) must agree with folding
    # each cell, and no decimal digit of another script may survive.
    folded = _fold_digits(pd.Series(cells, dtype="str"))
    assert folded.isna().tolist() == [cell is None for cell in cells]
    for cell, result in zip(cells, folded):
        if cell is not None:
            assert result == (cell if cell.isascii() else _fold_cell(cell))
            assert all(char.isascii() for char in result if char.isdecimal())
