"""The models' features: what the anomaly and supervised models see of a declaration.

Computed column-wise from the validated and derived table (:mod:`detector.derived`).
The statistics they need (HS peer medians, pairing counts) are learned on a training
table and stored with the model, so a new file is measured against the history, not
itself; each feature is worded in one place (:func:`feature_phrases`) for both models.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detector.derived import hs_levels
from detector.reference import load_reference
from detector.schema import FIELDS
from detector.text_columns import formatted, join_texts, readable_number, text_scalar
from detector.threads import thread_pool

PEER_MIN_ROWS = 20
HS_LEVELS = ("hs6", "hs4", "hs2")


@dataclass(frozen=True)
class Feature:
    name: str
    needs: tuple[str, ...]  # table columns; "a|b" means either
    words: str              # how an analyst calls it


# Ratios that depend on what the goods are: each gets a log feature and a feature
# relative to its HS peers. Name -> (columns needed, words).
MEASURES: dict[str, tuple[tuple[str, ...], str]] = {
    "value_per_kg": (("value_per_kg",), "value per kg"),
    "weight_per_package": (("weight_per_package",), "weight per package"),
    "weight_per_unit": (("quantity", "net_weight_kg|gross_weight_kg"), "weight per unit of quantity"),
}
# Pairings whose rarity is a feature: name -> (columns, words).
PAIRINGS: dict[str, tuple[tuple[str, ...], str]] = {
    "exporter_hs4_count": (("exporter", "hs4"), "exporter x HS4"),
    "origin_hs4_count": (("origin_country", "hs4"), "origin x HS4"),
    "export_origin_count": (("export_country", "origin_country"), "export country x origin"),
    "transport_hs4_count": (("transport_mode", "hs4"), "transport mode x HS4"),
    "exporter_consignee_count": (("exporter", "consignee"), "exporter x consignee"),
}
PARTIES = {"new_exporter": "exporter", "new_consignee": "consignee"}
FEATURES: tuple[Feature, ...] = (
    Feature("log_value_usd", ("value_usd",), "declared value"),
    Feature("log_gross_weight", ("gross_weight_kg",), "gross weight"),
    Feature("log_net_weight", ("net_weight_kg",), "net weight"),
    Feature("log_quantity", ("quantity",), "quantity"),
    *(Feature(f"log_{m}", needs, words) for m, (needs, words) in MEASURES.items()),
    Feature("net_gross_ratio", ("net_gross_ratio",), "net/gross ratio"),
    *(Feature(f"{m}_vs_hs", (*needs, "hs2"), f"{words} vs HS peers") for m, (needs, words) in MEASURES.items()),
    *(Feature(name, cols, words) for name, (cols, words) in PAIRINGS.items()),
    Feature("new_exporter", ("exporter",), "first-time exporter"),
    Feature("new_consignee", ("consignee",), "first-time consignee"),
    Feature("description_length", ("description",), "description length"),
    Feature("generic_description", ("description",), "generic description"),
)
FEATURES_BY_NAME = {f.name: f for f in FEATURES}


def available_features(columns, wanted=None) -> tuple[list[str], list[str]]:
    """Split ``wanted`` (default all :data:`FEATURES`) into those ``columns`` allow and
    those whose inputs are absent, keeping :data:`FEATURES` order."""
    columns = set(columns)
    wanted = set(FEATURES_BY_NAME if wanted is None else wanted)
    usable = [f.name for f in FEATURES if f.name in wanted
              and all(any(c in columns for c in need.split("|")) for need in f.needs)]
    return usable, [f.name for f in FEATURES if f.name in wanted and f.name not in usable]


# ----------------------------------------------------------------------------- feature words
#
# One wording of each feature, which both models' explanations use: the same feature of
# the same row reads the same whichever model names it.

# The table columns the words quote.
PHRASE_COLUMNS = ["exporter", "consignee", "origin_country", "export_country", "transport_mode",
                  "description", *HS_LEVELS]
# The unit each absolute size is said in.
_UNITS = {"log_value_usd": " USD", "log_gross_weight": " kg", "log_net_weight": " kg",
          "log_value_per_kg": " USD", "log_weight_per_package": " kg", "log_weight_per_unit": " kg"}


def feature_phrases(name: str, values: np.ndarray, cells: dict[str, pa.Array],
                    hs_level: np.ndarray | None = None) -> pa.Array:
    """The words for feature ``name`` of some rows, e.g. ``"value per kg 0.08x the
    median for HS 850440"``; ``"<words> unknown"`` where the value is missing.

    Parameters
    ----------
    name : str
        A feature of :data:`FEATURES`.
    values : ndarray
        The rows' values of the feature, as :func:`feature_frame` computes them.
    cells : dict of str to pyarrow.Array
        The rows' cells of :data:`PHRASE_COLUMNS` as text (``column_text``).
    hs_level : ndarray, optional
        For a peer-relative feature, the index in :data:`HS_LEVELS` of the group each
        row was compared with (from :func:`feature_frame`); HS6 when not given.
    """
    words = FEATURES_BY_NAME[name].words
    with np.errstate(over="ignore", invalid="ignore"):
        if name.endswith("_vs_hs"):
            said = join_texts(words.removesuffix(" vs HS peers") + " ", _times(np.exp(values)),
                              " the median for HS ", _peer_group(cells, hs_level, len(values)))
        elif name in PAIRINGS:
            said = _pairing_phrases(name, cells, np.rint(np.expm1(np.nan_to_num(values))).astype(np.int64))
        elif name in PARTIES:
            party = PARTIES[name]
            said = pc.if_else(pa.array(values != 0), join_texts(f"first declaration of {party} ", cells[party]),
                              join_texts(f"{party} ", cells[party], " seen before"))
        elif name == "generic_description":
            said = pc.if_else(pa.array(values != 0), join_texts("generic description '", cells["description"], "'"),
                              text_scalar("description not generic"))
        elif name == "description_length":
            said = join_texts("description ", formatted("%d", np.trunc(np.nan_to_num(values)).astype(np.int64)),
                              " characters long")
        elif name == "net_gross_ratio":
            said = join_texts("net/gross ratio ", formatted("%.2f", values))
        else:
            said = join_texts(f"{words} ", readable_number(np.exp(values)), _UNITS.get(name, ""))
    return pc.if_else(pa.array(np.isnan(values)), text_scalar(f"{words} unknown"), said)


def _peer_group(cells: dict[str, pa.Array], hs_level: np.ndarray | None, rows: int) -> pa.Array:
    """The HS code of the peer group each row was compared with."""
    used = np.zeros(rows, dtype=np.int64) if hs_level is None else np.asarray(hs_level)
    hs = cells[HS_LEVELS[0]]
    for level in range(1, len(HS_LEVELS)):
        hs = pc.if_else(pa.array(used == level), cells[HS_LEVELS[level]], hs)
    return hs


def _times(ratios: np.ndarray) -> pa.Array:
    """'40x', '2.5x', '0.08x': more decimals the closer the ratio is to 1."""
    whole, tenths, digits = (formatted(f, ratios) for f in ("%.0f", "%.1f", "%.2g"))
    said = pc.if_else(pa.array(ratios >= 10), whole, pc.if_else(pa.array(ratios >= 1), tenths, digits))
    return join_texts(said, "x")


def _pairing_phrases(name: str, cells: dict[str, pa.Array], counts: np.ndarray) -> pa.Array:
    """How often the row's pairing occurred in the history, in words: "exporter never
    shipped HS 8504 before", "origin CN with HS 8504 seen 3 times before"."""
    number = formatted("%d", counts)
    never, once = pa.array(counts <= 0), pa.array(counts == 1)
    seen = pc.if_else(never, text_scalar("never seen"),
                      pc.if_else(once, text_scalar("seen once"), join_texts("seen ", number, " times")))
    if name in ("exporter_hs4_count", "exporter_consignee_count"):
        # "exporter never shipped HS 8504 before", "... once shipped ...", "... shipped HS 8504 3 times before"
        how = pc.if_else(never, text_scalar("never "), pc.if_else(once, text_scalar("once "), text_scalar("")))
        many = pc.if_else(pa.array(counts > 1), join_texts(" ", number, " times"), text_scalar(""))
        goods = (join_texts("HS ", cells["hs4"]) if name == "exporter_hs4_count"
                 else join_texts("to consignee ", cells["consignee"]))
        return join_texts("exporter ", how, "shipped ", goods, many, " before")
    if name == "origin_hs4_count":
        return join_texts("origin ", cells["origin_country"], " with HS ", cells["hs4"], " ", seen, " before")
    if name == "export_origin_count":
        return join_texts("goods of origin ", cells["origin_country"], " leaving ", cells["export_country"], " ",
                          seen, " before")
    return join_texts("HS ", cells["hs4"], " by ", cells["transport_mode"], " ", seen, " before")


