"""Synthetic customs declarations with planted smuggling schemes, labelled.

A detector can only be measured on declarations whose truth is known, and real
labelled customs data is not public beyond the WCO BACUDA sample. This module writes
declarations that look like a Chinese-export / partner-import extract: a few thousand
exporters and consignees with stable habits, the goods, routes, modes, parcel sizes and
price levels of real trade (``data/trade_catalogue.csv``), seasonality and the usual
typing errors, and, at a chosen rate, the smuggling schemes China's Ministry of State
Security described in July 2025 plus two statistical frauds no rule names. Every row
carries ``label`` (0/1) and ``pattern`` (the scheme, '' for clean trade).

Three things make the data worth testing on:

- Frauds vary their wording, sizes and routes the way smugglers do, so some slip past
  the shipped rules; hard negatives (licensed re-exports, glaze samples, lubricants in
  bottles, honest e-commerce parcels ...) make the rules pay for every shortcut.
- Nothing but the goods, parties, routes, weights and values tells a fraud apart: ids,
  row order, number formats and currencies come from the same code for every row.
- Cells are written the way real files write them, honest and fraudulent rows alike
  (``data/writing_styles.csv``, ``data/wording_variants.csv``): HS codes at 6, 8 or 10
  digits, some dotted; formulas, grades, Chinese, pinyin and misspellings in the goods;
  carriers and Chinese words for the mode; Rec 20 codes and words for units; alpha-3
  codes and names for countries; party names spelt differently from one declaration to
  the next; goods in bottles declared by volume. Each declarant keeps its habits, and
  most cells stay plain.
- Output is deterministic for a seed and streams in fixed chunks of
  :data:`CHUNK_ROWS` rows, each a contiguous slice of the date range seeded from
  ``(seed, chunk index)``, so ten million rows fit in bounded memory and any chunk can
  be regenerated alone. Entities are drawn once per seed and used by every chunk.

Examples
--------
>>> from detector.synthetic import generate
>>> frame = generate(1000, seed=7)
>>> frame["label"].mean()  # doctest: +SKIP
0.02
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from numbers import Real
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from detector.derived import usd_rates
from detector.errors import DetectorError, whole_number
from detector.io import write_chunks

__all__ = ["CHUNK_ROWS", "COLUMNS", "DECLARATION_COLUMNS", "ENTRY_ERROR_RATE", "MAX_DAYS", "MAX_FRAME_ROWS",
           "MAX_ROWS", "PATTERNS", "SCHEMES", "SCHEME_SHARES", "Scheme", "generate", "generate_chunks",
           "write_synthetic"]

CHUNK_ROWS = 100_000
"""Rows per internal chunk: memory is bounded by one chunk, whatever ``rows`` is."""

MAX_ROWS = 10 ** 10
"""Most rows of one file: each row's id holds a distinct 10-digit serial."""

MAX_FRAME_ROWS = 10_000_000
"""Most rows :func:`generate` holds in one frame (about 400 bytes a row);
:func:`write_synthetic` streams up to :data:`MAX_ROWS`."""

MAX_DAYS = 36_525
"""Longest period a file covers, 100 years: every day's volume is laid out in memory."""

ENTRY_ERROR_RATE = 0.002
"""Share of rows with one mistyped cell (bad date, negative weight, letter O in an HS
code, misspelt country, duplicate id, unit typed into a number). These are data-entry
noise, not fraud: they are spread over clean and fraud rows alike."""

DECLARATION_COLUMNS: tuple[str, ...] = (
    "declaration_id", "declaration_date", "direction", "exporter", "consignee", "declarant",
    "origin_country", "export_country", "destination_country", "hs_code", "description",
    "remarks", "quantity", "quantity_unit", "gross_weight_kg", "net_weight_kg",
    "declared_value", "currency", "transport_mode", "package_type", "package_count",
    "license_number",
)
COLUMNS: tuple[str, ...] = DECLARATION_COLUMNS + ("label", "pattern")


@dataclass(frozen=True)
class Scheme:
    """One planted fraud scheme.

    Attributes
    ----------
    name : str
        Value of the ``pattern`` column.
    share : float
        Share of the fraud budget (of the rows with ``label`` 1).
    looks_like : str
        What the declarations show, and the variants that let some evade rules.
    """

    name: str
    share: float
    looks_like: str


SCHEMES: tuple[Scheme, ...] = (
    Scheme("mislabelled_origin", 0.18,
           "rare-earth oxides, metals or magnets leave CN (some via HK) with a non-CN origin "
           "(VN, MY, TH, LA ...), routed via HK/VN/MY/SG; 'not originally made in China' "
           "wording in remarks or description in many spellings and languages, or none; "
           "some re-declared in HK or VN claiming the hub's origin, some with a forged licence"),
    Scheme("falsified_contents", 0.18,
           "a harmless name (nickel powder, iron oxide, solder paste, ferroalloy, refractory, "
           "marble powder; synonyms, typos, German and pinyin names) on controlled rare "
           "earths, mostly at the cover goods' price; small dense parcels, steel drums; "
           "a few leak the element in the text or the price"),
    Scheme("ceramic_concealment", 0.14,
           "kaolin, clays, feldspar, glazes, frits and tiles (2507/2508/2529/3207/6907) in "
           "small post/express parcels to consignees with no ceramics business; some to "
           "fake ceramics names, some just above 100 kg, some at a rare-earth price"),
    Scheme("bottle_concealment", 0.08,
           "bottles, flasks, jars or cans declared as machinery parts under 84/85, 1-3.5 kg "
           "per bottle; some in cartons with or without a remark, some with wording that "
           "is not on any generic list (pump accessories, Maschinenteile, jiqi lingjian)"),
    Scheme("mail_splitting", 0.14,
           "one exporter to one consignee, 3-12 parcels of 0.3-30 kg within 2-25 days, "
           "switching between post and express; goods from rare earths to innocent "
           "electronics, some parcels just under or over 30 kg"),
    Scheme("undervaluation", 0.16,
           "ordinary goods of ordinary exporters at 2-35% of the usual value per kg for "
           "their HS code; nothing else is odd, so only an anomaly scorer can find them"),
    Scheme("weight_manipulation", 0.12,
           "ordinary goods whose weights do not hold together: net above gross, net a "
           "fraction of gross, a weight per package no packing has, or weights that do "
           "not fit the quantity"),
)
PATTERNS: tuple[str, ...] = tuple(scheme.name for scheme in SCHEMES)
SCHEME_SHARES: dict[str, float] = {scheme.name: scheme.share for scheme in SCHEMES}

MODES = np.array(["sea", "air", "road", "rail", "post", "express"], dtype=object)
PARCEL_MODES = ("post", "express")
# Bottles, jars, cans and drums are counted one by one even inside a parcel.
_CONTAINERS = ("BO", "FL", "JR", "CA", "VI", "AE", "DR", "1A", "IH")
_QUANTITY_DECIMALS = {"kg": 2, "t": 3, "m2": 2, "l": 1}
# Packages whose contents a declarant may give by volume, as the bottle's label does.
_BOTTLES = ("BO", "FL", "CA")
# Nominal bottle sizes in litres; goods that are no liquid fill the largest bottle that
# holds them at the bulk density of oxide and metal powders (2 kg/l or more).
_BOTTLE_LITRES = np.array([0.25, 0.33, 0.5, 0.75, 1.0, 1.5])
_POWDER_KG_PER_LITRE = 2.0
# Fields a declarant writes the same way declaration after declaration (its system's
# habit), and how often it sticks to the habit rather than writing a cell another way.
_HABITS = ("hs_code", "country", "transport_mode", "quantity_unit", "bottle_quantity")
_HABIT_STRENGTH = 0.8
_DATA_DIR = Path(__file__).resolve().parent / "data"

# Entities per seed: "a few thousand exporters and consignees", as a mid-sized customs
# district sees in a year.
_CN_EXPORTERS, _FOREIGN_EXPORTERS, _HUB_EXPORTERS = 2400, 300, 200
_FOREIGN_CONSIGNEES, _CN_CONSIGNEES = 3600, 400
_SHELLS_PER_SCHEME, _CORRUPT_PER_SCHEME, _FRAUD_CONSIGNEES_PER_SCHEME = 40, 12, 60
# Share of clean declarations by kind of exporter: Chinese exports dominate the view,
# imports into China and third-country re-exports make up the rest.
_KIND_SHARES = {"cn": 0.80, "foreign": 0.12, "hub": 0.08}
_PARTNER_IMPORT_SHARE = 0.06  # exports from CN recorded at the partner's import
_RULE_SCHEMES = ("mislabelled_origin", "falsified_contents", "ceramic_concealment",
                 "bottle_concealment", "mail_splitting")


# ----------------------------------------------------------------------------- helpers


@lru_cache(maxsize=None)
def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(_DATA_DIR / f"{name}.csv", dtype=str, keep_default_na=False, encoding="utf-8")


def _weighted(text: str) -> tuple[np.ndarray, np.ndarray]:
    """``'sea:8|air:2'`` -> (values, probabilities)."""
    if not text:
        return np.array([], dtype=object), np.array([])
    keys, weights = zip(*(part.rsplit(":", 1) for part in text.split("|")))
    weights = np.array(weights, dtype=float)
    return np.array(keys, dtype=object), weights / weights.sum()


def _pick(rng: np.random.Generator, values, probabilities, size: int) -> np.ndarray:
    values = np.asarray(values, dtype=object)
    return values[rng.choice(len(values), size=size, p=probabilities)]


def _cumulative(weights: np.ndarray) -> np.ndarray:
    """Row-wise cumulative probabilities whose last column is exactly 1 (see _pick_rows)."""
    cumulative = np.cumsum(weights, axis=1)
    return cumulative / cumulative[:, -1:]


def _pick_rows(rng: np.random.Generator, cumulative: np.ndarray) -> np.ndarray:
    """One option index per row from per-row cumulative probabilities, column-wise.

    Padding options carry zero weight, so their cumulative value repeats the previous
    one and a uniform draw in [0, 1) never lands on them.
    """
    draws = rng.random(len(cumulative))
    return (draws[:, None] >= cumulative).sum(axis=1)


def _concat(*parts) -> np.ndarray:
    """Element-wise string concatenation of arrays and scalars (numpy string ufuncs)."""
    result = np.asarray(parts[0]).astype(str)
    for part in parts[1:]:
        result = np.char.add(result, np.asarray(part).astype(str))
    return result.astype(object)


def _text_op(function, values, *args) -> np.ndarray:
    """Apply a numpy string function to text cells; numpy's zfill and replace fail on
    an empty selection, which a small chunk often has."""
    text = np.asarray(values).astype(str)
    return (function(text, *args) if text.size else text).astype(object)


def _zero_padded(numbers: np.ndarray, width: int) -> np.ndarray:
    """Whole numbers as text, left-padded with zeros."""
    return _text_op(np.char.zfill, numbers, width)


