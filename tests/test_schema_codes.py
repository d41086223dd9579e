"""Codes, units and unreadable cells: carriers and Chinese transport words, national
codes through a mapping, package words, quantity units, a pack's own synonym tables,
directions, and the cells validation could not read."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import detector
from detector.declarations import load_declarations
from detector.errors import ReferenceTableError
from detector.rules import load_rules
from detector.schema import load_mapping, validate
from tests.conftest import frame

RARE_EARTH_PACK = """
pack: test-unreadable
rules:
  - id: T-UNREAD-001
    title: Unreadable transport mode on rare-earth goods
    description: An unreadable mode on goods naming a rare earth is evidence.
    pattern: unreadable_cell
    severity: medium
    when:
      all:
        - keywords: {fields: [description], any: [dysprosium, rare earth]}
        - unreadable: {field: transport_mode, as: mode_written}
    reason: "transport mode '{mode_written}' unreadable on '{description}'"
    references: ["test"]
    examples:
      hit:
        - {hs_code: "2846901920", description: "dysprosium oxide", transport_mode: "by pigeon"}
        - {hs_code: "2846901920", description: "rare earth oxide", transport_mode: "teleport"}
      miss:
        - {hs_code: "2846901920", description: "dysprosium oxide", transport_mode: "DHL"}
        - {hs_code: "2846901920", description: "dysprosium oxide", transport_mode: "", note: "empty, not unreadable"}
"""


def read(field: str, cells: list[str]) -> list:
    """What validation makes of ``cells`` in ``field`` (None where missing)."""
    values = validate(frame([{field: cell} for cell in cells])).table[field]
    return [None if pd.isna(value) else value for value in values]


@pytest.mark.parametrize("typed, expected", [
    ("DHL", "express"), ("DHL air express", "express"), ("FedEx International Priority", "express"),
    ("UPS", "express"), ("TNT", "express"), ("SF Express", "express"), ("顺丰", "express"),
    ("经顺丰快递", "express"), ("China Post", "post"), ("China Post ePacket", "post"),
    ("air mail", "post"), ("Yanwen", "post"), ("4PX", "post"), ("Cainiao", "post"),
    ("Royal Mail via YunExpress", "post"), ("邮政快递", "post"), ("邮寄", "post"), ("海运", "sea"),
    ("by sea then truck", "sea"), ("空运", "air"), ("快递", "express"), ("铁路", "rail"),
    ("中欧班列", "rail"), ("公路运输", "road"), ("CR Express", "rail"),
])
def test_carrier_names_and_chinese_words_name_the_transport_mode(typed, expected):
    """Before: only the bare words of transport_modes.csv were read, so "DHL", "China
    Post ePacket" or 海运 were unknown modes: missing, and every channel rule unknown."""
    assert read("transport_mode", [typed]) == [expected]


def test_mode_words_inside_other_words_and_bare_codes_in_text_are_not_read():
    """A mode word counts as a whole word ("ship" is not in "shipment") and a Rec 19
    digit or "other" only as the whole cell, so free text does not invent a mode."""
    assert read("transport_mode", ["shipment", "pipeline of orders", "lot 4", "6"]) == [None, None, None, "other"]


def test_gacc_codes_read_through_the_shipped_china_customs_mapping():
    """Before: there was no mapping for China's declaration layout, and GACC's code 5
    (air) read as Rec 19's 5 (post), 6 (post) as 6 (multimodal), 2 (waterway) as rail."""
    columns = load_mapping("china_customs").columns
    row = {columns[field]: value for field, value in {
        "declaration_id": "531620250001234567", "declaration_date": "20250710", "hs_code": "2846901920",
        "description": "氧化镝", "transport_mode": "5", "quantity": "20", "quantity_unit": "035",
        "gross_weight_kg": "21", "net_weight_kg": "20", "declared_value": "5200", "currency": "USD",
        "origin_country": "CHN", "destination_country": "JPN", "package_type": "纸箱", "package_count": "1",
        "exporter": "赣州某稀土有限公司", "consignee": "Tokyo Metals KK", "declarant": "赣州报关行",
        "license_number": "", "remarks": ""}.items()}
    table = frame([{**row, columns["declaration_id"]: f"53162025000123456{n}", columns["transport_mode"]: mode}
                   for n, mode in enumerate(["5", "2", "6"])])
    declarations = load_declarations(table, "china_customs")
    assert declarations.problems.empty, declarations.problems.to_dict("records")
    got = declarations.table
    assert got["transport_mode"].tolist() == ["air", "sea", "post"]
    assert got[["quantity_unit", "direction", "export_country", "origin_country", "package_type"]].iloc[0].tolist() \
        == ["KGM", "export", "CN", "CN", "CT"]
    assert str(got["declaration_date"].iloc[0].date()) == "2025-07-10"
    # Without the mapping the same digit is a Rec 19 code, as the default table says.
    assert read("transport_mode", ["5", "2"]) == ["post", "rail"]