# ----------------------------------------------------------------------------- statistics


class _Counts:
    """How often each combination of values of some columns occurred in training.

    Lookups are vectorised: each column's values become codes in the training uniques
    (a hash lookup of the file's distinct values), the codes one int64 key, and the
    key is found in a hash index of the training keys.
    """

    def __init__(self, columns: tuple[str, ...], values: list[np.ndarray], counts: np.ndarray):
        """``values[i]`` holds column i of each combination (text), ``counts`` its count."""
        self.columns, self.values = columns, values
        self.counts = np.asarray(counts, dtype=np.float64)
        self.uniques = [pd.Index(pd.unique(column)) for column in values]
        codes = [unique.get_indexer(column) for unique, column in zip(self.uniques, values)]
        self._keys = pd.Index(self._combine(codes) if len(self.counts) else np.zeros(0, np.int64))

    @property
    def rows(self) -> list[list]:
        """[value, ..., count] per combination: the form stored in model files."""
        return [[*map(str, combination), int(n)]
                for *combination, n in zip(*self.values, self.counts.astype(np.int64).tolist())]

    @classmethod
    def from_rows(cls, columns: tuple[str, ...], rows: list[list]) -> _Counts:
        values = [np.array([row[i] for row in rows], dtype=object) for i in range(len(columns))]
        return cls(columns, values, np.array([row[-1] for row in rows], dtype=np.float64))

    def _combine(self, codes: list[np.ndarray]) -> np.ndarray:
        key = np.zeros(len(codes[0]), dtype=np.int64)
        for code, unique in zip(codes, self.uniques):
            key = key * (len(unique) + 1) + code
        return key

    @classmethod
    def learn(cls, table: pd.DataFrame, columns: tuple[str, ...]) -> _Counts:
        counts = table.groupby(list(columns), dropna=True, observed=True, sort=True).size()
        values = counts.index.to_frame(index=False).astype("str")
        return cls(columns, [values[c].to_numpy(dtype=object) for c in values.columns], counts.to_numpy())

    def lookup(self, table: _Factorized) -> np.ndarray:
        """Training count of each row's combination; 0 when unseen, NaN when a value is missing."""
        missing = np.zeros(table.rows, dtype=bool)
        codes = []
        for column, unique in zip(self.columns, self.uniques):
            missing |= table.missing(column)
            codes.append(table.positions(column, unique))
        result = np.zeros(table.rows)
        if len(self._keys):
            place = self._keys.get_indexer(self._combine([np.maximum(c, 0) for c in codes]))
            found = np.all([c >= 0 for c in codes], axis=0) & (place >= 0)
            result[found] = self.counts[place[found]]
        result[missing] = np.nan
        return result


