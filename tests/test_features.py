import math

import numpy as np
import pandas as pd
import pytest

import detector
from detector.anomaly import DEFAULT_FEATURES, AnomalyModel
from detector.features import FEATURES
from tests.conftest import frame


def declarations(rows: list[dict]) -> pd.DataFrame:
    """The canonical table of hand-made rows, numbered, as read from a CSV."""
    rows = [{"declaration_id": str(i + 1), **row} for i, row in enumerate(rows)]
    return detector.load_declarations(frame(rows)).table


def goods(hs_code: str, value_per_kg: float, n: int, **extra) -> list[dict]:
    return [{"hs_code": hs_code, "declared_value": str(value_per_kg * 10), "net_weight_kg": "10",
             "gross_weight_kg": "11", **extra} for _ in range(n)]


# ------------------------------------------------- the anomaly model's features, learned at fit


def test_value_per_kg_is_relative_to_the_hs6_median():
    history = declarations(goods("2507001000", 2.0, 25) + goods("2508001000", 50.0, 25))
    model = AnomalyModel.fit(history, trees=5, features="all")
    new = declarations(goods("2507009000", 80.0, 1) + goods("2508001000", 50.0, 1))
    features = model.feature_table(new)
    assert features["value_per_kg_vs_hs"].tolist() == pytest.approx([math.log(40), 0.0])
    assert features["log_value_per_kg"].tolist() == pytest.approx([math.log(80), math.log(50)])


def test_small_hs6_groups_fall_back_to_hs4_then_hs2():
    history = declarations(goods("2507001000", 2.0, 25) + goods("2507101000", 8.0, 5)
                           + goods("2508001000", 1.0, 10) + goods("2530001000", 3.0, 10))
    model = AnomalyModel.fit(history, trees=5, peer_min_rows=20)
    new = declarations(goods("2507101000", 16.0, 1) + goods("2508001000", 8.0, 1))
    ratio = np.exp(model.feature_table(new)["value_per_kg_vs_hs"]).tolist()
    # HS6 250710 has 5 rows: compared with HS4 2507 (30 rows, median 2), not itself (8).
    # HS4 2508 has 10 rows: compared with HS2 25 (50 rows, median 2), not itself (1).
    assert ratio == pytest.approx([8.0, 4.0])


def test_pairing_counts_are_learned_at_fit_and_applied_at_score():
    history = declarations(goods("8504401000", 5.0, 3, exporter="Acme", consignee="Beta")
                           + goods("8504401000", 5.0, 1, exporter="Gamma", consignee="Beta"))
    model = AnomalyModel.fit(history, trees=5)
    new = declarations(goods("8504409000", 5.0, 1, exporter="Acme", consignee="Beta")
                       + goods("8471300000", 5.0, 1, exporter="Acme", consignee="Beta")
                       + goods("8504401000", 5.0, 1, exporter="Delta", consignee="Beta"))
    features = model.feature_table(new)
    # Counts come from the history, not from the file scored (Acme x 8504 is 3 in history, 2 here).
    assert np.expm1(features["exporter_hs4_count"]).round().tolist() == [3, 0, 0]
    assert np.expm1(features["exporter_consignee_count"]).round().tolist() == [3, 3, 0]
    assert features["new_exporter"].tolist() == [0, 0, 1]
    assert features["new_consignee"].tolist() == [0, 0, 0]


def test_training_rows_count_pairings_without_themselves():
    # Otherwise no training row would ever look first-time and the forest could not use it.
    history = declarations(goods("8504401000", 5.0, 3, exporter="Acme") + goods("8504401000", 5.0, 1, exporter="Once"))
    model = AnomalyModel.fit(history, trees=5)
    assert model.medians["new_exporter"] == 0.0
    seen = model.feature_table(history)["new_exporter"].tolist()
    assert seen == [0, 0, 0, 0]  # scored later, every history exporter is known


def test_description_features_and_missing_values():
    history = declarations(goods("8483100000", 5.0, 24, description="ball bearings")
                           + [{"hs_code": "8483100000", "description": "Spare Parts"}])
    model = AnomalyModel.fit(history, trees=5, features="all")
    features = model.feature_table(history.iloc[[0, 24]])
    assert features["generic_description"].tolist() == [0, 1]
    assert features["description_length"].tolist() == [13, 11]
    assert np.isnan(features["log_value_usd"].iloc[1])
    assert not np.isnan(model.matrix(history.iloc[[24]])).any()  # imputed with the training median