def _decimal_text(values: np.ndarray, decimals: int) -> np.ndarray:
    """Non-negative numbers as text with at most ``decimals`` decimals, trailing zeros
    dropped, the same way for every row: a format that differs between clean and fraud
    rows would be a label leak."""
    scale = 10 ** decimals
    units = np.round(np.asarray(values, dtype=float) * scale).astype(np.int64)
    whole, fraction = np.divmod(units, scale)
    text = whole.astype(str)
    if decimals:
        digits = _text_op(np.char.rstrip, _zero_padded(fraction, decimals), "0")
        text = np.where(fraction > 0, np.char.add(np.char.add(text, "."), digits), text)
    return text.astype(object)


_PLACEHOLDER = re.compile(r"(\{\w+\})")


def _render(templates: np.ndarray, fills: dict[str, np.ndarray]) -> np.ndarray:
    """Fill ``{name}`` placeholders per row; one vectorized pass per distinct template."""
    result = templates.astype(object).copy()
    for template in np.unique(templates):
        if "{" not in template:
            continue
        rows = np.flatnonzero(templates == template)
        pieces = [fills[p[1:-1]][rows] if _PLACEHOLDER.fullmatch(p) else p
                  for p in _PLACEHOLDER.split(template) if p]
        result[rows] = _concat(*pieces)
    return result


# ----------------------------------------------------------------------- reference data


@dataclass(frozen=True)
class _Catalogue:
    """``data/trade_catalogue.csv`` as column arrays, one row per product line."""

    hs_code: np.ndarray
    sector: np.ndarray
    flow: np.ndarray
    usd_per_kg: np.ndarray
    sigma: np.ndarray
    mode_cum: np.ndarray
    package_codes: np.ndarray
    package_cum: np.ndarray
    kg_min: np.ndarray
    kg_max: np.ndarray
    unit: np.ndarray
    kg_per_unit: np.ndarray
    fill: np.ndarray
    licence_from: np.ndarray
    import_origins: tuple
    reexport_origins: tuple
    share: np.ndarray
    descriptions: np.ndarray
    description_start: np.ndarray
    description_count: np.ndarray

    def lines_of(self, hs_codes: np.ndarray) -> np.ndarray:
        """The first catalogue line of each HS code: its unit, and the price a declarant
        would quote for goods declared under it."""
        codes, position = np.unique(np.asarray(hs_codes).astype(str), return_inverse=True)
        first = pd.Series(np.arange(len(self.hs_code))).groupby(self.hs_code).first()
        return first.loc[codes].to_numpy(dtype=np.int64)[position]


@lru_cache(maxsize=1)
def _catalogue() -> _Catalogue:
    table = _read("trade_catalogue")
    n = len(table)
    mode_weights = np.zeros((n, len(MODES)))
    package_codes = np.full((n, 4), "CT", dtype=object)
    package_weights = np.zeros((n, 4))
    for row, (modes, packages) in enumerate(zip(table["modes"], table["packages"])):
        keys, probabilities = _weighted(modes)
        for key, p in zip(keys, probabilities):
            mode_weights[row, list(MODES).index(key)] = p
        keys, probabilities = _weighted(packages)
        package_codes[row, :len(keys)] = keys
        package_weights[row, :len(keys)] = probabilities
    descriptions = [text.split("|") for text in table["descriptions"]]
    counts = np.array([len(d) for d in descriptions])
    return _Catalogue(
        hs_code=table["hs_code"].to_numpy(object),
        sector=table["sector"].to_numpy(object),
        flow=table["flow"].to_numpy(object),
        usd_per_kg=table["usd_per_kg"].astype(float).to_numpy(),
        sigma=table["sigma"].astype(float).to_numpy(),
        mode_cum=_cumulative(mode_weights),
        package_codes=package_codes,
        package_cum=_cumulative(package_weights),
        kg_min=table["kg_min"].astype(float).to_numpy(),
        kg_max=table["kg_max"].astype(float).to_numpy(),
        unit=table["quantity_unit"].to_numpy(object),
        kg_per_unit=table["kg_per_unit"].astype(float).to_numpy(),
        fill=pd.to_numeric(table["kg_per_package"], errors="coerce").to_numpy(dtype=float),
        licence_from=pd.to_datetime(table["licence_from"].replace("", None)).to_numpy(dtype="datetime64[D]"),
        import_origins=tuple(_weighted(text) for text in table["import_origins"]),
        reexport_origins=tuple(_weighted(text) for text in table["reexport_origins"]),
        share=table["share"].astype(float).to_numpy(),
        descriptions=np.array([d for group in descriptions for d in group], dtype=object),
        description_start=np.concatenate([[0], np.cumsum(counts)[:-1]]),
        description_count=counts,
    )


def _positions(table_codes: np.ndarray, codes) -> np.ndarray:
    """Row of each code in a reference table, -1 where it is absent."""
    return pd.Index(table_codes).get_indexer(np.asarray(codes, dtype=object))


@dataclass(frozen=True)
class _Countries:
    code: np.ndarray
    alpha3: np.ndarray
    name: np.ndarray
    adjective: np.ndarray
    misspelling: np.ndarray
    export_share: np.ndarray
    eu: np.ndarray
    road: np.ndarray
    rail: np.ndarray

    def index(self, codes) -> np.ndarray:
        """Row of each country written as alpha-2, alpha-3 or name; -1 if none."""
        position = _positions(self.code, codes)
        for writing in (self.alpha3, self.name):
            position = np.where(position < 0, _positions(writing, codes), position)
        return position


@lru_cache(maxsize=1)
def _countries() -> _Countries:
    table = _read("trade_countries")
    return _Countries(
        code=table["alpha2"].to_numpy(object), alpha3=table["alpha3"].to_numpy(object),
        name=table["name"].to_numpy(object),
        adjective=table["adjective"].to_numpy(object), misspelling=table["misspelling"].to_numpy(object),
        export_share=table["cn_export_share"].astype(float).to_numpy(),
        eu=table["eu"].astype(int).to_numpy(bool), road=table["road_from_cn"].astype(int).to_numpy(bool),
        rail=table["rail_from_cn"].astype(int).to_numpy(bool),
    )


@dataclass(frozen=True)
class _Packages:
    code: np.ndarray
    kg_per_package: np.ndarray
    tare: np.ndarray
    standard_fill: np.ndarray

    def index(self, codes) -> np.ndarray:
        return _positions(self.code, codes)


@lru_cache(maxsize=1)
def _packages() -> _Packages:
    table = _read("package_fill")
    return _Packages(table["code"].to_numpy(object), table["kg_per_package"].astype(float).to_numpy(),
                     table["tare"].astype(float).to_numpy(), table["standard_fill"].astype(int).to_numpy(bool))


@lru_cache(maxsize=1)
def _sectors() -> pd.DataFrame:
    return _read("trade_sectors").set_index("sector")


@lru_cache(maxsize=1)
def _options() -> dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]]:
    """(table, kind, key) -> (values, probabilities) from the parties and scheme tables."""
    options: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] = {}
    sources = (("parties", _read("trade_parties"), "kind", "key"),
               ("schemes", _read("scheme_profiles"), "scheme", "field"))
    for table_name, table, kind_column, key_column in sources:
        for (kind, key), group in table.groupby([kind_column, key_column], sort=False):
            weights = group["weight"].astype(float).to_numpy()
            values = group["value"].to_numpy(object)
            if "hs_code" in group and group["hs_code"].ne("").any():
                values = np.column_stack([values, group["hs_code"].to_numpy(object)])
            options[(table_name, kind, key)] = (values, weights / weights.sum())
    return options