class _Factorized:
    """A table's text columns factorized once, so finding every row's value among the
    training values is a hash lookup of the file's distinct values plus one gather,
    however many features use the column."""

    def __init__(self, table: pd.DataFrame):
        self.table, self.rows, self._codes = table, len(table), {}

    def _factorize(self, column: str) -> tuple[np.ndarray, pd.Index]:
        if column not in self._codes:
            codes, uniques = pd.factorize(self.table[column])
            self._codes[column] = (codes, pd.Index(uniques))
        return self._codes[column]

    def missing(self, column: str) -> np.ndarray:
        return self._factorize(column)[0] < 0

    def earlier(self, column: str) -> np.ndarray:
        """Per row, how many rows of the table have its value on an earlier
        ``declaration_date`` (0 when missing; without dates, how many other rows have
        it). Earlier dates only, so rows of one day count alike whatever their order."""
        codes, uniques = self._factorize(column)
        known = codes >= 0
        if "declaration_date" not in self.table:
            counts = np.bincount(codes[known], minlength=len(uniques))
            return np.where(known, counts[np.maximum(codes, 0)] - 1, 0).astype(np.float64)
        day = self.table["declaration_date"].to_numpy(dtype="datetime64[D]").astype(np.int64)
        dated = known & (day != np.iinfo(np.int64).min)
        keys = codes.astype(np.int64) * (1 << 32) + (day - day[dated].min() if dated.any() else 0)
        ordered = np.sort(keys[dated])
        group_start = np.searchsorted(ordered, codes.astype(np.int64) * (1 << 32), side="left")
        before = np.searchsorted(ordered, keys, side="left") - group_start
        return np.where(dated, before, 0).astype(np.float64)

    def positions(self, column: str, known: pd.Index) -> np.ndarray:
        """Position of each row's value in ``known``; -1 when missing or not there."""
        codes, uniques = self._factorize(column)
        return np.append(known.get_indexer(uniques.astype(object)), -1)[codes]


