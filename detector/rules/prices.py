"""Market price bands of rare-earth goods, and the predicate that compares a
declaration's value per kg with the band of the goods it declares.

One floor cannot serve every rare earth: lanthanum oxide sells under 1 USD/kg and
terbium oxide near 1,000. ``rules/reference/price_bands.csv`` holds a band per element
and form (metal, oxide, chloride, fluoride, carbonate, alloy, magnet) in USD/kg, dated
and sourced. A band is the export side (FOB China), which is what a declaration's
value is compared with; since the 2025 export controls, prices outside China are
several times China's own for dysprosium and terbium, so each low end is set below
China's price without VAT, and an honest export is not called undervalued.

The goods are what the HS line and the words say (element and form, see
:func:`below_price_band`). Words are recognised by the ``keywords`` predicate, so they
get the one text normalisation every text rule uses.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from detector.reference import iso_dates, load_reference, reference_path, require_cells, require_columns
from detector.rules.predicates import Arg, Context, PackScope, TableCache, boolean, keywords, predicate

BANDS = "price_bands"
FORMS = "price_band_forms"
LINES = "rare_earth_hs"
TERMS = "rare_earth_terms"
BAND_COLUMNS = ["element", "form", "goods", "low_usd_per_kg", "high_usd_per_kg", "market", "as_of", "source"]
# The element code of rare-earth goods whose element is not named ("rare earth",
# HS 2846901999 "other rare-earth oxides"): only a few forms have a band of their own.
GENERIC = "REE"
# Kinds of ``rare_earth_terms`` that name a ceramic good holding a few percent of an
# element (Pr-zircon or "praseodymium yellow" stain, yttria-stabilised zirconia), sold
# at ceramic prices: where the words name one, they name no element to price.
CERAMIC_KINDS = ("ceramic material", "ceramic pigment")
# Forms that a declaration names when the goods are of that form: an element named
# without a form ("Dy 99.9% powder") is the material, not a magnet made with it.
NAMED_ONLY_FORMS = ("magnet",)


def price_bands(reference_dirs: tuple[Path, ...] = ()) -> pd.DataFrame:
    """The bands, with ``low`` and ``high`` as numbers and the ``reason`` text of each.

    Raises ReferenceTableError naming the file line of a band that is not well-formed:
    a low end that is not a positive price, a high end below it, no date or no source,
    or a second band for the same element and form.
    """
    path = reference_path(BANDS, reference_dirs)
    table = load_reference(BANDS, reference_dirs)
    require_columns(table, BANDS, BAND_COLUMNS)
    low = pd.to_numeric(table["low_usd_per_kg"], errors="coerce").to_numpy(dtype="float64")
    high = pd.to_numeric(table["high_usd_per_kg"], errors="coerce").to_numpy(dtype="float64")
    for column in ("element", "form", "goods", "market", "source"):
        require_cells(table, path, column, table[column] == "", "empty; every band needs one")
    require_cells(table, path, "low_usd_per_kg", ~(low > 0), "expected a price in USD/kg above 0")
    require_cells(table, path, "high_usd_per_kg", ~(high >= low), "expected a price in USD/kg at least the low end")
    require_cells(table, path, "as_of", ~iso_dates(table["as_of"].to_numpy(dtype=object)),
                  "expected the date of the price, YYYY-MM-DD")
    require_cells(table, path, "form", table.duplicated(["element", "form"]).to_numpy(),
                  "a second band for the same element and form; keep one")
    reasons = [f"market price of {goods}: {lo:,g}-{hi:,g} USD/kg ({market}, as of {as_of}; {source})"
               for goods, lo, hi, market, as_of, source
               in zip(table["goods"], low, high, table["market"], table["as_of"], table["source"])]
    return pd.DataFrame({"element": table["element"], "form": table["form"], "low": low, "high": high,
                         "reason": reasons})


def _texts(frame: pd.DataFrame, ctx: Context) -> Context:
    """A context whose table is ``frame`` (distinct goods, or the HS lines' texts), so
    ``keywords`` matches each of its texts once."""
    return replace(ctx, cache=TableCache(frame), named=None)


def _named(texts: Context, fields: list[str], phrases: list[str]) -> np.ndarray:
    """Whether each row of the context's table names one of ``phrases`` in ``fields``."""
    frame = texts.cache.table
    if not phrases:
        return np.zeros(len(frame), dtype=bool)
    return keywords(frame, texts, fields, any=phrases).to_numpy(dtype=bool, na_value=False)


def _vocabulary(ctx: Context, elements: list[str],
                forms: list[str]) -> tuple[list[list[str]], list[list[str]], list[str]]:
    """The phrases naming each element (``rare_earth_terms``), each form
    (``price_band_forms``, and terms whose kind is the form: NdFeB names a magnet,
    mischmetal an alloy) and the ceramic goods (terms of ``CERAMIC_KINDS``)."""
    terms = load_reference(TERMS, ctx.reference_dirs)
    terms = terms[terms["term"] != ""]
    ceramic = terms["kind"].isin(CERAMIC_KINDS)
    goods = terms[~ceramic]
    goods_elements = goods["element"].str.split("|")
    form_words = load_reference(FORMS, ctx.reference_dirs)
    element_phrases = [goods["term"][goods_elements.map(lambda named, e=e: e in named)].tolist() for e in elements]
    form_phrases = [form_words["phrase"][form_words["form"] == f].tolist() + goods["term"][goods["kind"] == f].tolist()
                    for f in forms]
    return element_phrases, form_phrases, terms["term"][ceramic].tolist()


def _line_goods(codes: pd.Series, ctx: Context, elements: list[str],
                form_phrases: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """The elements and forms (boolean matrices: code x element, code x form) of the HS
    lines each distinct code stands for.

    A code stands for the lines it covers (28053012 for 2805301200, dysprosium metal;
    284690 for every national line of single oxides, chlorides and fluorides), else for
    the longest line it falls under: the goods may be any of them. The elements are
    the lines' own (``elements``), or rare earths in general when one of the lines
    names none (2846901999, "other rare-earth oxides"), and none at all when the code
    falls under or covers a ``mixed`` line: 850511 also holds AlNiCo magnets, and its
    national lines that are not rare earths are not in the table. The forms are the
    form words of the lines' ``goods`` text.
    """
    lines = load_reference(LINES, ctx.reference_dirs)
    prefixes = lines["hs_prefix"].tolist()
    own_elements = np.array([[e in named for e in elements] for named in lines["elements"].str.split("|")],
                            dtype=bool)
    specific = np.array([e != GENERIC for e in elements])
    rare_earth_line = (lines["scope"] == "rare_earth").to_numpy()
    goods = _texts(pd.DataFrame({"description": lines["goods"]}), ctx)
    own_forms = np.column_stack([_named(goods, ["description"], phrases) for phrases in form_phrases])
    text = codes.astype("str")
    covered = np.zeros((len(codes), len(lines)), dtype=bool)
    longest = np.full(len(codes), -1)
    for line in sorted(range(len(prefixes)), key=lambda i: len(prefixes[i])):
        longest[text.str.startswith(prefixes[line]).to_numpy(dtype=bool)] = line
        covered[:, line] = text.isin([prefixes[line][:n] for n in range(1, len(prefixes[line]))]).to_numpy(dtype=bool)
    under = np.zeros_like(covered)
    under[np.flatnonzero(longest >= 0), longest[longest >= 0]] = True
    stands_for = np.where(covered.any(axis=1, keepdims=True), covered, under)
    not_rare_earth = ((stands_for | under) & ~rare_earth_line).any(axis=1, keepdims=True)
    generic = (stands_for & ~(own_elements & specific).any(axis=1)).any(axis=1, keepdims=True)
    named = (stands_for.astype(np.int64) @ own_elements.astype(np.int64)) > 0
    line_elements = ~not_rare_earth & np.where(generic, named & ~specific, named)
    line_forms = ((stands_for | under).astype(np.int64) @ own_forms.astype(np.int64)) > 0
    return line_elements, line_forms


def _distinct_goods(ctx: Context, columns: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Row codes and the distinct combinations of ``columns``.

    Unlike ``TableCache.rows``, a missing cell is a value of its own: an empty remarks
    cell is the usual case, and the code and description still name the goods.
    """
    key = np.zeros(len(ctx.cache.table), dtype=np.int64)
    for column in columns:
        codes, uniques = ctx.cache.field(column)
        key = pd.factorize(key * (len(uniques) + 1) + (codes + 1))[0]  # renumbered: stays in int64
    first = np.unique(key, return_index=True)[1] if len(key) else np.zeros(0, dtype=np.int64)
    return key, ctx.cache.table[columns].iloc[first].reset_index(drop=True)


def _cheapest_bands(named_elements: np.ndarray, named_forms: np.ndarray, bands: pd.DataFrame,
                    elements: list[str], forms: list[str]) -> np.ndarray:
    """For each row of goods, the band (row of ``bands``) with the lowest low end among
    the element and form pairs named (on a tie, the first in the table); -1 where no
    pair has a band."""
    low = np.full(len(named_elements), np.inf)
    chosen = np.full(len(named_elements), -1)
    for band, (element, form, band_low) in enumerate(zip(bands["element"], bands["form"], bands["low"])):
        cheaper = named_elements[:, elements.index(element)] & named_forms[:, forms.index(form)] & (band_low < low)
        low[cheaper] = band_low
        chosen[cheaper] = band
    return chosen


def _goods(distinct: pd.DataFrame, ctx: Context, code: str, fields: list[str], bands: pd.DataFrame) -> np.ndarray:
    """The band of each distinct combination's goods (-1: none), from the HS line and
    the words."""
    elements = sorted(set(bands["element"]))
    forms = sorted(set(bands["form"]))
    element_phrases, form_phrases, ceramic_phrases = _vocabulary(ctx, elements, forms)
    present = [f for f in fields if f in distinct]
    words = _texts(distinct, ctx)
    ceramic = _named(words, present, ceramic_phrases)[:, None]
    word_elements = np.column_stack([_named(words, present, p) for p in element_phrases]) & ~ceramic
    word_forms = np.column_stack([_named(words, present, p) for p in form_phrases])
    if code in distinct:
        codes, uniques = pd.factorize(distinct[code])
        by_code = _line_goods(pd.Series(uniques), ctx, elements, form_phrases)
        line_elements, line_forms = (np.vstack([m, np.zeros((1, m.shape[1]), dtype=bool)])[codes] for m in by_code)
    else:
        line_elements, line_forms = np.zeros_like(word_elements), np.zeros_like(word_forms)
    specific = np.array([e != GENERIC for e in elements])
    implied = np.array([f not in NAMED_ONLY_FORMS for f in forms])
    named_elements, named_forms = _decide(word_elements, word_forms, line_elements, line_forms, specific, implied)
    return _cheapest_bands(named_elements, named_forms, bands, elements, forms)


def _decide(word_elements: np.ndarray, word_forms: np.ndarray, line_elements: np.ndarray, line_forms: np.ndarray,
            specific: np.ndarray, implied: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The elements and forms of the goods, where the words and the line both say some.

    Per dimension, what is named most precisely decides. Elements: those the words
    name, else those the line names, else rare earths in general (``REE``) if either
    says so. Forms: those the words name, else the line's, else every form of the
    elements but a magnet (``implied``); none for rare earths in general, since of an
    unknown element the cheapest material, lanthanum oxide, is cheaper than any band.
    The words come first because a declared code may be a heading covering many lines
    (HS 284690), while "dysprosium oxide" names one good.
    """
    by_words = (word_elements & specific).any(axis=1, keepdims=True)
    by_line = (line_elements & specific).any(axis=1, keepdims=True)
    elements = np.where(by_words, word_elements & specific,
                        np.where(by_line, line_elements & specific, (word_elements | line_elements) & ~specific))
    fallback = implied & (by_words | by_line)
    forms = np.where(word_forms.any(axis=1, keepdims=True), word_forms,
                     np.where(line_forms.any(axis=1, keepdims=True), line_forms, fallback))
    return elements, forms


def _check_price_band(scope: PackScope, args: dict[str, Any], where: str) -> None:
    """The ratio is a fraction of the low end, and the tables the goods are read from
    have the columns this predicate reads."""
    if not 0 < args["ratio"] <= 1:
        raise scope.fail(f"{where}.ratio: expected a fraction of the band's low end above 0 and at most 1 "
                         f"(0.5 = under half the lowest market price), got {args['ratio']:g}")
    scope.require(BANDS, BAND_COLUMNS, where, cells={"element": "key", "form": "key", "as_of": "date"})
    scope.require(FORMS, ["phrase", "form"], where, cells={"phrase": "phrase", "form": "key"})
    scope.require(TERMS, ["term", "element", "kind"], where, cells={"term": "phrase"})
    scope.require(LINES, ["hs_prefix", "goods", "elements", "scope"], where, cells={"hs_prefix": "key"})


@predicate("below_price_band", Arg("ratio", "number"),
           Arg("value", "field", False, field_kind="number", default="value_per_kg"),
           Arg("code", "field", False, field_kind="text", default="hs_code"),
           Arg("fields", "fields", False, field_kind="text", any_of=True, default=["description", "remarks"]),
           Arg("as", "name", False), check=_check_price_band)
def below_price_band(table: pd.DataFrame, ctx: Context, ratio: float, value: str = "value_per_kg",
                     code: str = "hs_code", fields: list[str] | None = None,
                     name: str | None = None) -> pd.arrays.BooleanArray:
    """The goods that the HS line (``code``) or the words (``fields``) name, by element
    and form, are declared at a ``value`` (USD/kg) under ``ratio`` times the low end of
    their market band (``price_bands``; the cheapest band when several goods are
    named); ``as`` names the band for the reason.

    The goods are recognised per distinct combination of code and words and handed out
    to the rows. Goods without a band (no rare-earth element named, or a form with no
    band such as "rare-earth oxide") are no hit; an unknown value is unknown. Taking
    the cheapest band of what is named errs towards no hit: a declaration naming
    dysprosium and cerium oxide is compared with cerium oxide's band.
    """
    if ctx.cache.table is not table:  # distinct values are those of the table given
        ctx = replace(ctx, cache=TableCache(table))
    fields = [f for f in (fields or ["description", "remarks"]) if f in table]
    columns = ([code] if code in table else []) + fields
    bands = price_bands(ctx.reference_dirs)
    if not columns or bands.empty:
        band_of_row = np.full(len(table), -1)
    else:
        rows, distinct = _distinct_goods(ctx, columns)
        band_of_row = np.append(_goods(distinct, ctx, code, fields, bands), -1)[rows]
    has_band = band_of_row >= 0
    low = np.append(bands["low"].to_numpy(), np.nan)[band_of_row]
    values = table[value].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        below = has_band & (values < ratio * low)
    if name and ctx.named is not None:
        reasons = np.append(bands["reason"].to_numpy(dtype=object), None)[band_of_row]
        ctx.named[name] = pd.Series(reasons, index=table.index, dtype=object)
    return boolean(below, has_band & np.isnan(values))

