import csv

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector import load_declarations
from detector.errors import InputFileError
from detector.schema import FIELDS


def test_load_keeps_raw_cells_and_types_canonical_fields(write_csv):
    path = write_csv("Declaration No,HS Code,Origin,Gross Weight,Notes\n"
                     "A1,0101.21,China,12.5,\nA2,28AB,Chna,-1,x\n")
    decl = load_declarations(path)
    assert decl.raw["HS Code"].tolist() == ["0101.21", "28AB"]
    assert decl.table["hs_code"].tolist()[0] == "010121"
    assert decl.table["origin_country"].tolist()[0] == "CN"
    assert decl.invalid.tolist() == [False, True]
    assert decl.problems["column"].tolist() == ["HS Code", "Origin", "Gross Weight"]
    assert decl.columns["remarks"] == "Notes"


def test_ragged_rows_become_row_problems(write_csv):
    decl = load_declarations(write_csv("declaration_id,hs_code\nA,2805\nB,2846,surplus\n"))
    assert len(decl) == 2
    assert decl.invalid.tolist() == [False, True]
    assert decl.problems["problem"].iloc[0] == "expected 2 fields as in the header"


def test_load_from_a_dataframe():
    decl = load_declarations(pd.DataFrame({"declaration_id": ["A"], "hs_code": ["2805"]}))
    assert decl.source == "<table>" and decl.table["hs4"].tolist() == ["2805"]


def test_missing_required_column_stops_with_file_name(write_csv):
    path = write_csv("declaration_id,tariff_no\nA,2805\n")
    with pytest.raises(InputFileError, match=r"declarations\.csv: missing required column 'hs_code'"):
        load_declarations(path)


def test_mapping_constants_fill_a_column(tmp_path, write_csv):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("columns: {declaration_id: ref, hs_code: code}\nconstants: {direction: export}\n")
    decl = load_declarations(write_csv("ref,code\nA,2805\n"), mapping)
    assert decl.table["direction"].tolist() == ["export"]
    assert decl.unmapped == []


CANONICAL = [f.name for f in FIELDS]
messy_cell = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=10),
    st.sampled_from(["", " ", "CN", "China", "2025-02-30", "2025-01-01", "-1", "1e400", "NaN", "0101.21",
                     "mail", "bottles", "=1+1", "EUR", "XXQ", "12,5", "inf"]),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(columns=st.lists(st.sampled_from([c for c in CANONICAL if c not in ("declaration_id", "hs_code")]),
                        min_size=1, max_size=6, unique=True),
       data=st.data())
def test_random_declarations_never_crash_and_never_lose_a_row(tmp_path_factory, columns, data):
    """Any cell content in any canonical column: every row comes back once, in order,
    invalid rows carry their errors, and each problem names a real row."""
    n = data.draw(st.integers(min_value=1, max_value=12))
    rows = [[f"id{i}", data.draw(messy_cell)] + [data.draw(messy_cell) for _ in columns] for i in range(n)]
    path = tmp_path_factory.mktemp("decl") / "random.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["declaration_id", "hs_code", *columns])
        writer.writerows(rows)
    decl = load_declarations(path)
    assert decl.raw["declaration_id"].tolist() == [f"id{i}" for i in range(n)]
    assert len(decl.table) == n
    assert decl.problems["row"].between(1, n).all()
    assert (decl.errors[decl.invalid] != "").all() and (decl.errors[~decl.invalid] == "").all()


def test_shipped_partner_layout_maps_onto_the_same_declarations():
    """The same rows in another system's layout load to the same canonical table."""
    from tests.conftest import REPO
    partner = load_declarations(REPO / "sample_data" / "partner_layout.csv",
                                REPO / "sample_data" / "partner_layout.yaml")
    canonical = load_declarations(pd.read_csv(REPO / "sample_data" / "declarations.csv", dtype=str,
                                              keep_default_na=False, nrows=len(partner)))
    # A typo-date such as 03/04/2025 is an error in the ISO file but a valid day-first
    # date in the partner's layout; every other cell must load identically.
    dated = canonical.table["declaration_date"].notna()
    pd.testing.assert_frame_equal(partner.table[dated], canonical.table[dated], check_dtype=False)
    assert set(partner.problems["row"]) <= set(canonical.problems["row"])