def _count_features(stats: FeatureStatistics, factorized: _Factorized, wanted: set[str],
                    training: bool) -> dict[str, np.ndarray]:
    """The pairing counts (log) and new-party flags of :func:`feature_frame`: training
    counts leave the row itself out; a later file's party is new only when no earlier
    day of the file has it either."""
    columns = {}
    for name, counts in stats.counts.items():
        if name not in wanted:
            continue
        seen = counts.lookup(factorized) - (1.0 if training else 0.0)
        if name in PARTIES and not training:
            seen = seen + factorized.earlier(PARTIES[name])
        columns[name] = (seen <= 0).astype(np.float64) if name in PARTIES else np.log1p(seen)
        columns[name][np.isnan(seen)] = np.nan
    return columns


def _measures(table: pd.DataFrame) -> dict[str, pd.Series]:
    """The peer-relative ratios the table allows (positive floats, NaN when unknown)."""
    out = {m: table[m] for m in ("value_per_kg", "weight_per_package") if m in table}
    weights = [table[c].where(table[c] > 0) for c in ("net_weight_kg", "gross_weight_kg") if c in table]
    if "quantity" in table and weights:
        weight = weights[0] if len(weights) == 1 else weights[0].fillna(weights[1])
        out["weight_per_unit"] = weight / table["quantity"].where(table["quantity"] > 0)
    return out


def _log(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values > 0, np.log(np.where(values > 0, values, 1.0)), np.nan)


def _learn_peers(table: pd.DataFrame, min_rows: int) -> dict[str, dict[str, dict[str, float]]]:
    """Per measure and HS level, the median log value of groups with ``min_rows`` rows or more."""
    measures = _measures(table)
    logs = pd.DataFrame({measure: _log(values) for measure, values in measures.items()}, index=table.index)
    peers: dict[str, dict[str, dict[str, float]]] = {measure: {} for measure in measures}
    for level in HS_LEVELS:
        if level not in table or not measures:
            continue
        grouped = logs.groupby(table[level], dropna=True).agg(["median", "count"])  # all measures at once
        for measure in measures:
            medians = grouped[measure]
            medians = medians[medians["count"] >= min_rows].dropna()
            peers[measure][level] = {str(k): float(v) for k, v in medians["median"].items()}
    return peers


