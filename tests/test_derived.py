"""The derive stage: fields the rules and models read, computed from the input columns."""

import numpy as np
import pytest

from detector.derived import DERIVED_FIELDS, DERIVED_FROM, derive
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


# One row with every input field: derive() adds every derived field it knows.
FULL_ROW = {"declaration_id": "1", "declaration_date": "2025-03-01", "direction": "export", "exporter": "Acme Ltd",
            "consignee": "Beta GmbH", "declarant": "Broker", "office_id": "OF1", "origin_country": "CN",
            "export_country": "CN", "destination_country": "DE", "hs_code": "2805301200",
            "description": "cerium metal", "remarks": "", "quantity": "2", "quantity_unit": "LTR",
            "gross_weight_kg": "12", "net_weight_kg": "9", "declared_value": "100", "currency": "EUR",
            "transport_mode": "air", "package_type": "BO", "package_count": "4", "license_number": "L-1"}


def test_derived_from_covers_every_field_derive_adds():
    """Before: no table said which input columns a derived field comes from, so a rule
    needing value_per_kg was skipped as needing a column no one can add."""
    full = validate(frame([FULL_ROW])).table
    added = [c for c in derive(full).columns if c not in full.columns]
    assert sorted(DERIVED_FROM) == sorted(added) == sorted(DERIVED_FIELDS)


@pytest.mark.parametrize("name", sorted(DERIVED_FROM))
def test_derived_from_names_the_inputs_derive_needs(name):
    """Each derived field is computed from one column of each of its input groups, and
    not without any one group: the skip reasons built on the table name the right columns."""
    full = validate(frame([FULL_ROW])).table
    groups = DERIVED_FROM[name]
    for group in groups:
        assert name not in derive(full.drop(columns=list(group))).columns, (name, group)
        for chosen in group:  # any one alternative of each group will do
            kept = {chosen, *(other[0] for other in groups if other is not group)}
            assert name in derive(full[sorted(kept)]).columns, (name, kept)
