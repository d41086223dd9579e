"""Synthetic declarations: deterministic, valid, realistic and free of label leaks.

A detector measured on synthetic data learns whatever the generator lets slip, so most
tests here guard against a way the data could lie: frauds told apart by their ids or
number formats, chunks that differ with the way they are consumed, planted typos that
are not the only bad cells, schemes or hard negatives that silently vanish.
"""

import gc
import os
import re
import subprocess
import sys
import weakref
from datetime import date

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import detector
from detector import synthetic
from detector.errors import DetectorError
from detector.reference import load_reference
from detector.synthetic import (
    CHUNK_ROWS,
    COLUMNS,
    DECLARATION_COLUMNS,
    PATTERNS,
    SCHEME_SHARES,
    generate,
    generate_chunks,
    write_synthetic,
)
from tests.conftest import REPO
from tests.test_synthetic_writing import plain_generate

RARE_EARTH_HS = ("2805", "2846", "8505111")
CERAMIC_HS = ("2507", "2508", "2529", "3207", "6907")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate(50_000, seed=11)


@pytest.fixture(scope="module")
def clean(frame) -> pd.DataFrame:
    return frame[frame["label"] == 0]


@pytest.fixture(scope="module")
def plain() -> pd.DataFrame:
    """The same declarations as drafted, before declarants' writing habits: for tests of
    the trade itself (who ships what, how), which spellings would only blur."""
    return plain_generate(50_000, seed=11)


@pytest.fixture(scope="module")
def plain_clean(plain) -> pd.DataFrame:
    return plain[plain["label"] == 0]


def numbers(column: pd.Series) -> pd.Series:
    return pd.to_numeric(column, errors="coerce")


# ------------------------------------------------------------------------ determinism


def test_same_seed_gives_the_same_frame_and_another_seed_another():
    first = generate(3000, seed=4)
    pd.testing.assert_frame_equal(first, generate(3000, seed=4))
    other = generate(3000, seed=5)
    assert not first["declaration_id"].isin(other["declaration_id"]).any()
    assert (first["exporter"] != other["exporter"]).mean() > 0.9


def test_output_does_not_depend_on_the_process_or_its_hash_seed():
    # Guards against set or dict ordering leaking into the draw: a notebook and the CLI
    # must write the same file for the same seed.
    probe = ("from detector.synthetic import generate; import pandas as pd; "
             "print(int(pd.util.hash_pandas_object(generate(800, seed=3), index=False).sum()))")
    digests = {subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO,
                              env={**os.environ, "PYTHONHASHSEED": hash_seed}).stdout
               for hash_seed in ("1", "2")}
    here = str(int(pd.util.hash_pandas_object(generate(800, seed=3), index=False).sum())) + "\n"
    assert digests == {here}


def test_chunks_are_contiguous_independent_and_make_up_generate(monkeypatch):
    monkeypatch.setattr(synthetic, "CHUNK_ROWS", 4000)
    chunks = list(generate_chunks(10_000, seed=2))
    assert [len(c) for c in chunks] == [4000, 4000, 2000]
    pd.testing.assert_frame_equal(pd.concat(chunks), generate(10_000, seed=2))
    # Each chunk is a later slice of the dates than the one before it.
    for earlier, later in zip(chunks, chunks[1:]):
        assert pd.to_datetime(earlier["declaration_date"], errors="coerce").max() <= \
               pd.to_datetime(later["declaration_date"], errors="coerce").min()
    # A chunk built alone, or while another stream is half consumed, is the same chunk.
    synthetic._world.cache_clear()
    pd.testing.assert_frame_equal(synthetic._generate_chunk(2, 10_000, 2, 0.02, date(2025, 1, 1), 365), chunks[2])
    one, two = generate_chunks(10_000, seed=2), generate_chunks(10_000, seed=2)
    next(one)
    pd.testing.assert_frame_equal(next(two), chunks[0])
    pd.testing.assert_frame_equal(next(one), chunks[1])


