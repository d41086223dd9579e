"""Synthetic declarations are written the many ways real files write them.

Before: the generator wrote every scheme the same way (10-digit codes, English goods,
the six canonical modes, alpha-2 countries, one spelling per party, bottles in kg), so
the shipped sample measured the detector only on its own wording. Each test compares a
file with the same file written plainly: the writing changes how cells read, never what
they say.
"""

import numpy as np
import pandas as pd
import pytest

import detector
from detector import synthetic
from detector.synthetic import generate

ROWS, SEED = 50_000, 11
LITRES = ("l", "L", "LTR", "litres", "升")


def plain_generate(rows: int, **options) -> pd.DataFrame:
    """The same declarations with every cell as the generator drafts it (no writing
    habits): the reference the written file is compared with, row by row."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(synthetic, "_write_as_declarants_do", lambda rng, world, draft, cells: None, raising=False)
        return generate(rows, **options)


@pytest.fixture(scope="module")
def written() -> pd.DataFrame:
    return generate(ROWS, seed=SEED)


@pytest.fixture(scope="module")
def plain() -> pd.DataFrame:
    return plain_generate(ROWS, seed=SEED)


@pytest.fixture(scope="module")
def read(written) -> pd.DataFrame:
    """The written file as the schema reads it: canonical codes, modes and countries."""
    return detector.load_declarations(written).table


def digits(codes: pd.Series) -> pd.Series:
    return codes.str.replace(r"[.\s]", "", regex=True)


def test_writing_changes_no_value_label_or_row(written, plain):
    """Values, weights, ids, dates and labels are those of the plain file; only the
    quantity of goods declared by volume moves (litres instead of kg or pieces)."""
    by_volume = written["quantity_unit"].isin(LITRES) & ~plain["quantity_unit"].eq("l")
    for column in ("declaration_id", "declaration_date", "direction", "declarant", "gross_weight_kg",
                   "net_weight_kg", "declared_value", "currency", "package_type", "package_count",
                   "license_number", "label", "pattern"):
        pd.testing.assert_series_equal(written[column], plain[column])
    pd.testing.assert_series_equal(written.loc[~by_volume, "quantity"], plain.loc[~by_volume, "quantity"])


def test_hs_codes_at_6_8_and_10_digits_some_dotted(written, plain):
    lengths = digits(written["hs_code"]).str.len().value_counts(normalize=True)
    assert set(lengths.index) == {6, 8, 10}
    assert lengths[10] > 0.6 and lengths[6] > 0.03 and lengths[8] > 0.03
    dotted = written["hs_code"].str.contains(".", regex=False)
    assert 0.05 < dotted.mean() < 0.25
    assert written["hs_code"].str.fullmatch(r"\d{4}\.\d{2}\.\d{2}").any()  # 2846.90.19
    # Each written code is the start of the drafted line: shorter, never another code.
    assert all(line.startswith(code) for line, code in zip(plain["hs_code"], digits(written["hs_code"])))
    # Postal forms (CN22/CN23) ask for six digits: parcels carry them more often.
    parcel = plain["transport_mode"].isin(["post", "express"])
    six = digits(written["hs_code"]).str.len() == 6
    assert six[parcel].mean() > 3 * six[~parcel].mean()


def test_descriptions_carry_chinese_formulas_grades_pinyin_and_misspellings(written, plain):
    text = written["description"] + " " + written["remarks"]
    for pattern in (r"[\u4e00-\u9fff]", r"Dy2O3|Tb4O7", r"Nd2Fe14B|SmCo5|Sm2Co17", r"N42SH|N45UH|N38EH",
                    r"氧化镝|氧化铽", r"钕铁硼磁铁", r"稀土", r"机器零件", r"非中国原产|非中国制造|原产地非中国",
                    r"dysprosuim|neodimium", r"Terfenol-D", r"yanghua di|nie fen"):
        assert text.str.contains(pattern).any(), pattern
    cjk = written["description"].str.contains(r"[\u4e00-\u9fff]")
    assert 0.005 < cjk.mean() < 0.1  # most rows stay plain
    rare_earth = plain["hs_code"].str.startswith(("2805", "2846", "8505111"))
    assert cjk[rare_earth].mean() > 0.03
    for label in (0, 1):  # honest and smuggling declarations alike
        assert cjk[written["label"] == label].any()


def test_transport_modes_as_carriers_and_chinese_words_read_as_the_mode(written, plain, read):
    modes = written["transport_mode"]
    for word in ("DHL", "FedEx", "UPS", "SF Express", "EMS", "China Post ePacket", "快递", "邮政", "海运", "空运"):
        assert (modes == word).any(), word
    assert modes.isin(["sea", "air", "road", "rail", "post", "express"]).mean() > 0.8
    assert (read["transport_mode"].to_numpy() == plain["transport_mode"].to_numpy()).all()
    parcel_fraud = written["pattern"].isin(["mail_splitting", "ceramic_concealment"]) & \
        plain["transport_mode"].isin(["post", "express"])
    assert (~modes[parcel_fraud].isin(["post", "express"])).any()  # smugglers' parcels by carrier too


def test_countries_as_alpha3_and_names_read_as_the_same_code(written, plain, read):
    origin = written["origin_country"]
    assert 0.02 < origin.str.fullmatch(r"[A-Z]{3}").mean() < 0.1
    assert 0.02 < (origin.str.len() > 3).mean() < 0.1
    for column in ("origin_country", "export_country", "destination_country"):
        readable = read[column].notna().to_numpy()  # all but the planted misspellings
        assert readable.mean() > 0.998
        assert (read[column].to_numpy()[readable] == plain[column].to_numpy()[readable]).all(), column


def test_quantity_units_as_rec20_codes_and_words(written, plain):
    units = written["quantity_unit"]
    for unit in ("KGM", "kg", "PCS", "pieces", "SET", "MTK", "LTR", "TNE"):
        assert (units == unit).any(), unit
    tiles = plain["hs_code"] == "6907210000"
    assert units[tiles].isin(["m2", "MTK", "sqm", "M2", "平方米"]).all()
    assert units.isin(plain["quantity_unit"].unique()).mean() > 0.6  # most stay as drafted
    assert detector.load_declarations(written).problems["field"].ne("quantity_unit").all()


def test_bottles_declared_in_litres_weigh_as_their_contents(written):
    bottles = written[written["package_type"].isin(["BO", "FL", "CA"]) & written["quantity_unit"].isin(LITRES)]
    kg_per_litre = pd.to_numeric(bottles["net_weight_kg"], errors="coerce") / pd.to_numeric(bottles["quantity"])
    concealed = bottles["pattern"] == "bottle_concealment"
    honest = bottles["label"] == 0
    assert concealed.sum() >= 10 and honest.sum() >= 100
    assert (kg_per_litre[concealed] > 1.4).all()  # powder in "mineral water" or "parts" bottles
    assert kg_per_litre[honest].between(0.8, 1.2).mean() > 0.99  # oils, inks, greases
    water = bottles["description"].str.contains(r"(?i)mineral water|drinking water|矿泉水")
    assert (water & concealed).any()


def test_party_names_vary_within_a_split_series_and_across_declarations(written, plain):
    split = plain["pattern"] == "mail_splitting"
    pairs = pd.DataFrame({"exporter": plain["exporter"], "consignee": plain["consignee"],
                          "written": written["exporter"] + " / " + written["consignee"]})[split]
    spellings = pairs.groupby(["exporter", "consignee"])["written"].nunique()
    assert (spellings > 1).mean() > 0.3
    clean = plain["label"] == 0
    per_party = pd.DataFrame({"party": plain["exporter"], "written": written["exporter"]})[clean]
    busy = per_party.groupby("party")["written"].agg(["size", "nunique"]).query("size >= 20")
    assert (busy["nunique"] > 1).mean() > 0.5
    changed = (written["exporter"] != plain["exporter"]).mean()
    assert 0.1 < changed < 0.5  # most declarations keep the party's usual spelling
    assert written["exporter"].str.contains("有限公司|Co Ltd|CO.,LTD").any()
    assert written["exporter"].str.fullmatch(r"[^a-z]+").any()  # typed in capitals


def test_a_declarant_keeps_its_writing_habits(written, plain):
    """An exporter's declarations mostly write codes and countries one way, as one
    system would; the habit is the exporter's, drawn the same way for every label."""
    style = np.select([written["origin_country"].str.fullmatch(r"[A-Z]{3}"),
                       written["origin_country"].str.len() > 3], ["alpha3", "name"], "alpha2")
    frame = pd.DataFrame({"exporter": plain["exporter"], "style": style})
    busy = frame.groupby("exporter").filter(lambda rows: len(rows) >= 30)
    usual = busy.groupby("exporter")["style"].agg(lambda styles: styles.value_counts(normalize=True).iloc[0])
    assert usual.median() > 0.8 and (style != "alpha2").any()
    assert (pd.Series(style)[written["label"].to_numpy() == 1] != "alpha2").mean() < 0.3