def test_features_whose_inputs_are_absent_are_left_out():
    history = declarations([{"hs_code": "8504401000", "declared_value": "100", "exporter": "Acme"}] * 30)
    model = AnomalyModel.fit(history, trees=5, features="all")
    assert "log_value_usd" in model.features and "exporter_hs4_count" in model.features
    for absent in ("value_per_kg_vs_hs", "net_gross_ratio", "new_consignee", "description_length"):
        assert absent in model.missing_features and absent not in model.features
    assert sorted(model.features + model.missing_features) == sorted(f.name for f in FEATURES)
    # A file lacking a column the model uses is scored with the training median for it.
    scores = model.score(declarations([{"hs_code": "8504401000", "declared_value": "100"}]))
    assert 0 <= scores["anomaly_score"].iloc[0] <= 1


def test_the_default_features_leave_out_absolute_sizes_and_names_are_checked():
    history = declarations(goods("8504401000", 5.0, 30, exporter="Acme", consignee="Beta", description="inverter"))
    model = AnomalyModel.fit(history, trees=5)
    assert sorted(model.features + model.missing_features) == sorted(DEFAULT_FEATURES)
    assert "value_per_kg_vs_hs" in model.features and "package_count" not in history
    assert "weight_per_package_vs_hs" in model.missing_features
    assert "log_value_usd" not in model.features + model.missing_features
    chosen = AnomalyModel.fit(history, trees=5, features=["log_value_usd", "exporter_hs4_count"])
    assert chosen.features == ["log_value_usd", "exporter_hs4_count"]
    with pytest.raises(detector.DetectorError, match="unknown anomaly feature.*value_per_pound"):
        AnomalyModel.fit(history, features=["value_per_pound"])


def _cells(**columns) -> dict:
    from detector.features import PHRASE_COLUMNS
    from detector.text_columns import column_text

    return {c: column_text(frame([dict(columns)] * 3), c) for c in PHRASE_COLUMNS}


def test_a_pairing_seen_a_few_times_is_worded_without_judging_the_count():
    """Before: a pairing seen 3 times read "exporter only 3 times shipped HS 8504
    before", which the supervised model, whose credit may come from a common pairing,
    could not share; a count is now said plainly, and never and once as before."""
    from detector.features import feature_phrases

    cells = _cells(hs4="8504", consignee="Acme Ltd", origin_country="CN")
    counts = np.log1p([0.0, 1.0, 3.0])
    assert feature_phrases("exporter_hs4_count", counts, cells).to_pylist() == [
        "exporter never shipped HS 8504 before", "exporter once shipped HS 8504 before",
        "exporter shipped HS 8504 3 times before"]
    assert feature_phrases("exporter_consignee_count", counts, cells).to_pylist() == [
        "exporter never shipped to consignee Acme Ltd before", "exporter once shipped to consignee Acme Ltd before",
        "exporter shipped to consignee Acme Ltd 3 times before"]
    assert feature_phrases("origin_hs4_count", counts, cells).to_pylist()[2] == \
        "origin CN with HS 8504 seen 3 times before"
    leaving = _cells(origin_country="CN", export_country="HK")
    assert feature_phrases("export_origin_count", counts, leaving).to_pylist() == [
        "goods of origin CN leaving HK never seen before", "goods of origin CN leaving HK seen once before",
        "goods of origin CN leaving HK seen 3 times before"]


def test_numbers_in_explanations_read_as_python_writes_them():
    from detector.features import _times
    from detector.text_columns import readable_number

    assert _times(np.array([40.2, 2.45, 0.0812, 1.0])).to_pylist() == ["40x", "2.5x", "0.081x", "1.0x"]
    assert readable_number(np.array([5774796.6, 100.0, 99.94, 0.81349])).to_pylist() == \
        ["5,774,797", "100", "99.9", "0.813"]


def test_every_feature_has_words_for_known_and_unknown_values():
    """Both models word every feature through one function: none is left to a model's
    own phrasing, and a missing value reads '<words> unknown'."""
    from detector.features import FEATURES_BY_NAME, feature_phrases

    cells = _cells(exporter="Acme Ltd", consignee="Beta GmbH", origin_country="CN", export_country="VN",
                   transport_mode="sea", description="goods", hs2="85", hs4="8504", hs6="850440")
    for name, feature in FEATURES_BY_NAME.items():
        said = feature_phrases(name, np.array([1.0, 0.0, np.nan]), cells, np.zeros(3, dtype=np.int64)).to_pylist()
        assert said[2] == f"{feature.words} unknown", name
        assert all(said[:2]) and "nan" not in " ".join(said[:2]), (name, said)