@pytest.mark.parametrize("typed, expected", [
    ("plastic bottle", "BO"), ("PET bottles", "BO"), ("glass bottle", "BO"), ("bottles (plastic)", "BO"),
    ("瓶", "BO"), ("塑料瓶", "BO"), ("玻璃瓶", "BO"), ("桶", "DR"), ("塑料桶", "IH"), ("袋", "BG"),
    ("编织袋", "5H"), ("纸箱", "CT"), ("木箱", "7B"), ("托盘", "PX"), ("3 cartons on 1 pallet", "CT"),
])
def test_package_words_become_rec21_codes(typed, expected):
    """Before: only exact words were known, so "plastic bottle" stayed PLASTIC BOTTLE
    and 瓶 stayed 瓶, and no rule on liquid containers (BO) saw the bottles."""
    assert read("package_type", [typed]) == [expected]


@pytest.mark.parametrize("typed, expected", [
    ("kg", "KGM"), ("KGS", "KGM"), ("千克", "KGM"), ("公斤", "KGM"), ("t", "TNE"), ("g", "GRM"),
    ("L", "LTR"), ("litres", "LTR"), ("升", "LTR"), ("ml", "MLT"), ("pcs.", "H87"), ("PCE", "H87"),
    ("C62", "H87"), ("个", "H87"), ("件", "H87"), ("set", "SET"), ("套", "SET"), ("m2", "MTK"),
    ("平方米", "MTK"), ("pr", "PR"), ("bottles", "XBO"), ("lot", "LO"),
])
def test_quantity_units_become_rec20_codes(typed, expected):
    """Before: quantity_unit was free text, so "kg", "KGM" and 千克 were three units
    and no rule could compare a weight with a quantity in litres."""
    assert read("quantity_unit", [typed]) == [expected]


def test_an_unknown_quantity_unit_is_a_row_problem_and_unreadable():
    """Before: any text was a unit, so a unit no one can convert went unnoticed."""
    result = validate(frame([{"quantity_unit": "furlongs"}, {"quantity_unit": ""}, {"quantity_unit": "kg"}]))
    assert result.problems["row"].tolist() == [1]
    assert "unknown quantity unit" in result.problems["problem"].iloc[0]
    assert result.unreadable["quantity_unit"].notna().tolist() == [True, False, False]
    assert result.unreadable["quantity_unit"].iloc[0] == "furlongs"


def test_a_bottle_declared_in_litres_gives_its_weight_per_litre():
    """Before: quantity and its unit were not read, so 24 L of "mineral water"
    weighing 60 kg (2.5 kg/L: a powder, not water) could not be told from water."""
    table = load_declarations(frame([
        {"declaration_id": "1", "hs_code": "2201100000", "description": "mineral water", "quantity": "24",
         "quantity_unit": "L", "net_weight_kg": "60", "gross_weight_kg": "63", "package_type": "PET bottles"},
        {"declaration_id": "2", "hs_code": "2201100000", "description": "mineral water", "quantity": "12000",
         "quantity_unit": "毫升", "net_weight_kg": "", "gross_weight_kg": "12.6", "package_type": "瓶"},
        {"declaration_id": "3", "hs_code": "8483409000", "description": "machinery parts", "quantity": "40",
         "quantity_unit": "pcs", "net_weight_kg": "20", "gross_weight_kg": "22", "package_type": "BO"},
    ])).table
    assert table["litres"].tolist()[:2] == [24.0, 12.0]
    assert table["kg_per_litre"].round(3).tolist()[:2] == [2.5, 1.05]
    assert np.isnan(table["litres"].iloc[2]) and np.isnan(table["kg_per_litre"].iloc[2])
    assert table["kg_per_piece"].iloc[2] == 0.5
    assert table["package_type"].tolist() == ["BO", "BO", "BO"]


