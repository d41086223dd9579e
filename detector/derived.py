"""The derive stage: declaration fields computed once, column-wise, after validation.

Rules and the models read these instead of recomputing them: the HS
chapter, heading and subheading; the value in US dollars; value per kg, weight per
package and the net/gross ratio, which expose goods that are not what they claim to be
(a "machine part" of 0.5 kg in a bottle, a "clay" at 300 USD/kg).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from detector.reference import load_reference
from detector.schema import quantity_units
from detector.text import party_key

# Each derived field and its kind. A derived field whose inputs the file lacks is not
# computed, and rules that use it are skipped with the reason (see the rule engine).
DERIVED_FIELDS: dict[str, str] = {
    "hs2": "text", "hs4": "text", "hs6": "text", "value_usd": "number",
    "value_per_kg": "number", "weight_per_package": "number", "net_gross_ratio": "number",
    "litres": "number", "kg_per_litre": "number", "kg_per_piece": "number",
    "exporter_key": "text", "consignee_key": "text",
}

# The input columns each derived field is computed from (see derive()): one column of
# each group is needed, the first of a group preferred when the file has both. A skip
# reason names these, since a user can add an input column but not a derived one.
# value_usd also reads currency when the file has one; without it values are US dollars.
_WEIGHT = ("net_weight_kg", "gross_weight_kg")
DERIVED_FROM: dict[str, tuple[tuple[str, ...], ...]] = {
    "hs2": (("hs_code",),), "hs4": (("hs_code",),), "hs6": (("hs_code",),),
    "value_usd": (("declared_value",),),
    "value_per_kg": (("declared_value",), _WEIGHT),
    "weight_per_package": (("package_count",), ("gross_weight_kg", "net_weight_kg")),
    "net_gross_ratio": (("net_weight_kg",), ("gross_weight_kg",)),
    "litres": (("quantity",), ("quantity_unit",)),
    "kg_per_litre": (("quantity",), ("quantity_unit",), _WEIGHT),
    "kg_per_piece": (("quantity",), ("quantity_unit",), _WEIGHT),
    "exporter_key": (("exporter",),), "consignee_key": (("consignee",),),
}


@lru_cache(maxsize=1)
def usd_rates() -> dict[str, float]:
    """US dollars per unit of each currency in ``rules/reference/currency_rates.csv``."""
    table = load_reference("currency_rates")
    return dict(zip(table["currency"].str.upper(), table["usd_per_unit"].astype(float)))


def derive(table: pd.DataFrame, reference_dirs: tuple = ()) -> pd.DataFrame:
    """Return ``table`` with the derived fields its columns allow, added as new columns.

    ``reference_dirs`` are the folders whose ``quantity_units`` table extends the
    shipped one (as validation read the units).
    """
    derived: dict[str, pd.Series] = {}
    if "hs_code" in table:
        derived.update(hs_levels(table["hs_code"]))
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
    if "quantity" in table and "quantity_unit" in table:
        derived.update(_per_unit(table, reference_dirs))
    for party in ("exporter", "consignee"):
        if party in table:
            derived[f"{party}_key"] = party_key(table[party], _party_words(reference_dirs),
                                                _party_translations(reference_dirs))
    return table.assign(**derived)


def _party_words(reference_dirs: tuple) -> list[str]:
    """The legal forms and business words a party key leaves out (party_words.csv)."""
    return [word for word in load_reference("party_words", reference_dirs)["word"] if word]


def _party_translations(reference_dirs: tuple) -> dict[str, str]:
    """The Chinese words of party names a key writes in English (party_translations.csv)."""
    table = load_reference("party_translations", reference_dirs)
    return {word: english for word, english in zip(table["word"], table["english"]) if word and english}


def _per_unit(table: pd.DataFrame, reference_dirs: tuple) -> dict[str, pd.Series]:
    """``litres`` (the quantity in litres when its unit is a volume) and the weight
    (net, else gross) per litre and per piece.

    A declaration's weight per litre says what is in its bottles: water and mineral
    water weigh about 1.0 kg/L, oils 0.8-0.95, inks and coolants 1.0-1.3, while
    rare-earth oxide powders pack at 1.5-3 kg/L and metals far more. Missing where the
    unit measures something else or a number is missing or not positive.
    """
    units = quantity_units(reference_dirs).set_index("code")
    codes, uniques = pd.factorize(table["quantity_unit"])
    dimension = np.append(units["dimension"].reindex(uniques).to_numpy(dtype=object), None)[codes]
    factor = np.append(units["factor"].reindex(uniques).to_numpy(dtype=np.float64), np.nan)[codes]
    amount = table["quantity"].to_numpy(dtype=np.float64) * factor
    litres = pd.Series(np.where(dimension == "volume", amount, np.nan), index=table.index)
    pieces = pd.Series(np.where(dimension == "count", amount, np.nan), index=table.index)
    weight = _first_positive(table, "net_weight_kg", "gross_weight_kg")
    derived = {"litres": litres}
    if weight is not None:
        derived.update(kg_per_litre=_ratio(weight, litres), kg_per_piece=_ratio(weight, pieces))
    return derived


def hs_levels(hs_code: pd.Series, digits=(2, 4, 6)) -> dict[str, pd.Series]:
    """hs2, hs4 and hs6 (or the ``digits`` asked for) of each code; missing where the
    code is missing or shorter. A file holds a few hundred distinct codes: those are
    cut, then handed out to the rows."""
    codes, uniques = pd.factorize(hs_code)
    distinct = pd.Series(uniques, dtype="str")
    levels = {}
    for n in digits:
        prefix = distinct.str.slice(0, n).where(distinct.str.len() >= n)
        levels[f"hs{n}"] = pd.Series(pd.array(prefix, dtype="str").take(codes, allow_fill=True), index=hs_code.index)
    return levels


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
