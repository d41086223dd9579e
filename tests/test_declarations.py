import csv

import pandas as pd
import pytest

from detector import load_declarations
from detector.errors import InputFileError


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


from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.schema import FIELDS

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