@pytest.mark.parametrize("typed, expected", [
    ("出口", "export"), ("进口", "import"), ("EX", "export"), ("IM", "import"),
    ("Exportation", "export"), ("importation", "import"),
])
def test_directions_in_chinese_and_as_codes(typed, expected):
    """Before: 出口, EX or "exportation" were no direction: the row was invalid and
    no rule could tell an export from an import."""
    assert read("direction", [typed]) == [expected]


def test_a_pack_reference_folder_extends_the_shipped_synonym_tables(tmp_path):
    """Before: only the shipped synonym tables were read, so a carrier, package word or
    unit that an office's pack lists in its own reference/ folder stayed unreadable."""
    (tmp_path / "reference").mkdir()
    (tmp_path / "reference" / "transport_modes.csv").write_text(
        "mode,synonyms,carriers,note\nrail,,eurasia land bridge|义新欧,local block-train operators\n",
        encoding="utf-8")
    (tmp_path / "reference" / "package_types.csv").write_text(
        "code,name,synonyms,category\nBO,bottle,蓝瓶,liquid_container\n", encoding="utf-8")
    (tmp_path / "reference" / "quantity_units.csv").write_text(
        "code,name,synonyms,dimension,factor,source\nBLL,barrel (US),bbl|barrels,volume,158.987294928,Rec 20\n",
        encoding="utf-8")
    (tmp_path / "pack.yaml").write_text(RARE_EARTH_PACK.replace(
        "- unreadable: {field: transport_mode, as: mode_written}", "- equals: {field: transport_mode, value: rail}")
        .replace("{mode_written}", "{transport_mode}"), encoding="utf-8")
    rules = load_rules([tmp_path], include_default=False)
    folders = rules.reference_dirs
    rows = frame([
        {"declaration_id": "1", "hs_code": "2846901920", "description": "dysprosium oxide",
         "transport_mode": "Eurasia Land Bridge", "package_type": "蓝瓶", "quantity": "2", "quantity_unit": "bbl",
         "net_weight_kg": "636"},
        {"declaration_id": "2", "hs_code": "2846901920", "description": "dysprosium oxide",
         "transport_mode": "sea", "package_type": "bottles", "quantity": "2", "quantity_unit": "kg",
         "net_weight_kg": "2"},
    ])
    extended = load_declarations(rows, reference_dirs=folders)
    assert extended.problems.empty, extended.problems.to_dict("records")
    assert extended.table["transport_mode"].tolist() == ["rail", "sea"]  # the shipped words still read
    assert extended.table["package_type"].tolist() == ["BO", "BO"]
    assert extended.table["quantity_unit"].tolist() == ["BLL", "KGM"]
    assert extended.table["kg_per_litre"].round(2).iloc[0] == 2.0
    assert detector.score(extended, rules, model=None).rule_results.hits["T-UNREAD-001"].tolist() == [True, False]
    shipped_only = load_declarations(rows)
    assert shipped_only.problems["field"].tolist() == ["transport_mode", "quantity_unit"]


def test_a_pack_synonym_table_without_its_key_column_is_refused(tmp_path):
    """A pack's table that cannot be read as synonyms stops with the file named, rather
    than silently adding nothing."""
    (tmp_path / "transport_modes.csv").write_text("carrier,mode\nfoo,sea\n", encoding="utf-8")
    with pytest.raises(ReferenceTableError, match="transport_modes.csv: lacks column"):
        validate(frame([{"transport_mode": "foo"}]), reference_dirs=(Path(tmp_path),))