def test_parquet_list_struct_map_and_binary_columns_become_marked_rows(tmp_path):
    """Before: a Parquet map column stopped the run with an ArrowTypeError, a binary
    column with bytes that are not UTF-8 with a UnicodeDecodeError, and a list column
    mapped to a name field was silently read as the text "['Acme']"."""
    path = tmp_path / "nested.parquet"
    pq.write_table(pa.table({
        "declaration_id": ["A", "B"],
        "hs_code": pa.array([b"2805301200", b"\xff805"]),
        "exporter": pa.array([["Acme"], ["Bolt", "Nut"]]),
        "consignee": pa.array([{"name": "Acme", "city": "Oslo"}, None]),
        "declarant": pa.array([[("id", 1)], [("id", 2)]], pa.map_(pa.string(), pa.int64())),
    }), path)
    decl = load_declarations(path)
    assert decl.table["hs_code"].tolist()[0] == "2805301200"
    assert decl.table[["exporter", "consignee", "declarant"]].isna().all().all()
    # pyarrow before 20 infers a record's fields in sorted order: either order is the type.
    problems = decl.problems.replace({"problem": {"struct<city: string, name: string>": "struct<name: string, city: "
                                                  "string>"}}, regex=True)
    assert problems[["row", "column", "problem"]].values.tolist() == [
        [1, "exporter", "expected one value per cell, found a list (type list<item: string>)"],
        [1, "consignee", "expected one value per cell, found a record (type struct<name: string, city: string>)"],
        [1, "declarant", "expected one value per cell, found several values (as in a map or list column)"],
        [2, "hs_code", "expected UTF-8 text, found other bytes"],
        [2, "exporter", "expected one value per cell, found a list (type list<item: string>)"],
        [2, "declarant", "expected one value per cell, found several values (as in a map or list column)"]]
    assert decl.problems["value"].iloc[3] == "\\xff805"


def test_a_numeric_parquet_hs_code_column_restores_the_zero_and_marks_the_row(tmp_path):
    """Before: HS 0101210000 written to Parquet as an integer read as chapter 10."""
    path = tmp_path / "numeric.parquet"
    pq.write_table(pa.table({"declaration_id": ["A", "B", "C"],
                             "hs_code": pa.array([101210000, 2805301200, None], pa.int64())}), path)
    decl = load_declarations(path)
    assert decl.table["hs_code"].tolist()[:2] == ["0101210000", "2805301200"]
    assert decl.table["hs2"].tolist()[:2] == ["01", "28"]
    assert decl.errors.tolist() == [
        "hs_code: read as the number 101210000; leading zero restored as 0101210000", "",
        "hs_code: missing hs_code (required)"]


def test_a_full_width_hs_code_meets_the_critical_licence_rule():
    """Before: HS ２８０５３０１２００ (full-width digits) passed validation, matched no rule and
    evaded RE-LICENCE-001, the critical rule on unlicensed controlled rare-earth exports."""
    import detector

    decl = load_declarations(pd.DataFrame([{
        "declaration_id": "A", "hs_code": "２８０５.３０.１２００", "declaration_date": "٢٠٢٥-٠٦-١٠",
        "export_country": "CN", "license_number": "", "description": "dysprosium metal"}]))
    output = detector.score(decl, model=None).output
    assert output["rule_hits"].tolist() == ["RE-LICENCE-001"]
    assert output["hs_code"].tolist() == ["２８０５.３０.１２００"]  # the file's own cell, unchanged


def test_shipped_bacuda_mapping_reads_its_anonymised_countries(tmp_path):
    """Before: every row of the WCO BACUDA layout was invalid, 'unknown country', since
    its countries are anonymised codes."""
    path = tmp_path / "bacuda.csv"
    path.write_text(
        "sgd.id,sgd.date,importer.id,declarant.id,country,office.id,tariff.code,quantity,gross.weight,"
        "fob.value,cif.value,total.taxes,illicit,revenue\n"
        "SGD1,13-01-02,IMP826164,DEC4819,QLRUMZ,OFFICE0,8703241000,1,1657,7202.0,7595.0,3346.0,0,0.0\n"
        "SGD2,13-01-02,IMP837219,DEC6905,412,OFFICE1,8517120000,35,9,5000.0,5200.0,800.0,1,120.5\n"
        "SGD3,13-01-03,IMP837219,DEC6905,QLRUMZ,OFFICE1,3004909000,2,40,1200.0,1300.0,90.0,0,0.0\n")
    decl = load_declarations(path, "wco_bacuda")
    assert decl.invalid.tolist() == [False, False, False]
    assert decl.table["origin_country"].tolist() == ["QLRUMZ", "412", "QLRUMZ"]
    assert decl.table["declaration_date"].tolist()[0] == pd.Timestamp("2013-01-02")
    assert decl.unmapped == ["cif.value", "total.taxes", "illicit", "revenue"]