def _party_option(kind: str, key: str, country: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    options = _options()
    for candidate in ((f"{key}@{country}",) if country else ()) + (key, "default"):
        if ("parties", kind, candidate) in options:
            return options[("parties", kind, candidate)]
    raise KeyError(f"trade_parties.csv has no {kind} for {key}")


def _scheme_option(scheme: str, field: str) -> tuple[np.ndarray, np.ndarray]:
    return _options()[("schemes", scheme, field)]


def _has_scheme_option(scheme: str, field: str) -> bool:
    return ("schemes", scheme, field) in _options()


# ---------------------------------------------------------------------------- calendar


@lru_cache(maxsize=1)
def _spring_festivals() -> dict[int, np.datetime64]:
    table = _read("spring_festival")
    return {int(y): np.datetime64(d, "D") for y, d in zip(table["year"], table["date"])}


def _daily_volume(start: date, days: int) -> np.ndarray:
    """Relative number of declarations per day.

    Weekends are quiet; August to November is the pre-Christmas peak season; the week of
    the Spring Festival all but stops Chinese trade, with a rush before it and a slow
    restart (GACC monthly figures show the February dip); National Day Golden Week
    (1-7 October) slows exports too.
    """
    dates = np.datetime64(start, "D") + np.arange(days)
    weekday = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    volume = np.select([weekday == 5, weekday == 6], [0.55, 0.3], 1.0)
    month = dates.astype("datetime64[M]").astype(np.int64) % 12
    volume *= np.array([1.0, 0.9, 1.0, 1.0, 1.02, 1.03, 1.05, 1.12, 1.18, 1.12, 1.1, 1.0])[month]
    years = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    festivals = _spring_festivals()
    # A December date may sit before next year's festival: each festival counts once.
    for festival_year in np.union1d(years, years + 1):
        festival = festivals.get(int(festival_year), np.datetime64(f"{festival_year}-02-05", "D"))
        offset = (dates - festival).astype(np.int64)
        volume *= np.select(
            [(offset >= -21) & (offset < -7), (offset >= -7) & (offset < 0), (offset >= 0) & (offset < 7),
             (offset >= 7) & (offset < 21)],
            [1.12, 0.6, 0.15, 0.5 + 0.5 * (offset - 7) / 14], 1.0)
    golden_week = (month == 9) & ((dates - dates.astype("datetime64[M]")).astype(np.int64) < 7)
    volume[golden_week] *= 0.35
    return volume


@lru_cache(maxsize=8)
def _day_bounds(rows: int, start: date, days: int) -> np.ndarray:
    """Cumulative rows at the end of each day: rows are spread over days in proportion
    to the daily volume, so the row -> day mapping is fixed and sorted for any chunk."""
    volume = _daily_volume(start, days)
    return np.floor(np.cumsum(volume) / volume.sum() * rows + 0.5).astype(np.int64)


# ---------------------------------------------------------------------------- entities


@dataclass
class _Exporters:
    name: np.ndarray
    home: np.ndarray
    sector: np.ndarray
    kind: np.ndarray
    activity: np.ndarray
    products: np.ndarray
    product_cum: np.ndarray
    preferred_mode: np.ndarray
    median_kg: np.ndarray
    origin: np.ndarray
    partners: np.ndarray
    partner_cum: np.ndarray
    brokers: np.ndarray
    carrier: np.ndarray
    price_factor: np.ndarray
    sample_rate: np.ndarray
    remarks_rate: np.ndarray
    open_consignees: np.ndarray
    licensed: np.ndarray


@dataclass
class _Network:
    """The exporters that run one scheme and the consignees each ships to."""

    exporters: np.ndarray
    exporter_p: np.ndarray
    partners: np.ndarray
    partner_cum: np.ndarray


@dataclass
class _World:
    exporters: _Exporters
    consignee_name: np.ndarray
    consignee_country: np.ndarray
    consignee_business: np.ndarray
    brokers: np.ndarray
    carriers: np.ndarray
    clean_exporter_p: np.ndarray
    open_pool: np.ndarray
    open_pool_p: np.ndarray
    networks: dict[str, _Network]
    id_keys: np.ndarray
    habits: np.ndarray | None = None  # exporter x _HABITS: each declarant's way of writing


class _NameBook:
    """Makes company and person names the way each country writes them, never twice."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.taken: set[str] = set()
        self.cities = _party_option("city", "CN")

    def _one(self, values_probs) -> str:
        values, probabilities = values_probs
        return str(values[self.rng.choice(len(values), p=probabilities)])

    def company(self, country: str, template: str, city: str = "") -> str:
        person = "{first}" in template
        for attempt in range(60):
            core = self._one(_party_option("core", country))
            if attempt >= 20:  # crowded name space: two brand words, as many firms use
                core = f"{core} {self._one(_party_option('core', country))}"
            parts = {"core": core, "city": city or self._one(self.cities)}
            if person:  # namesakes are common: a middle initial tells them apart
                parts["first"] = self._one(_party_option("first_name", country))
                parts["last"] = self._one(_party_option("last_name", country))
                if attempt >= 3:
                    parts["first"] += f" {chr(ord('A') + int(self.rng.integers(26)))}."
            name = template.format(**parts)
            if not person:
                name = self._one(_party_option("suffix", country)).format(name=name)
            if name not in self.taken:
                break
        self.taken.add(name)
        return name

    def consignee(self, country: str, business: str) -> str:
        return self.company(country, self._one(_party_option("business", business, country)))

    def exporter(self, country: str, sector: str) -> str:
        sectors = _sectors()
        industry = self._one(_uniform(sectors.at[sector, "industry_words"]))
        if country == "CN":
            city = self._one(_weighted(sectors.at[sector, "cities"]))
            return self.company("CN", f"{{city}} {{core}} {industry}", city)
        return self.company(country, f"{{core}} {industry}")


def _uniform(text: str) -> tuple[np.ndarray, np.ndarray]:
    """``'a|b|c'`` -> (values, equal probabilities)."""
    values = np.array(text.split("|"), dtype=object)
    return values, np.full(len(values), 1 / len(values))


def _consignee_pool(rng, book: _NameBook, count: int, countries, country_p, chinese: bool):
    """Consignees with a line of business (shares from trade_parties.csv) and a country."""
    table = _read("trade_parties")
    shares = table[(table["kind"] == "business_share") & (table["key"].str.endswith("@CN") == chinese)]
    businesses = shares["key"].str.replace("@CN", "", regex=False).to_numpy(object)
    weights = shares["weight"].astype(float).to_numpy()
    business = businesses[rng.choice(len(businesses), size=count, p=weights / weights.sum())]
    country = np.asarray(countries, dtype=object)[rng.choice(len(countries), size=count, p=country_p)]
    names = np.array([book.consignee(c, b) for c, b in zip(country, business)], dtype=object)
    return names, country, business


def _sector_lines(sector: str, flows: tuple[str, ...]) -> np.ndarray:
    catalogue, sectors = _catalogue(), _sectors()
    wanted = sectors.at[sector, "draws_from"].split("|") if sectors.at[sector, "draws_from"] else [sector]
    return np.flatnonzero(np.isin(catalogue.sector, wanted) & np.isin(catalogue.flow, flows))


@lru_cache(maxsize=4)
def _world(seed: int) -> _World:
    """Every party and its habits, drawn once from the seed for every chunk to use, so
    an exporter ships the same goods to the same partners in January and in December."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    catalogue, countries, sectors = _catalogue(), _countries(), _sectors()
    book = _NameBook(rng)

    foreign = countries.code != "CN"
    foreign_codes, foreign_p = countries.code[foreign], _normalised(countries.export_share[foreign])
    names_f, country_f, business_f = _consignee_pool(rng, book, _FOREIGN_CONSIGNEES, foreign_codes, foreign_p, False)
    names_c, country_c, business_c = _consignee_pool(rng, book, _CN_CONSIGNEES, ["CN"], [1.0], True)
    consignee_name = np.concatenate([names_f, names_c])
    consignee_country = np.concatenate([country_f, country_c])
    consignee_business = np.concatenate([business_f, business_c])
    # A few big buyers, many small ones; buyers in big markets trade more.
    consignee_size = (rng.pareto(1.3, len(consignee_name)) + 1) * np.append(
        countries.export_share[countries.index(country_f)], np.full(len(names_c), 3.0))

    kinds, homes, sector_of, products, origins = [], [], [], [], []
    cn_sectors = sectors.index[sectors["cn_exporter_share"].astype(float) > 0]
    cn_p = sectors.loc[cn_sectors, "cn_exporter_share"].astype(float).to_numpy()
    for sector in rng.choice(cn_sectors, size=_CN_EXPORTERS, p=cn_p / cn_p.sum()):
        lines = _sector_lines(sector, ("export", "both"))
        kinds.append("cn"), homes.append("CN"), sector_of.append(sector)
        products.append(lines), origins.append(np.full(len(lines), "CN", dtype=object))
    foreign_sectors = sectors.index[sectors["foreign_exporter_share"].astype(float) > 0]
    foreign_sp = sectors.loc[foreign_sectors, "foreign_exporter_share"].astype(float).to_numpy()
    for sector in rng.choice(foreign_sectors, size=_FOREIGN_EXPORTERS, p=foreign_sp / foreign_sp.sum()):
        lines = _sector_lines(sector, ("import", "both"))
        lines = lines[[len(catalogue.import_origins[line][0]) > 0 for line in lines]]
        first = rng.choice(lines, p=catalogue.share[lines] / catalogue.share[lines].sum())
        home = _pick(rng, *catalogue.import_origins[first], 1)[0]
        lines = lines[[home in catalogue.import_origins[line][0] for line in lines]]
        kinds.append("foreign"), homes.append(home), sector_of.append(sector)
        products.append(lines), origins.append(np.full(len(lines), home, dtype=object))
    hubs = _read("trade_hubs")
    hub_p = hubs["share"].astype(float).to_numpy()
    for row in rng.choice(len(hubs), size=_HUB_EXPORTERS, p=hub_p / hub_p.sum()):
        hub = hubs.iloc[row]
        lines = _sector_lines(hub["sector"], ("export", "both"))
        if hub["hs_prefixes"]:
            lines = lines[[any(catalogue.hs_code[line].startswith(p) for p in hub["hs_prefixes"].split("|"))
                           for line in lines]]
        kinds.append("hub"), homes.append(hub["country"]), sector_of.append(hub["sector"])
        products.append(lines), origins.append(_pick(rng, *_weighted(hub["origins"]), len(lines)))

    n_clean = len(kinds)
    kinds = np.array(kinds, dtype=object)
    sector_arr = np.array(sector_of, dtype=object)
    licensed = (sector_arr == "rare_earth") & (kinds == "cn") & (rng.random(n_clean) < 0.85)
    slots = 5
    product_index = np.full((n_clean, slots), -1)
    product_weight = np.zeros((n_clean, slots))
    origin = np.full((n_clean, slots), "CN", dtype=object)
    for e in range(n_clean):
        lines, line_origin = products[e], origins[e]
        if kinds[e] == "cn" and not licensed[e]:  # only licence holders trade controlled lines
            keep = np.isnat(catalogue.licence_from[lines])
            lines, line_origin = lines[keep], line_origin[keep]
        count = min(len(lines), 1 + rng.binomial(4, 0.4))
        # Gumbel top-k: a weighted choice without replacement, popular lines first.
        keys = np.log(catalogue.share[lines]) + rng.gumbel(size=len(lines))
        chosen = np.argsort(-keys)[:count]
        product_index[e, :count] = lines[chosen]
        product_weight[e, :count] = rng.dirichlet(np.full(count, 1.5)) if count > 1 else 1.0
        origin[e, :count] = line_origin[chosen]
    valid = product_index >= 0
    safe_lines = np.where(valid, product_index, 0)
    preferred_mode = _pick_rows(rng, catalogue.mode_cum[safe_lines.ravel()]).reshape(safe_lines.shape)
    low, high = np.log(catalogue.kg_min[safe_lines]), np.log(catalogue.kg_max[safe_lines])
    median_kg = np.exp(low + rng.random(safe_lines.shape) * (high - low))

    partners, partner_weight = _partners(rng, kinds, np.array(homes, dtype=object), sector_arr,
                                         consignee_country, consignee_business, consignee_size)
    broker_names = np.array([book.company("CN", _pick(rng, *_party_option("broker", "CN"), 1)[0]) for _ in range(250)]
                            + [book.company(str(c), _pick(rng, *_party_option("broker", "default"), 1)[0])
                               for c in _pick(rng, foreign_codes, foreign_p, 60)], dtype=object)
    carriers = _party_option("carrier", "express")[0].astype(object)

    # Trade is concentrated (a lognormal with a wide spread) but no exporter files more
    # than about one declaration in a hundred.
    activity = rng.lognormal(0, 1.2, n_clean)
    for kind, share in _KIND_SHARES.items():
        activity[kinds == kind] *= share / activity[kinds == kind].sum()
    sample_rate = np.clip(sectors.loc[sector_arr, "sample_rate"].astype(float).to_numpy()
                          * rng.lognormal(0, 0.5, n_clean), 0, 0.3)

    exporters = _Exporters(
        name=np.array([book.exporter(h, s) for h, s in zip(homes, sector_of)], dtype=object),
        home=np.array(homes, dtype=object), sector=sector_arr, kind=kinds, activity=activity,
        products=product_index, product_cum=_cumulative(product_weight), preferred_mode=preferred_mode,
        median_kg=median_kg, origin=origin, partners=partners, partner_cum=_cumulative(partner_weight),
        brokers=np.where(kinds[:, None] == "cn", rng.integers(0, 250, (n_clean, 2)),
                         rng.integers(250, len(broker_names), (n_clean, 2))),
        carrier=rng.integers(0, len(carriers), n_clean), price_factor=rng.lognormal(0, 0.15, n_clean),
        sample_rate=sample_rate, remarks_rate=rng.beta(2, 3, n_clean),
        open_consignees=sector_arr == "ecommerce", licensed=licensed,
    )
    open_pool = np.flatnonzero(np.isin(consignee_business, ["individual", "online_shop"]) & (consignee_country != "CN"))
    world = _World(
        exporters=exporters, consignee_name=consignee_name, consignee_country=consignee_country,
        consignee_business=consignee_business, brokers=broker_names, carriers=carriers,
        clean_exporter_p=activity / activity.sum(), open_pool=open_pool,
        open_pool_p=consignee_size[open_pool] / consignee_size[open_pool].sum(), networks={},
        id_keys=rng.integers(0, 2 ** 63, 4).astype(np.uint64),
    )
    _add_networks(rng, book, world)
    # Its own stream, so the parties and their trade are the same whatever the habits.
    habit_rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    world.habits = habit_rng.random((len(world.exporters.name), len(_HABITS)))
    return world


def _partners(rng, kinds, homes, sectors, consignee_country, consignee_business, consignee_size):
    """Each exporter's usual consignees: buyers whose business fits its sector, in the
    destination mix of Chinese exports; importers into China buy from foreign exporters."""
    table = _sectors()
    slots = 8
    partners = np.zeros((len(kinds), slots), dtype=np.int64)
    weights = np.zeros((len(kinds), slots))
    buffers: dict[tuple[str, bool], list] = {}

    def draw(business: str, chinese: bool) -> int:
        key = (business, chinese)
        if key not in buffers or not buffers[key][1]:
            pool = np.flatnonzero((consignee_business == business) & ((consignee_country == "CN") == chinese))
            if not len(pool):  # no such business on that side: a trading house buys instead
                pool = np.flatnonzero((consignee_business == "trading") & ((consignee_country == "CN") == chinese))
            sizes = consignee_size[pool]
            buffers[key] = [pool, list(rng.choice(pool, size=4096, p=sizes / sizes.sum()))]
        return buffers[key][1].pop()

    for e in range(len(kinds)):
        buyers, buyer_p = _weighted(table.at[sectors[e], "buyers"])
        count = 1 + min(rng.poisson(3), slots - 1)
        chosen: list[int] = []
        for business in _pick(rng, buyers, buyer_p, count * 2):
            candidate = draw(business, kinds[e] == "foreign")
            if candidate not in chosen and consignee_country[candidate] != homes[e]:
                chosen.append(candidate)
            if len(chosen) == count:
                break
        if not chosen:
            chosen = [draw("trading", kinds[e] == "foreign")]
        partners[e, :len(chosen)] = chosen
        weights[e, :len(chosen)] = 1.0 / np.arange(1, len(chosen) + 1) ** 0.8
    return partners, weights


def _add_networks(rng, book: _NameBook, world: _World) -> None:
    """Smuggling networks: shell exporters that only smuggle, a few ordinary exporters
    that smuggle on the side, and the consignees (new fronts and existing traders) they
    ship to. Shells join the exporter table with zero clean activity."""
    ex = world.exporters
    shells: list[tuple[str, str, str]] = []
    for scheme in _RULE_SCHEMES:
        sectors, sector_p = _scheme_option(scheme, "exporter_sector")
        exports, export_p = (_scheme_option(scheme, "export_country") if _has_scheme_option(scheme, "export_country")
                             else (np.array(["CN"], dtype=object), np.array([1.0])))
        for sector, home in zip(_pick(rng, sectors, sector_p, _SHELLS_PER_SCHEME),
                                _pick(rng, exports, export_p, _SHELLS_PER_SCHEME)):
            shells.append((scheme, str(home), str(sector)))
    first_shell = len(ex.name)
    n_shells = len(shells)
    shell_home = np.array([h for _, h, _ in shells], dtype=object)
    shell_sector = np.array([s for _, _, s in shells], dtype=object)
    def grow(array: np.ndarray, fill) -> np.ndarray:
        """Rows for the shells: they have no clean trade, so their profile is padding."""
        return np.concatenate([array, np.full((n_shells,) + array.shape[1:], fill, dtype=array.dtype)])

    ex.name = np.concatenate([ex.name, [book.exporter(h, s) for _, h, s in shells]]).astype(object)
    ex.home = np.concatenate([ex.home, shell_home])
    ex.sector = np.concatenate([ex.sector, shell_sector])
    ex.kind = np.concatenate([ex.kind, np.full(n_shells, "shell", dtype=object)])
    ex.activity = grow(ex.activity, 0.0)
    ex.brokers = np.concatenate([ex.brokers, rng.integers(0, 250, (n_shells, 2))])
    ex.carrier = np.concatenate([ex.carrier, rng.integers(0, len(world.carriers), n_shells)])
    ex.remarks_rate = np.concatenate([ex.remarks_rate, rng.beta(2, 3, n_shells)])
    for name in ("products", "preferred_mode", "partners"):
        setattr(ex, name, grow(getattr(ex, name), 0))
    for name in ("product_cum", "median_kg", "partner_cum", "price_factor", "sample_rate"):
        setattr(ex, name, grow(getattr(ex, name), 1.0))
    ex.origin = grow(ex.origin, "CN")
    for name in ("open_consignees", "licensed"):
        setattr(ex, name, grow(getattr(ex, name), False))
    world.clean_exporter_p = np.append(world.clean_exporter_p, np.zeros(n_shells))

    for scheme in _RULE_SCHEMES:
        own = first_shell + np.flatnonzero([s == scheme for s, _, _ in shells])
        sectors, _ = _scheme_option(scheme, "exporter_sector")
        candidates = np.flatnonzero((ex.kind == "cn") & np.isin(ex.sector, sectors))
        corrupt = rng.choice(candidates, size=min(_CORRUPT_PER_SCHEME, len(candidates)), replace=False)
        members = np.concatenate([own, corrupt])
        destinations, destination_p = _scheme_option(scheme, "destination")
        businesses, business_p = _scheme_option(scheme, "consignee_business")
        country = _pick(rng, destinations, destination_p, _FRAUD_CONSIGNEES_PER_SCHEME)
        business = _pick(rng, businesses, business_p, _FRAUD_CONSIGNEES_PER_SCHEME)
        fronts = len(world.consignee_name) + np.arange(_FRAUD_CONSIGNEES_PER_SCHEME)
        world.consignee_name = np.concatenate(
            [world.consignee_name, [book.consignee(c, b) for c, b in zip(country, business)]]).astype(object)
        world.consignee_country = np.concatenate([world.consignee_country, country])
        world.consignee_business = np.concatenate([world.consignee_business, business])
        # Existing traders in the same places and lines of business also receive some.
        existing = np.flatnonzero(np.isin(world.consignee_country[:fronts[0]], destinations)
                                  & np.isin(world.consignee_business[:fronts[0]], businesses))
        pool = np.concatenate([fronts, rng.choice(existing, size=min(20, len(existing)), replace=False)])
        partners = rng.choice(pool, size=(len(members), 3))
        partner_weight = np.array([1.0, 0.5, 0.25]) * (rng.random((len(members), 3)) < [1.0, 0.6, 0.3])
        world.networks[scheme] = _Network(
            exporters=members, exporter_p=_normalised(rng.pareto(1.5, len(members)) + 1),
            partners=partners, partner_cum=_cumulative(partner_weight))


def _normalised(weights: np.ndarray) -> np.ndarray:
    return weights / weights.sum()


# ------------------------------------------------------------------------------ drafts
#
# A draft is a dict of column arrays with physical quantities (kg, USD, indices into the
# world's tables). Clean trade and every scheme build drafts; one common finishing step
# packs, prices, formats and adds noise, so no column is written differently for frauds.


def _feasible_modes(mode: np.ndarray, export_country: np.ndarray, destination: np.ndarray) -> np.ndarray:
    """Road and rail only to countries with a land route from China; otherwise by sea."""
    countries = _countries()
    partner = np.where(export_country == "CN", destination, export_country)
    position = countries.index(partner)
    known = position >= 0
    road_ok = known & countries.road[np.maximum(position, 0)]
    rail_ok = known & countries.rail[np.maximum(position, 0)]
    china_end = (export_country == "CN") | (destination == "CN")
    mode = mode.copy()
    mode[(mode == "road") & ~(road_ok & china_end)] = "sea"
    mode[(mode == "rail") & ~(rail_ok & china_end)] = "sea"
    return mode


def _describe(rng, lines: np.ndarray) -> np.ndarray:
    catalogue = _catalogue()
    pick = catalogue.description_start[lines] + np.floor(
        rng.random(len(lines)) * catalogue.description_count[lines]).astype(np.int64)
    return catalogue.descriptions[pick].copy()


def _consignment_kg(rng, lines, median, mode) -> np.ndarray:
    """Net kg per consignment: around the exporter's usual size for the line, parcels
    small, air cargo lighter than sea freight."""
    catalogue = _catalogue()
    net = np.clip(median * rng.lognormal(0, 0.45, len(lines)), catalogue.kg_min[lines] * 0.5,
                  catalogue.kg_max[lines] * 1.5)
    parcel = np.isin(mode, PARCEL_MODES) & (catalogue.kg_max[lines] > 30)
    net[parcel] = np.clip(rng.lognormal(np.log(4), 0.9, parcel.sum()), 0.2, 30)
    air = (mode == "air") & (catalogue.kg_max[lines] > 5000)
    net[air] = np.minimum(net[air], rng.lognormal(np.log(600), 0.8, air.sum()))
    return net


def _nominal_values(rng, count: int) -> np.ndarray:
    """The round values declarants type for samples and gifts."""
    return rng.choice(np.array([5, 10, 15, 20, 30, 50, 80, 100, 150, 200, 300]), size=count).astype(float)


def _remarks(rng, world, exporter, mode, sample, reexport, package, lines) -> np.ndarray:
    """Free-text remarks at each exporter's habitual rate, fitting the shipment."""
    m = len(exporter)
    remarks = np.full(m, "", dtype=object)
    written = rng.random(m) < world.exporters.remarks_rate[exporter]
    kinds = np.select(
        [reexport, sample, (package == "BO") | (package == "CA"), mode == "sea"],
        ["remarks_reexport", "remarks_sample", "remarks_bottle", "remarks_sea"], "remarks")
    written |= reexport
    sea_general = (kinds == "remarks_sea") & (rng.random(m) < 0.5)
    kinds[sea_general] = "remarks"
    bottle_general = (kinds == "remarks_bottle") & ~np.isin(_catalogue().sector[lines], ["lubricants", "chemicals"])
    kinds[bottle_general] = "remarks"
    for kind in np.unique(kinds[written]):
        rows = np.flatnonzero(written & (kinds == kind))
        remarks[rows] = _pick(rng, *_scheme_option("clean", kind), len(rows))
    return remarks


def _trade_draft(rng, world: _World, dates: np.ndarray) -> dict:
    """Legitimate trade: each row drawn from an exporter's stable profile."""
    m = len(dates)
    catalogue, ex = _catalogue(), world.exporters
    exporter = rng.choice(len(ex.name), size=m, p=world.clean_exporter_p)
    slot = _pick_rows(rng, ex.product_cum[exporter])
    lines = ex.products[exporter, slot]
    # Samples of small articles and materials travel by express at a nominal value.
    sample = (rng.random(m) < ex.sample_rate[exporter]) & (catalogue.kg_per_unit[lines] <= 5)
    mode = np.where(rng.random(m) < 0.8, MODES[ex.preferred_mode[exporter, slot]],
                    MODES[_pick_rows(rng, catalogue.mode_cum[lines])]).astype(object)
    mode[sample] = "express"

    consignee = ex.partners[exporter, _pick_rows(rng, ex.partner_cum[exporter])]
    open_market = ex.open_consignees[exporter] & (rng.random(m) < 0.85)
    consignee[open_market] = rng.choice(world.open_pool, size=open_market.sum(), p=world.open_pool_p)

    kind = ex.kind[exporter]
    export_country = ex.home[exporter].copy()
    destination = world.consignee_country[consignee].copy()
    origin = ex.origin[exporter, slot].copy()
    direction = np.where(kind == "foreign", "import", "export").astype(object)
    mode = _feasible_modes(mode, export_country, destination)

    # Legitimate re-exports of foreign-made rare earths and magnets by licence holders
    # (e.g. Japanese magnets returned after testing): non-CN origin, licence attached.
    has_reexport = np.array([len(o[0]) > 0 for o in catalogue.reexport_origins])
    reexport = (kind == "cn") & ex.licensed[exporter] & has_reexport[lines] & (rng.random(m) < 0.06)
    for line in np.unique(lines[reexport]):
        rows = np.flatnonzero(reexport & (lines == line))
        origin[rows] = _pick(rng, *catalogue.reexport_origins[line], len(rows))
    controlled = (export_country == "CN") & (catalogue.licence_from[lines] <= dates)
    # Licence holders type their licence; a few forget (the rules' known false positive).
    licence = ex.licensed[exporter] & ((controlled & (rng.random(m) > 0.02)) | reexport)

    net = _consignment_kg(rng, lines, ex.median_kg[exporter, slot], mode)
    net[sample] = np.clip(rng.lognormal(np.log(1.5), 0.8, sample.sum()), 0.1, 10)
    value = net * catalogue.usd_per_kg[lines] * ex.price_factor[exporter] * rng.lognormal(0, catalogue.sigma[lines])
    value[sample] = _nominal_values(rng, sample.sum())

    description = _describe(rng, lines)
    description[sample] = _concat(description[sample], _pick(rng, [", sample", " sample", " (samples)"],
                                                               [0.5, 0.3, 0.2], sample.sum()))
    package = catalogue.package_codes[lines, _pick_rows(rng, catalogue.package_cum[lines])]
    parcel_of_bulk = np.isin(mode, PARCEL_MODES) & (catalogue.kg_max[lines] > 30)
    package[parcel_of_bulk] = _pick(rng, ["CT", "PK", "BX"], [0.5, 0.3, 0.2], parcel_of_bulk.sum())
    package[sample] = np.where(catalogue.sector[lines[sample]] == "glaze", "JR", package[sample])
    return {
        "pattern": np.full(m, "", dtype=object), "direction": direction, "exporter": exporter,
        "consignee": consignee, "origin": origin, "export_country": export_country, "destination": destination,
        "hs_code": catalogue.hs_code[lines].copy(), "description": description,
        "remarks": _remarks(rng, world, exporter, mode, sample, reexport, package, lines),
        "net": net, "value_usd": value, "nominal": sample.copy(), "mode": mode, "package": package,
        "fill": catalogue.fill[lines].copy(), "licence": licence,
    }


def _network_draft(rng, world: _World, scheme: str, m: int, exporter=None, consignee=None) -> dict:
    """What all rule-named schemes have in common: who ships, to whom, how, in what."""
    network = world.networks[scheme]
    if exporter is None:
        member = rng.choice(len(network.exporters), size=m, p=network.exporter_p)
        exporter = network.exporters[member]
        consignee = network.partners[member, _pick_rows(rng, network.partner_cum[member])]
    export_country = world.exporters.home[exporter].copy()
    destination = world.consignee_country[consignee].copy()
    mode = _feasible_modes(_pick(rng, *_scheme_option(scheme, "mode"), m), export_country, destination)
    return {
        "pattern": np.full(m, scheme, dtype=object), "direction": np.full(m, "export", dtype=object),
        "exporter": exporter, "consignee": consignee, "origin": np.full(m, "CN", dtype=object),
        "export_country": export_country, "destination": destination,
        "remarks": np.full(m, "", dtype=object), "nominal": np.zeros(m, dtype=bool), "mode": mode,
        "package": (_pick(rng, *_scheme_option(scheme, "package"), m) if _has_scheme_option(scheme, "package")
                    else np.full(m, "CT", dtype=object)),
        "fill": np.full(m, np.nan),
        "licence": np.zeros(m, dtype=bool),
    }


def _split_pairs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(description, hs_code) rows of a scheme table -> two columns."""
    return values[:, 0].copy(), values[:, 1].copy()


def _line_prices(hs_codes: np.ndarray) -> np.ndarray:
    """USD/kg a declarant would quote for goods declared under each code."""
    catalogue = _catalogue()
    return catalogue.usd_per_kg[catalogue.lines_of(hs_codes)]


def _rare_earth_lines(controlled_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rare-earth oxides, metals and magnets worth smuggling; controlled ones weigh more."""
    catalogue = _catalogue()
    rare = (catalogue.sector == "rare_earth") & (catalogue.flow != "import") & np.array(
        [code.startswith(("2805", "2846", "8505111")) for code in catalogue.hs_code])
    controlled = ~np.isnat(catalogue.licence_from)
    lines = np.flatnonzero(rare & controlled) if controlled_only else np.flatnonzero(rare)
    weights = np.where(controlled[lines], 3.0, 1.0) * catalogue.share[lines]
    return lines, weights / weights.sum()


def _country_fills(codes: np.ndarray) -> dict[str, np.ndarray]:
    countries = _countries()
    position = np.maximum(countries.index(codes), 0)
    return {"name": countries.name[position], "adjective": countries.adjective[position]}


def _mislabelled_origin(rng, world, m: int) -> dict:
    draft = _network_draft(rng, world, "mislabelled_origin", m)
    lines = _pick(rng, *_rare_earth_lines(False), m).astype(np.int64)
    catalogue = _catalogue()
    origin = _pick(rng, *_scheme_option("mislabelled_origin", "origin"), m)
    # Re-declared in a hub after transshipment, the goods often claim the hub's own
    # origin ("made in Vietnam"), which only mirror statistics can contradict.
    exported = draft["export_country"]
    local_claim = np.isin(exported, ["VN", "MY"]) & (rng.random(m) < 0.7)
    origin[local_claim] = exported[local_claim]
    origin[(origin == exported) & ~local_claim] = "MY"
    # Magnets also leave as "magnet assemblies" under the parts line 8505.90.
    hs_code = catalogue.hs_code[lines].copy()
    description = _describe(rng, lines)
    relabel = (hs_code == "8505111000") & (rng.random(m) < 0.3)
    description[relabel], hs_code[relabel] = _split_pairs(_pick(rng, *_scheme_option("mislabelled_origin", "relabel"),
                                                                 relabel.sum()))
    wording = _render(_pick(rng, *_scheme_option("mislabelled_origin", "wording"), m), _country_fills(origin))
    in_description = (rng.random(m) < 0.35) & (wording != "")
    description[in_description] = _concat(description[in_description], ", ", wording[in_description])
    remarks = np.where(in_description, "", wording).astype(object)
    net = np.clip(rng.lognormal(np.log(20), 1.0, m), 0.5, 1500)
    net[draft["mode"] == "sea"] *= 15
    draft.update(
        origin=origin, hs_code=hs_code, description=description, remarks=remarks, net=net,
        # the real goods, packed as such goods are (steel drums for oxides, cartons for magnets)
        package=catalogue.package_codes[lines, _pick_rows(rng, catalogue.package_cum[lines])],
        # smuggled material sells about 30% below market (people.cn)
        value_usd=net * catalogue.usd_per_kg[lines] * rng.uniform(0.6, 1.0, m) * rng.lognormal(0, 0.2, m),
        licence=rng.random(m) < 0.15,  # a forged licence number
    )
    return draft


def _falsified_contents(rng, world, m: int) -> dict:
    draft = _network_draft(rng, world, "falsified_contents", m)
    catalogue = _catalogue()
    description, hs_code = _split_pairs(_pick(rng, *_scheme_option("falsified_contents", "description"), m))
    true_lines = _pick(rng, *_rare_earth_lines(True), m).astype(np.int64)
    net = np.clip(rng.lognormal(np.log(12), 1.0, m), 0.5, 800)
    net[np.isin(draft["mode"], ["sea", "air"])] *= 5
    # Most declare the cover goods' price; the careless declare near the true value.
    cover_price = _line_prices(hs_code) * rng.lognormal(0, 0.3, m)
    true_price = catalogue.usd_per_kg[true_lines] * rng.uniform(0.5, 0.9, m)
    price = np.where(rng.random(m) < 0.65, cover_price, true_price)
    draft.update(hs_code=hs_code, description=description, net=net, value_usd=net * price)
    return draft


def _ceramic_concealment(rng, world, m: int) -> dict:
    draft = _network_draft(rng, world, "ceramic_concealment", m)
    description, hs_code = _split_pairs(_pick(rng, *_scheme_option("ceramic_concealment", "description"), m))
    net = np.clip(rng.lognormal(np.log(6), 0.9, m), 0.3, 95)
    heavier = rng.random(m) < 0.12  # just above the 100 kg a parcel rule looks at
    net[heavier] = rng.uniform(100, 250, heavier.sum())
    kind = rng.choice(3, size=m, p=[0.65, 0.15, 0.2])
    price = np.select([kind == 0, kind == 2],
                      [_line_prices(hs_code) * rng.lognormal(0, 0.3, m), rng.uniform(20, 60, m)], 0.0)
    value = np.where(kind == 1, _nominal_values(rng, m), net * price)
    draft.update(hs_code=hs_code, description=description, net=net, value_usd=value, nominal=kind == 1,
                 remarks=_pick(rng, *_scheme_option("ceramic_concealment", "remarks"), m))
    return draft


def _bottle_concealment(rng, world, m: int) -> dict:
    draft = _network_draft(rng, world, "bottle_concealment", m)
    carton = draft["package"] == "CT"
    # A 0.5-1 l bottle of oxide powder (bulk density 2-3.5 kg/l) weighs 1.2-3.5 kg;
    # a carton of such bottles 15-30 kg: dense for "parts".
    fill = np.where(carton, rng.uniform(15, 30, m), rng.uniform(1.2, 3.5, m))
    net = np.clip(rng.lognormal(np.log(40), 0.6, m), 5, 200)
    remarks = np.where(carton, _pick(rng, *_scheme_option("bottle_concealment", "remarks_carton"), m),
                       _pick(rng, *_scheme_option("bottle_concealment", "remarks"), m)).astype(object)
    draft.update(hs_code=_pick(rng, *_scheme_option("bottle_concealment", "hs_code"), m),
                 description=_pick(rng, *_scheme_option("bottle_concealment", "description"), m),
                 net=net, value_usd=net * rng.lognormal(np.log(10), 0.5, m), fill=fill, remarks=remarks)
    return draft


def _mail_splitting(rng, world, series: np.ndarray) -> dict:
    """Parcels of one series share exporter, consignee and (mostly) goods."""
    m = len(series)
    network = world.networks["mail_splitting"]
    n_series = int(series.max()) + 1 if m else 0
    member = rng.choice(len(network.exporters), size=n_series, p=network.exporter_p)
    consignee = network.partners[member, _pick_rows(rng, network.partner_cum[member])]
    draft = _network_draft(rng, world, "mail_splitting", m, network.exporters[member][series], consignee[series])
    goods = _pick(rng, *_scheme_option("mail_splitting", "description"), n_series)[series]
    varied = rng.random(m) < 0.2
    goods[varied] = _pick(rng, *_scheme_option("mail_splitting", "description"), varied.sum())
    description, hs_code = _split_pairs(goods)
    net = np.clip(rng.lognormal(np.log(6), 0.7, m), 0.3, 30)
    just_under = rng.random(m) < 0.2
    net[just_under] = rng.uniform(27, 29.9, just_under.sum())
    heavier_series = (rng.random(n_series) < 0.15)[series]
    net[heavier_series] = rng.uniform(30.5, 45, heavier_series.sum())
    nominal = rng.random(m) < 0.35
    value = np.where(nominal, _nominal_values(rng, m), net * rng.lognormal(np.log(15), 0.6, m))
    draft.update(hs_code=hs_code, description=description, net=net, value_usd=value, nominal=nominal,
                 remarks=_pick(rng, *_scheme_option("mail_splitting", "remarks"), m))
    return draft


def _undervalue(rng, draft: dict) -> None:
    """Declare 2-35% of the usual value: duty and quota evasion on ordinary goods."""
    m = len(draft["net"])
    draft["value_usd"] = draft["value_usd"] * np.clip(rng.lognormal(np.log(0.12), 0.6, m), 0.02, 0.35)
    draft["nominal"] = np.zeros(m, dtype=bool)
    draft["pattern"] = np.full(m, "undervaluation", dtype=object)


def _manipulate_weights(rng, draft: dict) -> None:
    """Weights that do not hold together (after packing): net above gross, net a fraction
    of gross, an impossible weight per package, or weights that do not fit the quantity."""
    m = len(draft["net"])
    variant = rng.choice(4, size=m)
    net, gross, count = draft["net"].copy(), draft["gross"].copy(), draft["package_count"].copy()
    over = variant == 0
    net[over] = gross[over] * rng.uniform(1.08, 1.6, over.sum())
    under = variant == 1
    net[under] = gross[under] * rng.uniform(0.25, 0.6, under.sum())
    heavy = (variant == 2) & (rng.random(m) < 0.5)
    light = (variant == 2) & ~heavy
    count[heavy] = np.maximum(1, np.round(count[heavy] / rng.uniform(8, 30, heavy.sum())))
    count[light] = np.round(count[light] * rng.uniform(8, 40, light.sum()))
    scaled = variant == 3
    factor = np.where(rng.random(m) < 0.5, rng.uniform(0.1, 0.3, m), rng.uniform(3, 8, m))
    net[scaled] *= factor[scaled]
    gross[scaled] *= factor[scaled]
    draft.update(net=net, gross=gross, package_count=count, pattern=np.full(m, "weight_manipulation", dtype=object))


# ----------------------------------------------------------------------------- packing


def _units(draft: dict) -> None:
    """Quantity unit and kg per unit from the catalogue line of each row's HS code, so
    an HS code is counted the same way in every row, clean or not."""
    catalogue = _catalogue()
    lines = catalogue.lines_of(draft["hs_code"])
    draft["unit"], draft["kg_per_unit"] = catalogue.unit[lines].copy(), catalogue.kg_per_unit[lines].copy()


def _pack(rng, draft: dict) -> None:
    """Gross weight, packages and quantity from net weight and packing.

    Bags and drums are often filled to their nominal weight (25 kg, 1 t), so their net
    is a round multiple; the same rule applies whatever the row's label.
    """
    packages = _packages()
    m = len(draft["net"])
    position = np.maximum(packages.index(draft["package"]), 0)
    fill = np.where(np.isnan(draft["fill"]), packages.kg_per_package[position], draft["fill"])
    bulk = fill <= 0  # grain or ore in the hold: one lot
    divisor = np.where(bulk, 1.0, fill)
    net = draft["net"]
    standard = packages.standard_fill[position] & (rng.random(m) < 0.35) & (net >= fill) & ~bulk
    net = np.where(standard, np.round(net / divisor) * fill, net)
    loose = np.maximum(1, np.round(net / divisor * rng.lognormal(0, 0.15, m)))
    count = np.where(standard, np.round(net / divisor), loose)
    count[bulk] = 1
    parcel_box = np.isin(draft["mode"], PARCEL_MODES) & ~np.isin(draft["package"], _CONTAINERS)
    count[parcel_box] = np.maximum(1, np.ceil(net[parcel_box] / 20)) + (rng.random(parcel_box.sum()) < 0.15)
    gross = net * (1 + packages.tare[position] * rng.lognormal(0, 0.3, m))
    unit = draft["unit"]
    per_unit = net / draft["kg_per_unit"]
    quantity = np.select([unit == "kg", unit == "t"], [net, net / 1000], per_unit)
    counted = ~np.isin(unit, list(_QUANTITY_DECIMALS))
    quantity[counted] = np.maximum(1, np.round(quantity[counted]))
    draft.update(net=net, gross=gross, package_count=count.astype(float), quantity=quantity)


# ---------------------------------------------------------------------------- placement


_GOLDEN = 0.6180339887498949


def _fraud_counts(start_row: int, end_row: int, fraud_rate: float) -> dict[str, int]:
    """Frauds per scheme in rows [start_row, end_row).

    The file's frauds are numbered 0..F-1 with F = round(rows * fraud_rate), so the
    total is exact and every chunk holds its share; fraud j belongs to the scheme whose
    share interval holds frac((j + 0.5) * golden ratio), an equidistributed sequence, so
    each scheme's count is within a few of its share anywhere in the file.
    """
    first, last = (int(np.floor(row * fraud_rate + 0.5)) for row in (start_row, end_row))
    bounds = np.cumsum([s.share for s in SCHEMES])
    position = ((np.arange(first, last) + 0.5) * _GOLDEN) % 1.0
    scheme = np.minimum(np.searchsorted(bounds / bounds[-1], position, side="right"), len(SCHEMES) - 1)
    counts = np.bincount(scheme, minlength=len(SCHEMES))
    return {s.name: int(counts[i]) for i, s in enumerate(SCHEMES)}


def _split_series(rng, parcels: int) -> np.ndarray:
    """Series id of each mail-splitting parcel: series of 3-12 parcels (mostly 3-6)."""
    if parcels == 0:
        return np.zeros(0, dtype=np.int64)
    sizes = rng.choice(np.arange(3, 13), size=parcels, p=_normalised(1 / np.arange(1, 11) ** 0.9))
    sizes = sizes[:np.searchsorted(np.cumsum(sizes), parcels) + 1]
    sizes[-1] -= sizes.sum() - parcels
    if len(sizes) > 1 and sizes[-1] < 3:  # a stub joins the series before it
        sizes[-2] += sizes[-1]
        sizes = sizes[:-1]
    return np.repeat(np.arange(len(sizes)), sizes)


def _place(rng, slot_days: np.ndarray, single: int, series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slots (positions in the chunk) for single frauds and for split series.

    Single frauds land anywhere, so they follow the same seasonality as clean trade;
    each split series falls within a 2-25 day window. Wanted slots that collide move to
    the next free one (a cumulative maximum), keeping everything column-wise.
    """
    slots = len(slot_days)
    first, last = int(slot_days[0]), int(slot_days[-1])
    n_series = int(series.max()) + 1 if len(series) else 0
    window = np.minimum(rng.integers(2, 26, n_series), last - first)
    anchor = first + np.floor(rng.random(n_series) * (last - first - window + 1)).astype(np.int64)
    member_day = anchor[series] + np.floor(rng.random(len(series)) * (window[series] + 1)).astype(np.int64)
    low = np.searchsorted(slot_days, member_day, side="left")
    high = np.searchsorted(slot_days, member_day, side="right")
    member_slot = np.minimum(low + np.floor(rng.random(len(series)) * np.maximum(high - low, 1)).astype(np.int64),
                             slots - 1)
    wanted = np.concatenate([rng.integers(0, slots, single), member_slot])
    order = np.argsort(wanted, kind="stable")
    rank = np.arange(len(wanted))
    free = np.maximum.accumulate(wanted[order] - rank) + rank
    free = np.minimum(free, slots - len(wanted) + rank)
    placed = np.empty_like(wanted)
    placed[order] = free
    return placed[:single], placed[single:]


# ---------------------------------------------------------------------------- finishing


_SERIALS = MAX_ROWS  # 10-digit serials
_HALF_BITS = 17  # a Feistel network on 2 x 17 bits covers them (2**34 > 10**10)


def _declarants(rng, world: _World, exporter, mode, export_country) -> np.ndarray:
    """Brokers declare cargo; for parcels the carrier or the post declares."""
    ex = world.exporters
    m = len(exporter)
    broker = np.where(rng.random(m) < 0.8, ex.brokers[exporter, 0], ex.brokers[exporter, 1])
    declarant = world.brokers[broker].copy()
    express = mode == "express"
    carrier = np.where(rng.random(m) < 0.8, ex.carrier[exporter], rng.integers(0, len(world.carriers), m))
    declarant[express] = world.carriers[carrier[express]]
    post = mode == "post"
    declarant[post & (export_country == "CN")] = "China Post EMS"
    foreign_post = post & (export_country != "CN")
    declarant[foreign_post] = _concat(_country_fills(export_country[foreign_post])["name"], " Postal Service")
    return declarant


def _currencies(rng, destination, export_country) -> np.ndarray:
    """USD mostly; EUR more often to the euro area; CNY sometimes. Drawn from the route
    alone, never from the label."""
    countries = _countries()
    position = countries.index(destination)
    euro = (position >= 0) & countries.eu[np.maximum(position, 0)]
    draws = rng.random(len(destination))
    return np.where(draws < np.where(euro, 0.3, 0.05), "EUR",
                    np.where(draws > np.where(euro, 0.98, 0.93), "CNY", "USD")).astype(object)


def _licence_numbers(rng, dates: np.ndarray) -> np.ndarray:
    years = _date_parts(dates)[0]
    serial = _zero_padded(rng.integers(0, 1_000_000, len(dates)), 6)
    return _concat("CN-EXL-", years, "-", serial)


def _noise_descriptions(rng, description: np.ndarray) -> np.ndarray:
    """Upper-case system exports and a few typing slips, on any row."""
    description = description.copy()
    typo = rng.random(len(description)) < 0.01
    for pair in _scheme_option("noise", "typo")[0]:
        wrong, right = str(pair).split(">")[1], str(pair).split(">")[0]
        description[typo] = _text_op(np.char.replace, description[typo], right, wrong)
    upper = rng.random(len(description)) < 0.15
    description[upper] = _text_op(np.char.upper, description[upper])
    return description


def _format(rng, world: _World, draft: dict, dates: np.ndarray) -> dict[str, np.ndarray]:
    """Physical draft -> text cells, identically for every row."""
    m = len(dates)
    export_country = draft["export_country"]
    direction = draft["direction"].copy()
    partner_view = (direction == "export") & (export_country == "CN") & (rng.random(m) < _PARTNER_IMPORT_SHARE)
    direction[partner_view] = "import"
    currency = _currencies(rng, draft["destination"], export_country)
    rates = usd_rates()
    rate = np.array([rates[c] for c in currency])
    value = draft["value_usd"] / rate
    value = np.where(draft["nominal"], draft["value_usd"], value)
    whole = draft["nominal"] | (rng.random(m) < 0.08)
    value = np.where(whole, np.maximum(1, np.round(value)), value)
    decimals = pd.Series(draft["unit"]).map(_QUANTITY_DECIMALS).fillna(0).astype(int).to_numpy()
    quantity = np.empty(m, dtype=object)
    for places in np.unique(decimals):
        rows = decimals == places
        quantity[rows] = _decimal_text(draft["quantity"][rows], int(places))
    licence = np.full(m, "", dtype=object)
    licence[draft["licence"]] = _licence_numbers(rng, dates[draft["licence"]])
    return {
        "declaration_date": dates.astype(str).astype(object),
        "direction": direction,
        "exporter": world.exporters.name[draft["exporter"]],
        "consignee": world.consignee_name[draft["consignee"]],
        "declarant": _declarants(rng, world, draft["exporter"], draft["mode"], export_country),
        "origin_country": draft["origin"], "export_country": export_country,
        "destination_country": draft["destination"], "hs_code": draft["hs_code"],
        "description": _noise_descriptions(rng, draft["description"]),
        "remarks": _render(draft["remarks"].astype(str), {
            "n": rng.integers(10_000, 999_999, m).astype(str).astype(object), **_country_fills(draft["origin"])}),
        "quantity": quantity, "quantity_unit": draft["unit"],
        "gross_weight_kg": _decimal_text(draft["gross"], 2), "net_weight_kg": _decimal_text(draft["net"], 2),
        "declared_value": _decimal_text(value, 2), "currency": currency, "transport_mode": draft["mode"],
        "package_type": draft["package"], "package_count": _decimal_text(draft["package_count"], 0),
        "license_number": licence,
    }


@lru_cache(maxsize=1)
def _writing_styles() -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """(field, context) -> (styles, cumulative shares) from ``data/writing_styles.csv``."""
    styles = {}
    for key, group in _read("writing_styles").groupby(["field", "context"], sort=False):
        weights = group["weight"].astype(float).to_numpy()
        styles[key] = group["style"].to_numpy(object), np.cumsum(weights) / weights.sum()
    return styles


@lru_cache(maxsize=1)
def _wordings() -> dict[str, pd.DataFrame]:
    """field -> its rows of ``data/wording_variants.csv`` (plain, written, share), in file order."""
    table = _read("wording_variants").assign(weight=lambda rows: rows["weight"].astype(float))
    return {field: group.reset_index(drop=True) for field, group in table.groupby("field", sort=False)}


@lru_cache(maxsize=1)
def _bottled_liquids() -> pd.Series:
    """kg per litre of the liquids that travel in bottles, by HS code."""
    table = _read("bottled_liquids")
    return pd.Series(table["kg_per_litre"].astype(float).to_numpy(), index=table["hs_code"].to_numpy(object))


def _habit_draws(rng, world: _World, exporter: np.ndarray, field: str) -> np.ndarray:
    """A uniform draw per row that is the exporter's own for ``field`` most of the time:
    one declarant's system writes a field the same way declaration after declaration."""
    fresh, stick = rng.random(len(exporter)), rng.random(len(exporter)) < _HABIT_STRENGTH
    return np.where(stick, world.habits[exporter, _HABITS.index(field)], fresh)


def _style(field: str, context: str, draws: np.ndarray) -> np.ndarray:
    """The style of ``data/writing_styles.csv`` each row's draw falls on."""
    styles, cumulative = _writing_styles()[(field, context)]
    return styles[np.minimum(np.searchsorted(cumulative, draws, side="right"), len(styles) - 1)]


def _reword(values: np.ndarray, draws: np.ndarray, field: str, whole_cell: bool) -> np.ndarray:
    """Cells reworded as ``data/wording_variants.csv`` says for ``field``.

    Each cell belongs to the first plain wording of the table it holds (the whole cell
    for codes, a phrase inside it for text); its draw picks one of that wording's
    variants by their shares, or none, and the variant replaces the plain wording.
    Matching runs once per distinct cell, so a chunk costs a few hundred string scans.
    """
    table = _wordings()[field]
    text = np.asarray(values).astype(str)
    if not text.size:
        return np.asarray(values, dtype=object).copy()
    distinct, inverse = np.unique(text, return_inverse=True)
    plains = table["plain"].drop_duplicates().to_numpy(object)
    owner = np.full(len(distinct), -1)
    for k, plain in enumerate(plains):
        holds = (distinct == plain) if whole_cell else (np.char.find(distinct, plain) >= 0)
        owner[(owner < 0) & holds] = k
    # Per plain wording, its variants' table rows and cumulative shares, padded with a
    # column no draw reaches (-1: the plain wording stays).
    plain_of = pd.Index(plains).get_indexer(table["plain"].to_numpy(object))
    slot = table.groupby(plain_of).cumcount().to_numpy()
    cumulative = np.full((len(plains), slot.max() + 2), 2.0)
    cumulative[plain_of, slot] = table.groupby(plain_of)["weight"].cumsum().to_numpy()
    variant_row = np.full(cumulative.shape, -1)
    variant_row[plain_of, slot] = np.arange(len(table))
    owner = owner[inverse]
    owned = np.flatnonzero(owner >= 0)
    choice = (draws[owned, None] >= cumulative[owner[owned]]).sum(axis=1)
    variant = np.full(len(text), -1)
    variant[owned] = variant_row[owner[owned], choice]
    result = np.asarray(values, dtype=object).copy()
    for v in np.unique(variant[variant >= 0]):
        rows = np.flatnonzero(variant == v)
        plain, written = table.at[v, "plain"], table.at[v, "written"]
        result[rows] = written if whole_cell else _text_op(np.char.replace, text[rows], plain, written, 1)
    return result


def _hs_written(codes: np.ndarray, pattern: str) -> np.ndarray:
    """10-digit codes in a pattern of ``data/writing_styles.csv``: each ``#`` the next
    digit, shorter patterns cut the code to its subheading."""
    codes = pd.Series(np.asarray(codes, dtype=object), dtype=object)
    pieces, used = [], 0
    for piece in re.split(r"(#+)", pattern):
        if piece.startswith("#"):
            pieces.append(codes.str.slice(used, used + len(piece)).to_numpy(object))
            used += len(piece)
        elif piece:
            pieces.append(piece)
    return _concat(*pieces)


def _declare_by_volume(rng, world: _World, draft: dict, cells: dict[str, np.ndarray]) -> None:
    """Goods in bottles, flasks and cans declared in litres, as most declarants do.

    A liquid's litres follow from its density (``data/bottled_liquids.csv``); goods that
    are no liquid fill the largest nominal bottle that holds them as a powder, so their
    kilograms per declared litre are those of the powder, not of a liquid.
    """
    exporter = draft["exporter"]
    habit = _style("bottle_quantity", "any", _habit_draws(rng, world, exporter, "bottle_quantity"))
    rows = np.flatnonzero(np.isin(draft["package"], _BOTTLES) & (habit == "litres") & (draft["unit"] != "l"))
    density = pd.Series(draft["hs_code"][rows]).map(_bottled_liquids()).to_numpy(dtype=float)
    count = np.maximum(draft["package_count"][rows], 1)
    per_bottle = draft["net"][rows] / count
    size = _BOTTLE_LITRES[np.maximum(np.searchsorted(_BOTTLE_LITRES, per_bottle / _POWDER_KG_PER_LITRE,
                                                     side="right") - 1, 0)]
    litres = np.where(np.isnan(density), count * size, draft["net"][rows] / density)
    cells["quantity"][rows] = _decimal_text(litres, _QUANTITY_DECIMALS["l"])
    cells["quantity_unit"] = cells["quantity_unit"].copy()
    cells["quantity_unit"][rows] = "l"


def _write_as_declarants_do(rng, world: _World, draft: dict, cells: dict[str, np.ndarray]) -> None:
    """Rewrite cells the many ways real files write them (see the module docstring).

    Runs on its own random stream after every value is fixed, and never looks at the
    label: an honest and a smuggling declarant write alike, so the wording tells a
    fraud apart only where a scheme's own goods or packing do.
    """
    m = len(draft["exporter"])
    exporter = draft["exporter"]
    _declare_by_volume(rng, world, draft, cells)
    for column in ("description", "remarks"):
        cells[column] = _reword(cells[column], rng.random(m), "text", whole_cell=False)
    for column in ("exporter", "consignee"):
        names = _reword(cells[column], rng.random(m), "party", whole_cell=False)
        names = _reword(names, rng.random(m), "party_place", whole_cell=False)
        upper = _style("party_case", "any", rng.random(m)) == "upper"
        names[upper] = _text_op(np.char.upper, names[upper])
        cells[column] = names
    parcel = np.isin(draft["mode"], PARCEL_MODES)
    draws = _habit_draws(rng, world, exporter, "hs_code")
    pattern = np.where(parcel, _style("hs_code", "parcel", draws), _style("hs_code", "cargo", draws))
    for written in np.unique(pattern):
        rows = np.flatnonzero(pattern == written)
        cells["hs_code"][rows] = _hs_written(cells["hs_code"][rows], written)
    countries = _countries()
    style = _style("country", "any", _habit_draws(rng, world, exporter, "country"))
    for column in ("origin_country", "export_country", "destination_country"):
        position = countries.index(cells[column])
        for writing, names in (("alpha3", countries.alpha3), ("name", countries.name)):
            rows = np.flatnonzero((style == writing) & (position >= 0))
            cells[column][rows] = names[position[rows]]
    cells["transport_mode"] = _reword(cells["transport_mode"], _habit_draws(rng, world, exporter, "transport_mode"),
                                      "transport_mode", whole_cell=True)
    cells["quantity_unit"] = _reword(cells["quantity_unit"], _habit_draws(rng, world, exporter, "quantity_unit"),
                                     "quantity_unit", whole_cell=True)


def _entry_errors(rng, cells: dict[str, np.ndarray], dates: np.ndarray) -> np.ndarray:
    """Mistype one cell in about ENTRY_ERROR_RATE of the rows, the slips declarants make:
    a date as 14/03/2025, 2025/03/14 or 20250314; a minus before a weight; the letter O
    for a zero in the HS code; a misspelt country; '12.5 kg' typed into a weight; an id
    typed twice (returned: rows whose id must repeat an earlier row's).

    It runs on its own random stream, so every other cell is the same with or without
    errors, and it ignores the label, so typos are no clue to fraud.
    """
    m = len(dates)
    rows = np.flatnonzero(rng.random(m) < ENTRY_ERROR_RATE)
    kind = rng.choice(6, size=len(rows))
    kind[(kind == 4) & (rows == 0)] = 1  # the first row has no earlier id to repeat
    picked = rows[kind == 0]
    year, month, day = _date_parts(dates[picked])
    style = rng.choice(3, size=len(picked))
    cells["declaration_date"][picked] = np.select(
        [style == 0, style == 1], [_concat(day, "/", month, "/", year), _concat(year, "/", month, "/", day)],
        _concat(year, month, day))
    picked = rows[kind == 1]
    column = np.where(rng.random(len(picked)) < 0.5, "gross_weight_kg", "net_weight_kg")
    for name in ("gross_weight_kg", "net_weight_kg"):
        chosen = picked[column == name]
        cells[name][chosen] = _concat("-", cells[name][chosen])
    picked = rows[kind == 2]
    cells["hs_code"][picked] = _text_op(np.char.replace, cells["hs_code"][picked], "0", "O", 1)
    picked = rows[kind == 3]
    countries = _countries()
    column = np.where(rng.random(len(picked)) < 0.5, "origin_country", "destination_country")
    for name in ("origin_country", "destination_country"):
        chosen = picked[column == name]
        cells[name][chosen] = countries.misspelling[countries.index(cells[name][chosen])]
    picked = rows[kind == 5]
    cells["gross_weight_kg"][picked] = _concat(cells["gross_weight_kg"][picked], " kg")
    return rows[kind == 4]


def _date_parts(dates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month and day of datetime64[D] values as zero-padded text."""
    years = dates.astype("datetime64[Y]")
    months = dates.astype("datetime64[M]")
    month = months.astype(np.int64) - years.astype("datetime64[M]").astype(np.int64) + 1
    day = (dates - months.astype("datetime64[D]")).astype(np.int64) + 1
    return (years.astype(np.int64) + 1970).astype(str), _zero_padded(month, 2), _zero_padded(day, 2)


def _feistel(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """A keyed bijection of [0, 2**34): four Feistel rounds of a multiply-xorshift mix."""
    mask = np.uint64((1 << _HALF_BITS) - 1)
    left, right = values >> np.uint64(_HALF_BITS), values & mask
    for key in keys:
        mixed = (right * np.uint64(0x9E3779B97F4A7C15) + key) & np.uint64(0xFFFFFFFFFFFFFFFF)
        mixed = (mixed ^ (mixed >> np.uint64(29))) * np.uint64(0xBF58476D1CE4E5B9)
        left, right = right, left ^ ((mixed >> np.uint64(31)) & mask)
    return (left << np.uint64(_HALF_BITS)) | right


def _declaration_ids(world: _World, positions: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Year + a 10-digit serial that is a seeded pseudo-random permutation of the row
    position: ids look alike for every row and reveal neither order nor label.

    Values that leave [0, 10**10) are permuted again (cycle walking), which keeps the
    map a bijection, so two rows never share a serial.
    """
    serial = _feistel(positions.astype(np.uint64), world.id_keys)
    outside = serial >= _SERIALS
    while outside.any():
        serial[outside] = _feistel(serial[outside], world.id_keys)
        outside = serial >= _SERIALS
    return _concat(_date_parts(dates)[0], _zero_padded(serial, 10))


def _generate_chunk(index: int, rows: int, seed: int, fraud_rate: float, start: date, days: int) -> pd.DataFrame:
    """Chunk ``index``: rows [index*CHUNK_ROWS, ...), a contiguous slice of the dates,
    from its own random streams seeded with (seed, index)."""
    first = index * CHUNK_ROWS
    last = min(rows, first + CHUNK_ROWS)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, 1, index]).spawn(7)]
    place_rng, trade_rng, scheme_rng, pack_rng, format_rng, error_rng, writing_rng = streams
    world = _world(seed)
    bounds = _day_bounds(rows, start, days)
    slot_days = np.searchsorted(bounds, np.arange(first, last), side="right")
    m = last - first

    counts = _fraud_counts(first, last, fraud_rate)
    series = _split_series(place_rng, counts["mail_splitting"])
    single_names = [name for name in PATTERNS if name != "mail_splitting"]
    single_total = sum(counts[name] for name in single_names)
    single_slots, series_slots = _place(place_rng, slot_days, single_total, series)
    taken = np.zeros(m, dtype=bool)
    taken[single_slots] = True
    taken[series_slots] = True
    clean_slots = np.flatnonzero(~taken)
    boundaries = np.cumsum([0] + [counts[name] for name in single_names])
    scheme_slots = {name: single_slots[boundaries[i]:boundaries[i + 1]] for i, name in enumerate(single_names)}
    scheme_slots["mail_splitting"] = series_slots

    start_day = np.datetime64(start, "D")
    statistical = np.concatenate([clean_slots, scheme_slots["undervaluation"], scheme_slots["weight_manipulation"]])
    trade = _trade_draft(trade_rng, world, start_day + slot_days[statistical])
    n_clean, n_under = len(clean_slots), len(scheme_slots["undervaluation"])
    parts = {"clean": _take(trade, slice(0, n_clean)),
             "undervaluation": _take(trade, slice(n_clean, n_clean + n_under)),
             "weight_manipulation": _take(trade, slice(n_clean + n_under, None))}
    _undervalue(scheme_rng, parts["undervaluation"])
    builders = {"mislabelled_origin": _mislabelled_origin, "falsified_contents": _falsified_contents,
                "ceramic_concealment": _ceramic_concealment, "bottle_concealment": _bottle_concealment}
    for name, build in builders.items():
        parts[name] = build(scheme_rng, world, counts[name])
    parts["mail_splitting"] = _mail_splitting(scheme_rng, world, series)
    order = ["clean", *PATTERNS]
    slot_of_row = np.concatenate([clean_slots] + [scheme_slots[name] for name in PATTERNS])
    for name in order:
        _units(parts[name])
        _pack(pack_rng, parts[name])
    _manipulate_weights(scheme_rng, parts["weight_manipulation"])
    draft = {key: np.concatenate([parts[name][key] for name in order]) for key in parts["clean"]}
    arrange = np.argsort(slot_of_row, kind="stable")
    draft = _take(draft, arrange)
    dates = start_day + slot_days

    cells = _format(format_rng, world, draft, dates)
    _write_as_declarants_do(writing_rng, world, draft, cells)
    repeat = _entry_errors(error_rng, cells, dates)
    ids = _declaration_ids(world, np.arange(first, last, dtype=np.int64), dates)
    ids[repeat] = ids[np.floor(error_rng.random(len(repeat)) * repeat).astype(np.int64)]
    cells["declaration_id"] = ids
    frame = pd.DataFrame({name: pd.Series(cells[name], dtype="str") for name in DECLARATION_COLUMNS})
    frame["label"] = (draft["pattern"] != "").astype(np.int64)
    frame["pattern"] = pd.Series(draft["pattern"], dtype="str")
    frame.index = pd.RangeIndex(first, last)
    return frame


