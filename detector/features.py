"""Derived declaration fields, computed once, column-wise, after validation.

Rules and (later) the anomaly scorer read these instead of recomputing them: the HS
chapter, heading and subheading; the value in US dollars; value per kg, weight per
package and the net/gross ratio, which expose goods that are not what they claim to be
(a "machine part" of 0.5 kg in a bottle, a "clay" at 300 USD/kg).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from detector.reference import load_reference

# Each derived field and its kind. A derived field whose inputs the file lacks is not
# computed, and rules that use it are skipped with the reason (see the rule engine).
DERIVED_FIELDS: dict[str, str] = {
    "hs2": "text", "hs4": "text", "hs6": "text", "value_usd": "number",
    "value_per_kg": "number", "weight_per_package": "number", "net_gross_ratio": "number",
}


@lru_cache(maxsize=1)
def usd_rates() -> dict[str, float]:
    """US dollars per unit of each currency in ``rules/reference/currency_rates.csv``."""
    table = load_reference("currency_rates")
    return dict(zip(table["currency"].str.upper(), table["usd_per_unit"].astype(float)))


def derive(table: pd.DataFrame) -> pd.DataFrame:
    """Return ``table`` with the derived fields its columns allow, added as new columns."""
    derived: dict[str, pd.Series] = {}
    if "hs_code" in table:
        for digits in (2, 4, 6):
            prefix = table["hs_code"].str.slice(0, digits)
            derived[f"hs{digits}"] = prefix.where(table["hs_code"].str.len() >= digits)
    if "declared_value" in table:
        derived["value_usd"] = _value_usd(table)
        weight = _first_positive(table, "net_weight_kg", "gross_weight_kg")
        if weight is not None:
            derived["value_per_kg"] = _ratio(derived["value_usd"], weight)
    if "package_count" in table:
        weight = _first_positive(table, "gross_weight_kg", "net_weight_kg")
        if weight is not None:
            derived["weight_per_package"] = _ratio(weight, table["package_count"])
    if "net_weight_kg" in table and "gross_weight_kg" in table:
        derived["net_gross_ratio"] = _ratio(table["net_weight_kg"], table["gross_weight_kg"])
    return table.assign(**derived)


def _value_usd(table: pd.DataFrame) -> pd.Series:
    if "currency" not in table:
        return table["declared_value"].astype("float64")
    rates = usd_rates()
    codes, uniques = pd.factorize(table["currency"])
    rate = np.append([rates.get(u, np.nan) for u in uniques], np.nan)[codes]
    # Validation filled empty cells with USD; a currency left missing was unknown and
    # already reported, so its value in USD stays unknown.
    return pd.Series(table["declared_value"].to_numpy() * rate, index=table.index)


def _first_positive(table: pd.DataFrame, first: str, second: str) -> pd.Series | None:
    """``first`` where it is a positive number, else ``second``; None if both are absent."""
    present = [table[c].where(table[c] > 0) for c in (first, second) if c in table]
    if not present:
        return None
    return present[0] if len(present) == 1 else present[0].fillna(present[1])


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """``numerator / denominator``, missing where the denominator is not positive."""
    denominator = denominator.where(denominator > 0)
    return (numerator / denominator).astype("float64")