def test_a_million_rows_stream_one_chunk_at_a_time():
    # Each chunk must be built when asked for and dropped once the consumer moves on;
    # a generator that kept chunks alive would need 10 GB for ten million rows.
    sizes, previous = [], None
    for chunk in generate_chunks(1_000_000, seed=1):
        if previous is not None:
            gc.collect()
            assert previous() is None, "the generator still holds the previous chunk"
        assert len(chunk) <= CHUNK_ROWS
        sizes.append(len(chunk))
        previous = weakref.ref(chunk)
        del chunk
    assert sum(sizes) == 1_000_000 and len(sizes) == -(-1_000_000 // CHUNK_ROWS)


# ------------------------------------------------------------------- schema and noise


def test_columns_are_the_canonical_fields_as_text(frame):
    assert tuple(frame.columns) == COLUMNS
    assert set(DECLARATION_COLUMNS) <= {f.name for f in detector.FIELDS}
    assert all(pd.api.types.is_string_dtype(frame[c]) for c in DECLARATION_COLUMNS)
    assert frame["hs_code"].str.replace(r"[.\s]", "", regex=True).str.fullmatch(r"\d{6}|\d{8}|\d{10}").mean() > 0.999
    assert frame["hs_code"].str.startswith("0").any(), "leading zeros of chapters 01-09 must be kept"
    assert frame["declaration_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").mean() > 0.999
    table = detector.load_declarations(frame).table
    assert set(table["transport_mode"]) == {"sea", "air", "road", "rail", "post", "express"}
    currencies = frame["currency"].value_counts(normalize=True)
    assert set(currencies.index) == {"USD", "EUR", "CNY"} and currencies["USD"] > 0.8
    assert set(frame["package_type"]) <= set(load_reference("package_types")["code"])
    countries = set(load_reference("countries")["alpha2"])
    for column in ("origin_country", "export_country", "destination_country"):
        assert table[column].isin(countries).mean() > 0.999
    directions = frame["direction"].value_counts(normalize=True)
    assert 0.7 < directions["export"] < 0.9  # mostly Chinese exports, with other flows
    assert (frame["export_country"] != "CN").mean() > 0.1


def test_the_only_row_problems_are_the_planted_entry_errors(monkeypatch):
    with_errors = generate(20_000, seed=8)
    monkeypatch.setattr(synthetic, "ENTRY_ERROR_RATE", 0.0)
    without = generate(20_000, seed=8)
    assert len(detector.load_declarations(without).problems) == 0
    loaded = detector.load_declarations(with_errors)
    changed = (with_errors[list(DECLARATION_COLUMNS)] != without[list(DECLARATION_COLUMNS)]).any(axis=1).to_numpy()
    # Errors touch one cell of a row and nothing else moves: the rows that differ are
    # exactly the invalid ones, each with one problem.
    assert (changed == loaded.invalid).all()
    assert loaded.problems["row"].is_unique
    assert 0.001 < loaded.invalid.mean() < 0.0035
    assert set(loaded.problems["field"]) == {"declaration_id", "declaration_date", "hs_code", "gross_weight_kg",
                                             "net_weight_kg", "origin_country", "destination_country"}
    pd.testing.assert_series_equal(with_errors["label"], without["label"])


def test_every_misspelt_country_is_rejected_by_validation():
    misspellings = synthetic._countries().misspelling
    table = pd.DataFrame({"declaration_id": [str(i) for i in range(len(misspellings))], "hs_code": "2507002000",
                          "origin_country": misspellings})
    assert detector.load_declarations(table).invalid.all()


# --------------------------------------------------------------------- fraud planting


def test_fraud_rate_and_scheme_shares(frame):
    assert (frame["label"] == (frame["pattern"] != "")).all()
    assert frame["label"].sum() == 1000  # 2% of 50,000, exactly
    shares = frame.loc[frame["label"] == 1, "pattern"].value_counts(normalize=True)
    assert set(shares.index) == set(PATTERNS)
    for pattern, share in SCHEME_SHARES.items():
        assert shares[pattern] == pytest.approx(share, abs=0.01)
    assert generate(5000, seed=1, fraud_rate=0.1)["label"].sum() == 500


def test_every_scheme_appears_in_a_small_file():
    assert set(generate(20_000, seed=21)["pattern"]) == {"", *PATTERNS}


def test_frauds_are_spread_through_a_date_sorted_file(frame):
    dates = pd.to_datetime(frame["declaration_date"], format="%Y-%m-%d", errors="coerce")
    assert dates.dropna().is_monotonic_increasing
    quarterly = frame.groupby(dates.dt.quarter)["label"].mean()
    assert quarterly.between(0.012, 0.028).all()


def test_mail_splitting_comes_in_series_of_small_parcels(plain):
    parcels = plain[plain["pattern"] == "mail_splitting"].assign(
        day=lambda rows: pd.to_datetime(rows["declaration_date"], errors="coerce"))
    pairs = parcels.sort_values("day").groupby(["exporter", "consignee"])
    assert (pairs["day"].transform("size") >= 3).mean() > 0.9
    # A pair may run several series in a year; every parcel has a sibling close by.
    gap_before, gap_after = pairs["day"].diff().dt.days, -pairs["day"].diff(-1).dt.days
    assert (np.fmin(gap_before, gap_after) <= 25).mean() > 0.9
    assert parcels["transport_mode"].isin(["post", "express"]).mean() > 0.85
    assert numbers(parcels["gross_weight_kg"]).median() < 20


def test_weight_manipulation_breaks_weights_that_clean_rows_keep(frame, clean):
    def net_above_gross(rows):
        net, gross = numbers(rows["net_weight_kg"]), numbers(rows["gross_weight_kg"])
        return net > gross.where(gross > 0)  # a planted negative weight is a typo, not a fraud

    assert not net_above_gross(clean).any()
    assert 0.15 < net_above_gross(frame[frame["pattern"] == "weight_manipulation"]).mean() < 0.4


def test_undervaluation_is_far_below_the_price_level_of_its_code(frame):
    table = detector.load_declarations(frame).table
    per_code = table[frame["label"].to_numpy() == 0].groupby("hs_code")["value_per_kg"].median()
    under = table[(frame["pattern"] == "undervaluation").to_numpy()]
    ratio = under["value_per_kg"] / under["hs_code"].map(per_code)
    assert (ratio < 0.5).mean() > 0.9


# ------------------------------------------------------------------ realistic trade


def test_parties_keep_stable_profiles(plain_clean):
    clean = plain_clean
    exporters = clean.groupby("exporter")
    assert 1000 < clean["exporter"].nunique() < 5000 and 1000 < clean["consignee"].nunique() < 5000
    busy = exporters.filter(lambda rows: len(rows) >= 40)
    codes = busy.groupby("exporter")["hs_code"].nunique()
    assert codes.median() <= 5  # an exporter trades a few lines, not the whole tariff
    half = busy["declaration_date"] < "2025-07-01"
    first, second = (busy[part].groupby("exporter")["hs_code"].agg(set) for part in (half, ~half))
    overlap = [bool(first[e] & second[e]) for e in first.index.intersection(second.index)]
    assert np.mean(overlap) > 0.95


def test_values_sit_around_the_catalogue_price_of_each_line(frame, clean):
    table = detector.load_declarations(clean).table
    catalogue = synthetic._catalogue()
    single_line = pd.Series(catalogue.hs_code).value_counts().loc[lambda c: c == 1].index
    prices = pd.Series(catalogue.usd_per_kg, index=catalogue.hs_code).loc[single_line]
    observed = table.groupby("hs_code")["value_per_kg"].agg(["median", "size"])
    observed = observed[(observed["size"] >= 50) & observed.index.isin(prices.index)]
    assert len(observed) > 30
    ratio = observed["median"] / prices.loc[observed.index]
    assert ratio.between(0.5, 2).mean() > 0.9


def test_modes_and_sizes_fit_the_goods(plain_clean):
    clean = plain_clean
    gross = numbers(clean["gross_weight_kg"])
    bulk_minerals = clean["hs_code"].str.startswith(("2507", "2601", "7208"))
    assert (clean.loc[bulk_minerals, "transport_mode"].isin(["sea", "rail", "road"])).mean() > 0.95
    assert gross[bulk_minerals].median() > 20_000
    parcels = clean["transport_mode"].isin(["post", "express"])
    assert gross[parcels].median() < 10
    phones = clean["hs_code"] == "8517130000"
    assert (clean.loc[phones, "transport_mode"] == "air").mean() > 0.6


def test_seasonality_quiet_weekends_and_spring_festival(clean):
    per_day = clean.groupby(pd.to_datetime(clean["declaration_date"], errors="coerce")).size()
    festival = per_day["2025-01-29":"2025-02-04"].mean()
    march_weekdays = per_day["2025-03-03":"2025-03-28"]
    march_weekdays = march_weekdays[march_weekdays.index.day_of_week < 5].mean()
    assert festival < 0.3 * march_weekdays
    assert per_day[per_day.index.day_of_week == 6].mean() < 0.5 * per_day[per_day.index.day_of_week == 2].mean()
    assert per_day["2025-09"].mean() > per_day["2025-03"].mean()  # pre-Christmas peak season


def test_hard_negatives_are_among_the_clean_rows(plain_clean):
    """Legitimate trade that looks like a scheme, so rules cannot score perfectly by
    accident; each kind must be present in a 50,000-row file."""
    clean = plain_clean
    rare_earth = clean["hs_code"].str.startswith(RARE_EARTH_HS)
    licensed = clean["license_number"] != ""
    gross = numbers(clean["gross_weight_kg"])
    parcel = clean["transport_mode"].isin(["post", "express"])
    ceramic_consignee = clean["consignee"].str.contains(r"(?i)ceramic|tiles|keramik|fliesen|porcelain|sanitary")
    small_parcels = clean[parcel & (gross < 5)]
    hard_negatives = {
        "licensed re-export of foreign-made rare earths": rare_earth & licensed & (clean["origin_country"] != "CN")
                                                          & (clean["export_country"] == "CN"),
        "re-export from a producer hub with its real origin": rare_earth & (clean["export_country"] != "CN")
                                                              & clean["origin_country"].isin(["AU", "MY", "VN", "JP"]),
        "genuine licensed rare-earth export": rare_earth & licensed & (clean["origin_country"] == "CN"),
        "Pr-yellow glaze sample by express": clean["hs_code"].str.startswith("3207") & parcel & ceramic_consignee
                                             & clean["description"].str.contains(r"(?i)praseodymium|pr-zircon"),
        "lubricant in bottles under 27/34": clean["hs_code"].str.startswith(("2710", "3403"))
                                            & (clean["package_type"] == "BO"),
        "big honest ceramic raw-material shipper": clean["hs_code"].str.startswith(CERAMIC_HS)
                                                   & (clean["transport_mode"] == "sea") & (gross > 10_000),
        "honest e-commerce sender of many small parcels": clean["exporter"].isin(
            small_parcels["exporter"].value_counts().loc[lambda n: n >= 50].index) & parcel,
    }
    counts = {name: int(mask.sum()) for name, mask in hard_negatives.items()}
    assert min(counts.values()) > 0, counts


def test_every_code_a_scheme_declares_also_carries_clean_trade(plain_clean):
    clean = plain_clean
    # An HS code that only smugglers use would give every fraud away by itself.
    profiles = synthetic._read("scheme_profiles")
    scheme_codes = set(profiles.loc[profiles["hs_code"] != "", "hs_code"])
    scheme_codes |= set(profiles.loc[profiles["field"] == "hs_code", "value"])
    assert scheme_codes <= set(synthetic._catalogue().hs_code)
    assert scheme_codes <= set(clean["hs_code"])


# -------------------------------------------------------------------------- leakage


def rounding_features(text: pd.Series) -> pd.DataFrame:
    """How a number is written, not how big it is: size is a real red flag (smugglers
    send parcels), whereas decimals, trailing zeros or round values that differed
    between clean and fraud rows would be an artefact of generation."""
    digits = text.str.replace(".", "", regex=False).str.lstrip("-")
    value = numbers(text).fillna(0)
    return pd.DataFrame({
        "decimals": text.str.extract(r"\.(\d+)$")[0].fillna("").str.len(),
        "trailing_zeros": digits.str.len() - digits.str.rstrip("0").str.len(),
        "last_digit": numbers(digits.str[-1]).fillna(0),
        "cents": (value * 100).round() % 100,
        "multiple_of_10": (value % 10 == 0).astype(int),
        "multiple_of_100": (value % 100 == 0).astype(int),
    })


def test_ids_position_and_number_formats_do_not_reveal_the_label(frame):
    serial = numbers(frame["declaration_id"].str[-10:]).fillna(0)
    features = pd.DataFrame({"serial": serial, "serial_mod_1000": serial % 1000, "id_last_digit": serial % 10,
                             "id_length": frame["declaration_id"].str.len(),
                             "position": np.arange(len(frame)) / len(frame)})
    for column in ("declared_value", "gross_weight_kg", "net_weight_kg"):
        features = features.join(rounding_features(frame[column]).add_prefix(f"{column}_"))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    for model in (DecisionTreeClassifier(max_depth=4, min_samples_leaf=50),
                  make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))):
        auc = cross_val_score(model, features, frame["label"], cv=folds, scoring="roc_auc").mean()
        assert auc < 0.6, f"{model}: ROC AUC {auc:.3f} from ids, position and number formats alone"