def _take(draft: dict, selector) -> dict:
    return {key: values[selector] for key, values in draft.items()}


# -------------------------------------------------------------------------- public API


def _check(rows, seed, fraud_rate, start, days) -> None:
    """Refuse arguments that cannot make a file, or would make one without end."""
    whole_number(rows, "rows", 0, MAX_ROWS, " (ids hold 10-digit serials)")
    whole_number(seed, "seed", 0)
    if not isinstance(fraud_rate, Real) or isinstance(fraud_rate, bool) or not 0 <= fraud_rate <= 0.5:
        raise DetectorError(f"fraud rate must be between 0 and 0.5, got {fraud_rate!r}")
    whole_number(days, "days", 1, MAX_DAYS, " (100 years)")
    # Declaration dates and ids are written with four-digit years.
    if (not isinstance(start, date) or start.year < 1000
            or date.fromordinal(start.toordinal()) > date.max - timedelta(days=days - 1)):
        raise DetectorError(f"start must be a date from 1000-01-01 on whose {days:,} days end by 9999-12-31, "
                            f"got {start!r}")


def generate_chunks(rows: int, *, seed: int = 0, fraud_rate: float = 0.02,
                    start: date = date(2025, 1, 1), days: int = 365) -> Iterator[pd.DataFrame]:
    """Yield synthetic declarations in chunks of at most :data:`CHUNK_ROWS` rows.

    Each chunk is built only when asked for and depends only on the arguments and its
    index, so memory stays at one chunk and the output is the same however the chunks
    are consumed.

    Parameters
    ----------
    rows : int
        Declarations in total, 0 to :data:`MAX_ROWS`.
    seed : int
        Seeds the parties (drawn once) and every chunk; same arguments, same rows. 0 or more.
    fraud_rate : float
        Share of rows with ``label`` 1, 0 to 0.5, split over :data:`SCHEMES` by their shares.
    start : date
        Date of the first declaration; the whole period stays in years 1000 to 9999.
    days : int
        Days covered, 1 to :data:`MAX_DAYS`; rows are sorted by date, with weekly and
        seasonal volume.

    Raises
    ------
    DetectorError
        An argument out of its range, when called (not when the first chunk is asked for).

    Yields
    ------
    DataFrame
        :data:`COLUMNS`: the canonical fields as text, then ``label`` and ``pattern``.
    """
    _check(rows, seed, fraud_rate, start, days)  # now, not when the first chunk is asked for
    return (_generate_chunk(index, rows, seed, fraud_rate, start, days) for index in range(-(-rows // CHUNK_ROWS)))


def generate(rows: int, **options) -> pd.DataFrame:
    """All of :func:`generate_chunks` in one frame, for small files, notebooks and tests.

    Parameters
    ----------
    rows : int
        Declarations in total, at most :data:`MAX_FRAME_ROWS`: the frame holds them all.
    **options
        ``seed``, ``fraud_rate``, ``start``, ``days`` as for :func:`generate_chunks`.

    Returns
    -------
    DataFrame
        :data:`COLUMNS`, indexed 0..rows-1; equal to the chunks concatenated.
    """
    whole_number(rows, "rows", 0, MAX_FRAME_ROWS, " in one frame (write_synthetic streams more)")
    chunks = list(generate_chunks(rows, **options))
    if not chunks:
        return pd.DataFrame({name: pd.Series(dtype="int64" if name == "label" else "str") for name in COLUMNS})
    return pd.concat(chunks)


def write_synthetic(path: str | Path, rows: int, **options) -> Path:
    """Write synthetic declarations to a file, one chunk in memory at a time.

    Parameters
    ----------
    path : str or Path
        ``.csv`` (HS codes stay quoted text), ``.parquet`` or ``.jsonl``; written to a
        temporary file and renamed, so a failed run leaves no half file.
    rows : int
        Declarations in total; any number fits, memory holds one chunk.
    **options
        ``seed``, ``fraud_rate``, ``start``, ``days`` as for :func:`generate_chunks`.

    Returns
    -------
    Path
    """
    return write_chunks(generate_chunks(rows, **options), path)