def test_unreadable_mode_on_rare_earth_goods_is_evidence_and_the_row_stays_invalid(tmp_path):
    """Before: an unknown transport mode became missing, every rule on the mode was
    unknown and a rare-earth parcel sent by an unreadable channel went green; no
    predicate could tell the unreadable cell from an empty one."""
    pack = tmp_path / "pack.yaml"
    pack.write_text(RARE_EARTH_PACK, encoding="utf-8")
    rules = load_rules([pack], include_default=False)
    declarations = load_declarations(frame([
        {"declaration_id": str(n), "hs_code": hs_code, "description": goods, "transport_mode": mode}
        for n, (hs_code, goods, mode) in enumerate([
            ("2846901920", "dysprosium oxide", "by pigeon"), ("2846901920", "dysprosium oxide", ""),
            ("2846901920", "dysprosium oxide", "DHL"), ("6907210000", "floor tiles", "by pigeon")])]))
    result = detector.score(declarations, rules, model=None)
    assert result.rule_results.hits["T-UNREAD-001"].tolist() == [True, False, False, False]
    assert result.output["lane"].iloc[0] != "green"
    assert result.rule_results.reasons["T-UNREAD-001"].tolist() == [
        "transport mode 'by pigeon' unreadable on 'dysprosium oxide'"]
    assert result.output["status"].tolist() == ["invalid", "valid", "valid", "invalid"]
    assert "unknown transport mode" in result.output["errors"].iloc[0]


def test_score_from_the_command_line_reads_a_pack_reference_folder(tmp_path):
    """Before: `detector score --rules DIR` read the pack's rules but not its synonym
    tables, so a carrier the office's pack lists stayed an unknown transport mode."""
    from typer.testing import CliRunner

    from detector.cli import app

    (tmp_path / "reference").mkdir()
    (tmp_path / "reference" / "transport_modes.csv").write_text(
        "mode,synonyms,carriers,note\npost,,hermes wings,a local postal operator\n", encoding="utf-8")
    (tmp_path / "pack.yaml").write_text(RARE_EARTH_PACK, encoding="utf-8")
    source = tmp_path / "in.csv"
    source.write_text("declaration_id,hs_code,description,transport_mode\n"
                      "1,2846901920,dysprosium oxide,Hermes Wings\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["score", str(source), "-o", str(out), "--rules", str(tmp_path),
                                      "--no-anomaly", "--quiet"])
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert scored["status"].tolist() == ["valid"] and scored["errors"].tolist() == [""]


def test_a_licence_placeholder_is_no_licence():
    """Before: "N/A", "applying" or 无 in the licence column counted as a licence held,
    so the licence rules never fired on those rows; then "—", "XK-0000000", "to be
    provided" and "applying / 申请中" still did (an unnumbered or pending licence)."""
    cells = ["N/A", "applying", "无", "Pending.", "CN-EXL-2025-001532", "", "—", "XK-0000000",
             "to be provided", "applying / 申请中", "2025-XK-0113 (pending)", "25XK0041873", "No. 2025-118"]
    rows = frame([{"declaration_id": str(i), "hs_code": "2805301200", "license_number": text}
                  for i, text in enumerate(cells)])
    table = load_declarations(rows).table
    held = table["license_number"].notna().tolist()
    assert held == [False, False, False, False, True, False, False, False, False, False, False, True, True]


def test_numbers_with_thousands_separators_are_read():
    """Before: 1,240,000 (as invoices write it) was "expected a number", the value
    missing and every price rule silent on the row."""
    values = ["1,050", "1,240,000", "1 234 567.5", "1'000", "250.5", "1,5", "12,34"]
    rows = frame([{"declaration_id": str(i), "hs_code": "2846", "declared_value": v} for i, v in enumerate(values)])
    declarations = load_declarations(rows)
    assert declarations.table["declared_value"].tolist()[:5] == [1050.0, 1240000.0, 1234567.5, 1000.0, 250.5]
    assert declarations.problems["value"].tolist() == ["1,5", "12,34"]  # a decimal comma is not guessed