# ------------------------------------------------------------------------ writing


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_written_files_load_like_the_frame(tmp_path, suffix):
    path = write_synthetic(tmp_path / f"synthetic.{suffix}", 3000, seed=6)
    expected = generate(3000, seed=6)
    loaded = detector.load_declarations(path)
    assert list(loaded.raw.columns) == list(COLUMNS)
    for column in DECLARATION_COLUMNS:
        assert (loaded.raw[column].astype(str).to_numpy() == expected[column].to_numpy()).all(), column
    assert (loaded.invalid == detector.load_declarations(expected).invalid).all()


@pytest.mark.parametrize("arguments, message", [
    (dict(rows=-1), "rows must be a whole number from 0 to 10,000,000,000 (ids hold 10-digit serials), got -1"),
    (dict(rows=10 ** 11), "rows must be a whole number from 0 to 10,000,000,000"),
    (dict(rows=2.5), "rows must be a whole number from 0 to 10,000,000,000 (ids hold 10-digit serials), got 2.5"),
    (dict(rows=10, fraud_rate=0.9), "fraud rate must be between 0 and 0.5, got 0.9"),
    (dict(rows=10, fraud_rate=float("nan")), "fraud rate must be between 0 and 0.5, got nan"),
    (dict(rows=10, days=0), "days must be a whole number from 1 to 36,525 (100 years), got 0"),
    (dict(rows=10, days=100_000_000), "days must be a whole number from 1 to 36,525 (100 years), got 100000000"),
    (dict(rows=10, seed=-1), "seed must be a whole number 0 or more, got -1"),
    (dict(rows=10, seed=1.5), "seed must be a whole number 0 or more, got 1.5"),
    (dict(rows=10, start="2025-01-01"), "start must be a date from 1000-01-01 on whose 365 days end by 9999-12-31"),
    (dict(rows=10, start=date(9999, 6, 1)), "start must be a date from 1000-01-01 on whose 365 days"),
    (dict(rows=10, start=date(999, 12, 31), days=5), "start must be a date from 1000-01-01 on whose 5 days"),
], ids=["rows-negative", "rows-beyond-serials", "rows-fraction", "fraud-rate-high", "fraud-rate-nan", "no-days",
        "a-hundred-million-days", "seed-negative", "seed-fraction", "start-text", "past-year-9999",
        "three-digit-year"])
def test_impossible_arguments_are_one_clear_error_when_called(arguments, message):
    """Before: `generate --days 100000000` laid out a hundred million days and ran to
    6 GB, a fraction of rows or seed failed deep inside numpy, and dates past 9999 or
    before 1000 made ids and dates the schema rejects."""
    with pytest.raises(DetectorError, match=re.escape(message)):
        generate_chunks(**arguments)


def test_a_frame_of_more_rows_than_memory_holds_is_refused_before_generating():
    """Before: generate(100_000_000) built chunk after chunk until memory ran out;
    write_synthetic streams that many."""
    with pytest.raises(DetectorError, match=re.escape(
            "rows must be a whole number from 0 to 10,000,000 in one frame (write_synthetic streams more)")):
        generate(100_000_000)


def test_no_rows_give_an_empty_frame_with_the_columns():
    empty = generate(0)
    assert tuple(empty.columns) == COLUMNS and len(empty) == 0