def _peer_medians(table: _Factorized, levels: dict[str, dict[str, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Median log value of each row's finest HS group with enough training rows, and the
    index of that level in :data:`HS_LEVELS` (-1 when no group qualifies)."""
    median = np.full(table.rows, np.nan)
    used = np.full(table.rows, -1)
    for i, level in enumerate(HS_LEVELS):
        if level not in table.table or not levels.get(level):
            continue
        place = table.positions(level, pd.Index(list(levels[level]), dtype=object))
        values = np.array(list(levels[level].values()), dtype=np.float64)
        take = np.isnan(median) & (place >= 0)
        median[take] = values[place[take]]
        used[take] = i
    return median, used


@dataclass
class FeatureStatistics:
    """What the features learn from the training table (stored in the model file)."""

    peers: dict
    counts: dict[str, _Counts]
    generic: list[str]

    @classmethod
    def learn(cls, table: pd.DataFrame, features: list[str], min_rows: int) -> FeatureStatistics:
        columns = {**{name: PAIRINGS[name][0] for name in PAIRINGS if name in features},
                   **{name: (party,) for name, party in PARTIES.items() if name in features}}
        # Each count and the peer medians are one groupby of their own: side by side.
        with thread_pool(len(columns) + 1, rows=len(table)) as pool:
            peers = pool.submit(_learn_peers, table, min_rows)
            counts = dict(zip(columns, pool.map(lambda names: _Counts.learn(table, names), columns.values())))
            peers = peers.result()
        generic = sorted(set(load_reference("generic_descriptions")["description"].str.lower()) - {""})
        return cls(peers, counts, generic)

    def as_json(self) -> dict:
        return {"peers": self.peers, "generic_descriptions": self.generic,
                "counts": {name: {"columns": list(c.columns), "rows": c.rows} for name, c in self.counts.items()}}

    @classmethod
    def from_json(cls, data: dict) -> FeatureStatistics:
        """Rebuild from a model file's JSON, checking its shape (the file may be foreign)."""
        expected = {**{n: cols for n, (cols, _) in PAIRINGS.items()}, **{n: (c,) for n, c in PARTIES.items()}}
        counts = {}
        for name, stored in data["counts"].items():
            if expected.get(name) != tuple(stored["columns"]):
                raise ValueError(f"counts '{name}' over columns {stored['columns']}")
            if any(len(row) != len(expected[name]) + 1 for row in stored["rows"]):
                raise ValueError(f"counts '{name}' has a row with the wrong number of values")
            rows = [[*map(str, row[:-1]), int(row[-1])] for row in stored["rows"]]
            counts[name] = _Counts.from_rows(expected[name], rows)
        peers = {measure: {level: {str(code): float(median) for code, median in data["peers"][measure][level].items()}
                           for level in HS_LEVELS if level in data["peers"][measure]}
                 for measure in MEASURES if measure in data["peers"]}
        return cls(peers, counts, [str(p) for p in data["generic_descriptions"]])


def with_hs_levels(table: pd.DataFrame) -> pd.DataFrame:
    """hs2/hs4/hs6 from ``hs_code`` when a hand-made table lacks the derived fields."""
    if "hs_code" not in table or all(level in table for level in HS_LEVELS):
        return table
    return table.assign(**hs_levels(table["hs_code"], [n for n in (2, 4, 6) if f"hs{n}" not in table]))


def feature_frame(table: pd.DataFrame, features: list[str], stats: FeatureStatistics,
                   training: bool = False) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The features of every row (NaN where unknown), column-wise.

    ``training`` counts pairings leaving the row itself out, so a training row whose
    exporter appears once looks like what a first-time exporter will look like later;
    otherwise the forest would never see a count of 0 and could not learn to isolate it.
    Scoring a later file, a party is new when neither the history nor an earlier day
    of the file has it: a consignee absent from the history but on 20,000 rows of the
    file makes its first declarations on its first day, not 20,000 of them.
    Also returns, per peer-relative feature, the HS level each row was compared with.
    """
    columns: dict[str, np.ndarray] = {}
    levels: dict[str, np.ndarray] = {}
    factorized = _Factorized(table)
    wanted = set(features)
    simple = {"log_value_usd": "value_usd", "log_gross_weight": "gross_weight_kg",
              "log_net_weight": "net_weight_kg", "log_quantity": "quantity"}
    for name, column in simple.items():
        if name in wanted:
            columns[name] = _log(table[column])
    measures = _measures(table) if wanted & ({f"log_{m}" for m in MEASURES} | {f"{m}_vs_hs" for m in MEASURES}) else {}
    for measure, values in measures.items():
        logs = _log(values)
        if f"log_{measure}" in wanted:
            columns[f"log_{measure}"] = logs
        if f"{measure}_vs_hs" in wanted:
            median, used = _peer_medians(factorized, stats.peers.get(measure, {}))
            columns[f"{measure}_vs_hs"] = logs - median
            levels[f"{measure}_vs_hs"] = used
    if "net_gross_ratio" in wanted:
        columns["net_gross_ratio"] = table["net_gross_ratio"].to_numpy(dtype=np.float64, na_value=np.nan)
    columns.update(_count_features(stats, factorized, wanted, training))
    if "description_length" in wanted or "generic_description" in wanted:
        text = table["description"].astype("str").fillna("").str.strip()
        if "description_length" in wanted:
            columns["description_length"] = text.str.len().to_numpy(dtype=np.float64)
        if "generic_description" in wanted:
            columns["generic_description"] = text.str.lower().isin(stats.generic).to_numpy(dtype=np.float64)
    return pd.DataFrame({name: columns[name] for name in features}, index=table.index), levels


def canonical_table(table) -> pd.DataFrame:
    """Accept a Declarations (use its canonical table) or a DataFrame."""
    return table.table if hasattr(table, "table") and isinstance(table.table, pd.DataFrame) else table


def training_record(table: pd.DataFrame, fingerprint: bool = True) -> dict:
    """What a model file records of its training table: rows, date span, fingerprint
    (None when not asked for)."""
    dates = table["declaration_date"].dropna() if "declaration_date" in table else pd.Series([], dtype=object)
    return {"rows": len(table),
            "date_from": dates.min().date().isoformat() if len(dates) else None,
            "date_to": dates.max().date().isoformat() if len(dates) else None,
            "fingerprint": table_fingerprint(table) if fingerprint else None}


def table_fingerprint(table: pd.DataFrame) -> str:
    """sha256 of a table's canonical columns (names and values, in a fixed order).

    Identifies which history a model learned from; two models fitted on the same
    declarations have the same fingerprint.
    """
    digest = hashlib.sha256()
    for name in sorted(f.name for f in FIELDS if f.name in table.columns):
        digest.update(name.encode("utf-8") + b"\0")
        digest.update(pd.util.hash_pandas_object(table[name], index=False).to_numpy().tobytes())
    return digest.hexdigest()
