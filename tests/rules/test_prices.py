"""Price bands per element and form, and the ``below_price_band`` predicate."""

from pathlib import Path

import pytest

from detector.derived import derive
from detector.errors import ReferenceTableError, RulePackError
from detector.reference import iso_dates, load_reference
from detector.rules.engine import evaluate_rule
from detector.rules.parse import parse_rules
from detector.schema import validate
from tests.conftest import frame

RULE = {"below_price_band": {"ratio": 0.5, "as": "band"}}


def rule(when=RULE, reason="{band}", reference_dirs=()):
    item = {"id": "T-PRICE-001", "title": "t", "description": "d", "pattern": "p", "severity": "high",
            "when": when, "reason": reason,
            "examples": {"hit": [{"hs_code": "2805"}], "miss": [{"hs_code": "2805"}]}}
    return parse_rules([item], Path("t.yaml"), tuple(reference_dirs))[0]


def declarations(rows):
    """Declarations as a file gives them: value, currency and weight, so value_per_kg
    is derived (and converted to USD) the way scoring derives it."""
    base = {"hs_code": "", "description": "", "remarks": "", "declared_value": "", "currency": "USD",
            "net_weight_kg": "100", "gross_weight_kg": "104"}
    return derive(validate(frame([{**base, **row} for row in rows])).table)


def hits(rows, **kwargs):
    found, _ = evaluate_rule(rule(**kwargs), declarations(rows))
    return found.tolist()


@pytest.fixture
def dysprosium_oxide_line(tmp_path):
    """A pack's own reference folder whose HS table has a national line of dysprosium
    oxide (the shipped table may not have one yet)."""
    (tmp_path / "rare_earth_hs.csv").write_text(
        "hs_prefix,level,goods,elements,scope,price_band,source\n"
        "284690,HS6,other compounds of rare-earth metals,REE,rare_earth,,test\n"
        "2846901500,CN10,dysprosium oxide,Dy,rare_earth,,test\n", encoding="utf-8")
    return tmp_path


def test_undervalued_dysprosium_oxide_is_hit_by_its_hs_line(dysprosium_oxide_line):
    """Before: one floor (100 USD/kg, on Dy/Tb metal, chloride and fluoride lines only)
    let a dysprosium oxide line through at 20 USD/kg, a tenth of its price; the line
    alone (description a cover name), or an 8-digit code covering it, now says what
    the goods are."""
    assert hits([{"hs_code": "2846901500", "description": "ceramic raw material", "declared_value": "2000"},
                 {"hs_code": "28469015", "description": "powder", "declared_value": "2000"},
                 {"hs_code": "2846901500", "description": "ceramic raw material", "declared_value": "25000"}],
                reference_dirs=[dysprosium_oxide_line]) == [True, True, False]


def test_undervalued_dysprosium_oxide_is_hit_by_its_words_after_converting_cny():
    """Before: "dysprosium oxide" under the catch-all oxide line 2846901999 had no price
    check at all. 50,000 CNY for 100 kg is about 71 USD/kg (under half of 180, the low
    end); the same number in USD is 500 USD/kg and no hit, so the value is compared
    after conversion, not as written."""
    assert hits([{"hs_code": "2846901999", "description": "rare earth oxide", "remarks": "dysprosium oxide 99.5%",
                  "declared_value": "50000", "currency": "CNY"},
                 {"hs_code": "2846901999", "description": "dysprosium oxide 99.5%",
                  "declared_value": "50000", "currency": "USD"},
                 {"hs_code": "7504000000", "description": "dysprosium oxide", "declared_value": "500"}]) \
        == [True, False, True]


def test_ndfeb_magnet_under_its_band_is_hit_and_a_ferrite_magnet_is_not():
    """Before: magnets had no price check. NdFeB exports average about 47 USD/kg; at
    1 USD/kg they are not what is declared. A ferrite magnet under the same 850511
    heading names no rare earth and is no hit at a ferrite price."""
    assert hits([{"hs_code": "850511", "description": "NdFeB magnets N42", "declared_value": "100"},
                 {"hs_code": "8505111000", "description": "magnets", "declared_value": "100"},
                 {"hs_code": "850511", "description": "ferrite magnets", "declared_value": "100"},
                 {"hs_code": "850511", "description": "NdFeB magnets N42", "declared_value": "4500"}]) \
        == [True, True, False, False]


def test_correctly_priced_heavy_rare_earths_are_not_hit():
    """A dysprosium oxide at China's own price (about 220 USD/kg) and a terbium oxide at
    900 USD/kg are honest exports: the band's low end sits under China's price."""
    assert hits([{"hs_code": "2846901999", "description": "dysprosium oxide Dy2O3 99.5%", "declared_value": "22000"},
                 {"hs_code": "2846901999", "description": "terbium oxide Tb4O7", "declared_value": "90000"},
                 {"hs_code": "2805301200", "description": "dysprosium metal", "declared_value": "30000"}]) \
        == [False, False, False]


def test_cheap_light_rare_earths_at_their_real_price_are_not_hit():
    """Cerium oxide sells at 1-4 USD/kg and lanthanum oxide under 1: a floor meant for
    heavy rare earths must not call them undervalued. Goods named only as "rare earth",
    with no form, could be lanthanum oxide and are not priced at all."""
    assert hits([{"hs_code": "2846101000", "description": "cerium oxide polishing powder", "declared_value": "150"},
                 {"hs_code": "2846901999", "description": "lanthanum oxide 99.99%", "declared_value": "60"},
                 {"hs_code": "7202999191", "description": "rare earth ferrosilicon", "declared_value": "120"},
                 {"hs_code": "2507002000", "description": "kaolin with rare earth additive", "declared_value": "20"}]) \
        == [False, False, False, False]


