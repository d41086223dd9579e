import numpy as np
import pytest

from detector.features import derive
from detector.schema import validate
from tests.conftest import frame


def derived(rows):
    return derive(validate(frame(rows)).table)


def test_hs_levels_are_prefixes_of_the_code():
    table = derived([{"hs_code": "2805301200"}, {"hs_code": "2805"}])
    assert table[["hs2", "hs4", "hs6"]].iloc[0].tolist() == ["28", "2805", "280530"]
    assert table["hs6"].isna().tolist() == [False, True]


def test_value_per_kg_uses_usd_and_net_weight_first():
    table = derived([
        {"declared_value": "1000", "currency": "USD", "net_weight_kg": "4", "gross_weight_kg": "5"},
        {"declared_value": "1000", "currency": "", "net_weight_kg": "", "gross_weight_kg": "5"},
        {"declared_value": "1000", "currency": "EUR", "net_weight_kg": "0", "gross_weight_kg": "10"},
    ])
    assert table["value_per_kg"].iloc[0] == 250
    assert table["value_per_kg"].iloc[1] == 200
    eur_rate = table["value_usd"].iloc[2] / 1000
    assert 0.8 < eur_rate < 1.5
    assert table["value_per_kg"].iloc[2] == pytest.approx(table["value_usd"].iloc[2] / 10)


def test_unknown_currency_leaves_value_unknown():
    table = derived([{"declared_value": "10", "currency": "XXQ", "net_weight_kg": "1"}])
    assert np.isnan(table["value_usd"].iloc[0]) and np.isnan(table["value_per_kg"].iloc[0])


def test_weight_per_package_and_net_gross_ratio():
    table = derived([{"gross_weight_kg": "12", "net_weight_kg": "9", "package_count": "4"},
                     {"gross_weight_kg": "12", "net_weight_kg": "9", "package_count": "0"}])
    assert table["weight_per_package"].tolist()[0] == 3
    assert np.isnan(table["weight_per_package"].iloc[1])
    assert table["net_gross_ratio"].tolist() == [0.75, 0.75]


def test_derived_fields_need_their_inputs():
    table = derived([{"hs_code": "2805", "declared_value": "5"}])
    assert "value_usd" in table and "value_per_kg" not in table and "weight_per_package" not in table