def test_the_cheapest_band_of_the_goods_named_decides():
    """When the words name dysprosium and cerium oxide, the goods may be either: the
    comparison uses cerium oxide's band, so a mixed honest shipment is not hit."""
    assert hits([{"hs_code": "2846901999", "description": "dysprosium oxide and cerium oxide",
                  "declared_value": "1000"}]) == [False]


def test_unknown_value_is_unknown_not_a_hit():
    """A dysprosium oxide with no declared value is unknown (Kleene), so `not` of the
    predicate does not hit it either; goods without a band are no hit, not unknown."""
    table = declarations([{"hs_code": "2846901999", "description": "dysprosium oxide", "declared_value": ""},
                          {"hs_code": "8471300000", "description": "laptops", "declared_value": ""}])
    assert hits([{"hs_code": "2846901999", "description": "dysprosium oxide", "declared_value": ""}]) == [False]
    negated, _ = evaluate_rule(rule(when={"not": RULE}), table)
    assert negated.tolist() == [False, True]


def test_ceramic_pigments_are_not_priced_as_the_element():
    """Praseodymium yellow stain and yttria-stabilised zirconia hold a few percent of
    the element and sell at ceramic prices (5-8 USD/kg): the element word inside the
    pigment's name is not the goods."""
    assert hits([{"hs_code": "3207100000", "description": "praseodymium yellow stain", "declared_value": "500"},
                 {"hs_code": "3207100000", "description": "pr-zircon yellow", "declared_value": "500"},
                 {"hs_code": "6909120000", "description": "YSZ grinding beads", "declared_value": "800"}]) \
        == [False, False, False]


def test_an_element_named_without_a_form_is_priced_as_the_material_not_a_magnet():
    """"Dy 99.9%" at 15 USD/kg is a tenth of any dysprosium material's price; without
    a form word it is compared with the cheapest material (the chloride), not with the
    NdFeB magnets that hold dysprosium (20 USD/kg)."""
    assert hits([{"hs_code": "7504000000", "description": "dysprosium 99.9% powder", "declared_value": "1500"},
                 {"hs_code": "8505111000", "description": "dysprosium grade", "declared_value": "1500"}]) \
        == [True, False]


def test_the_reason_names_the_band_its_date_and_source():
    """The analyst reads why the value is implausible: the goods' band, when it was
    quoted and where."""
    band = load_reference("price_bands").set_index(["element", "form"]).loc[("Dy", "oxide")]
    _, reasons = evaluate_rule(rule(reason="{value_per_kg:.2f} USD/kg; {band}"), declarations(
        [{"hs_code": "2846901999", "description": "dysprosium oxide", "declared_value": "1234"}]))
    assert reasons.tolist() == [
        f"12.34 USD/kg; market price of dysprosium oxide: {float(band.low_usd_per_kg):,g}-"
        f"{float(band.high_usd_per_kg):,g} USD/kg (FOB China, as of {band.as_of}; {band.source})"]


def test_every_shipped_band_is_well_formed():
    """A band without a date or a source cannot be checked or updated, and a low end
    above the high end (or not a price) would call every honest export undervalued."""
    from detector.rules.prices import price_bands

    table = load_reference("price_bands")
    low, high = table["low_usd_per_kg"].astype(float), table["high_usd_per_kg"].astype(float)
    assert ((low > 0) & (low <= high)).all()
    assert iso_dates(table["as_of"].to_numpy(dtype=object)).all()
    assert (table["source"] != "").all() and (table["goods"] != "").all()
    assert (table["market"] == "FOB China").all()
    assert not table.duplicated(["element", "form"]).any()
    assert len(price_bands()) == len(table)
    named = set(load_reference("rare_earth_terms")["element"].str.split("|").explode()) | {"REE"}
    assert set(table["element"]) <= named, "a band's element must be one the terms can name"


def test_a_malformed_band_is_reported_with_its_file_line(tmp_path):
    """A high end typed below the low end is reported with the file, line and value,
    not used to price goods."""
    from detector.rules.prices import price_bands

    (tmp_path / "price_bands.csv").write_text(
        "element,form,goods,low_usd_per_kg,high_usd_per_kg,market,as_of,source\n"
        "Dy,oxide,dysprosium oxide,180,1100,FOB China,2025-11-06,SMM\n"
        "Tb,oxide,terbium oxide,750,75,FOB China,2025-11-06,SMM\n", encoding="utf-8")
    with pytest.raises(ReferenceTableError, match=r"price_bands.csv: line 3: high_usd_per_kg '75'"):
        price_bands((tmp_path,))


def test_a_ratio_that_is_not_a_fraction_is_refused_when_the_pack_loads():
    """A ratio of 2 would flag every declaration under twice the low end: honest trade."""
    with pytest.raises(RulePackError, match="ratio: expected a fraction"):
        rule(when={"below_price_band": {"ratio": 2}})


def test_recognition_runs_per_distinct_goods_and_reaches_every_row():
    """Rows repeating the same goods share one answer, and a row with an empty
    remarks cell is still read (a missing cell is no reason to skip the goods)."""
    rows = [{"hs_code": "2846901999", "description": "dysprosium oxide", "remarks": remarks,
             "declared_value": value} for remarks in ("", "urgent") for value in ("1000", "30000")] * 3
    assert hits(rows) == [True, False] * 6
