"""The supervised model: learn from inspection outcomes which declarations turn out fraudulent.

Unusual is not fraudulent: an isolation forest ranks what is rare, while a customs
service already knows, from the inspections it made, what fraud looked like. The DATE
paper (KDD 2020) and the Korea Customs Service data show a gradient-boosted model
trained on those outcomes ranking far above any unsupervised score.
:class:`SupervisedModel` fits scikit-learn's ``HistGradientBoostingClassifier`` on:

- the anomaly model's features (:data:`detector.features.FEATURES`: peer-relative
  ratios, pairing rarity, first-time parties, ...), learned on every history row,
  labelled or not;
- the hits of the rules (one 0/1 column per rule; missing when a rule did not run);
- **target encoding** of the parties, goods and places (:data:`ENCODED`): for each
  value, the share of its past inspections that found fraud, smoothed towards the
  overall share (:data:`SMOOTHING` pseudo-inspections), and how many inspections that
  share rests on. For the training rows the encoding is computed **out of fold**
  (:data:`FOLDS` folds): a row's own label never enters its own encoding, otherwise the
  model would learn to read the answer off the encoding and fail on new files.

Only labelled rows train the classifier (an empty label means "not inspected").
Inspections were chosen by the old selection, so labels over-represent what it liked;
see the README on selection bias and the exploration share of the budget.

Explanations are path contributions (Saabas): in every tree each split on the row's
path moves the prediction from the parent's value to the child's, and the move is
credited to the split's feature; summed over trees this is exactly the row's log-odds
minus the baseline. The features with the largest positive credit are put in words.

Model files use :mod:`detector.modelfile`: JSON and plain arrays, checksummed, never
unpickled; the trees are checked before scikit-learn's compiled predictor reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

import detector
from detector.anomaly import MAX_TREES, check_seed
from detector.declarations import Declarations
from detector.errors import DetectorError, whole_number
from detector.features import (
    FEATURES_BY_NAME,
    PEER_MIN_ROWS,
    PHRASE_COLUMNS,
    FeatureStatistics,
    available_features,
    canonical_table,
    feature_frame,
    feature_phrases,
    training_record,
    with_hs_levels,
)
from detector.labels import read_labels
from detector.modelfile import Array, Json, ModelFileError, json_bytes, npy_bytes, read_model, tree_problem, write_model
from detector.rules import RuleSet, evaluate_rules, load_rules
from detector.text_columns import by_rank, column_text, formatted, join_per_row, join_texts, text_scalar

FORMAT = "detector-supervised-model"
FORMAT_VERSION = 1
# Columns whose past inspections are encoded: one column, or a pair of columns joined.
ENCODED: tuple[tuple[str, ...], ...] = (
    ("exporter",), ("consignee",), ("declarant",), ("office_id",), ("hs6",), ("hs4",), ("hs2",),
    ("origin_country",), ("export_country",), ("transport_mode",), ("package_type",),
    ("consignee", "hs6"), ("declarant", "consignee"), ("exporter", "consignee"),
    ("consignee", "origin_country"), ("office_id", "hs4"),
)
# Pseudo-inspections at the overall fraud share added to every value: a consignee with
# one inspection that found fraud is not a 100% fraudster.
SMOOTHING = 5.0
FOLDS = 5
MIN_LABELLED = 50
# Trees (max_iter, at most MAX_TREES) times leaves per tree: a tree of L leaves has
# 2L - 1 nodes, so this bounds the nodes a model holds and a file may claim (the
# default 500 x 127 is 33 times below it).
MAX_TREE_LEAVES = 1 << 21
# How reasons name the encoded columns.
_NAMES = {"hs2": "HS", "hs4": "HS", "hs6": "HS", "office_id": "office", "origin_country": "origin",
          "export_country": "leaving", "transport_mode": "by", "package_type": "packed in"}
_PAIR = "\x1f"  # joins the values of a pair of columns (a unit separator never typed in a name)
_NODE_ARRAYS = {"value": np.float64, "feature": np.int64, "threshold": np.float64, "missing_left": np.uint8,
                "left": np.int64, "right": np.int64, "leaf": np.uint8, "count": np.int64, "offsets": np.int64}


def labels_from_column(declarations: Declarations, column: str) -> np.ndarray:
    """The inspection outcomes a declarations file carries in one of its own columns.

    A history exported with a verdict column (1 fraud, 0 clean, empty not inspected)
    trains the supervised model without an outcome database.

    Returns
    -------
    ndarray
        1.0, 0.0 or NaN per row, as :func:`detector.labels.read_labels` reads them.

    Raises
    ------
    DetectorError
        The file has no such column (the columns it has are listed), or a cell is
        not an inspection outcome (:func:`detector.labels.read_labels`).
    """
    if column not in declarations.raw.columns:
        raise DetectorError(f"{declarations.source}: no label column '{column}'; columns found: "
                            f"{', '.join(declarations.raw.columns)}")
    return read_labels(declarations.raw[column], declarations.source, column)


def labels_from_outcomes(declarations: Declarations, outcomes: pd.DataFrame) -> np.ndarray:
    """The recorded inspection outcomes of each declaration, by declaration id.

    Parameters
    ----------
    outcomes : DataFrame
        declaration_id and result ("fraud" or "clean"), as
        :meth:`detector.outcomes.OutcomeStore.outcomes` returns them.

    Returns
    -------
    ndarray
        1.0 (fraud), 0.0 (clean) or NaN (no outcome recorded) per row.
    """
    result = outcomes.set_index("declaration_id")["result"]
    return read_labels(declarations.table["declaration_id"].map(result), "the outcome database", "result")


def boosting_size_problem(max_iter, max_leaf_nodes) -> str | None:
    """Why ``max_iter`` trees of ``max_leaf_nodes`` leaves are too many to fit or to
    load (see :data:`MAX_TREE_LEAVES`), or None."""
    try:
        whole_number(max_iter, "max_iter", 1, MAX_TREES)
        whole_number(max_leaf_nodes, "max_leaf_nodes", 2)
    except DetectorError as exc:
        return str(exc)
    if max_iter * max_leaf_nodes > MAX_TREE_LEAVES:
        return (f"{max_iter:,} trees of {max_leaf_nodes:,} leaves hold {max_iter * max_leaf_nodes:,} leaves; "
                f"a model holds at most {MAX_TREE_LEAVES:,}")
    return None


def _encoder_name(columns: tuple[str, ...]) -> str:
    return " x ".join(columns)


def _keys(table: pd.DataFrame, columns: tuple[str, ...]) -> pd.Series:
    """The encoded value of each row (missing when any of its columns is)."""
    parts = [table[c].astype("string") for c in columns]
    key = parts[0]
    for part in parts[1:]:
        key = key + _PAIR + part
    return key


@dataclass
class _Encoder:
    """Fraud share of past inspections per value of some columns, smoothed."""

    columns: tuple[str, ...]
    prior: float
    frauds: pd.Series  # index value -> frauds
    inspections: pd.Series  # index value -> inspections

    @classmethod
    def learn(cls, keys: pd.Series, labels: np.ndarray, prior: float, columns: tuple[str, ...]) -> _Encoder:
        grouped = pd.DataFrame({"key": keys.to_numpy(), "y": labels}).dropna(subset=["key"]).groupby("key")["y"]
        return cls(columns, prior, grouped.sum().astype(np.float64), grouped.size().astype(np.float64))

    def counts(self, keys: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """(frauds, inspections) in the history per row; 0 and 0 for unseen values, and
        for every value when the column was empty in the history (nothing learned)."""
        place = pd.Index(self.frauds.index).get_indexer(keys.fillna(_PAIR).to_numpy(dtype=object))
        found = place >= 0
        frauds, seen = np.zeros(len(place)), np.zeros(len(place))
        frauds[found], seen[found] = self.frauds.to_numpy()[place[found]], self.inspections.to_numpy()[place[found]]
        return frauds, seen

    def encode(self, keys: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """(smoothed fraud share, inspections) per row; the prior and 0 for unseen values,
        NaN for missing ones. An encoder that learned no value (its columns were empty in
        every inspected row) gives the prior and 0 to every row, missing or not: the
        column tells nothing, and a constant input is one the trees never split on (an
        all-missing one they cannot even bin), so no explanation names it."""
        frauds, seen = self.counts(keys)
        share = (frauds + SMOOTHING * self.prior) / (seen + SMOOTHING)
        missing = keys.isna().to_numpy() & (len(self.frauds) > 0)
        return np.where(missing, np.nan, share), np.where(missing, np.nan, seen)

    def as_json(self) -> dict:
        return {"columns": list(self.columns), "prior": self.prior, "values": self.frauds.index.tolist(),
                "frauds": self.frauds.tolist(), "inspections": self.inspections.tolist()}

    @classmethod
    def from_json(cls, data: dict) -> _Encoder:
        values = [str(v) for v in data["values"]]
        frauds, seen = [float(v) for v in data["frauds"]], [float(v) for v in data["inspections"]]
        if not (len(values) == len(frauds) == len(seen)):
            raise ValueError(f"encoder {data['columns']} has lists of different lengths")
        if len(set(values)) != len(values):
            raise ValueError(f"encoder {data['columns']} lists a value twice")
        return cls(tuple(map(str, data["columns"])), float(data["prior"]),
                   pd.Series(frauds, index=values), pd.Series(seen, index=values))


class _Trees:
    """The boosted trees as plain arrays, predicted by scikit-learn's compiled predictor.

    Each tree becomes a ``TreePredictor`` built from the arrays (no pickle) after
    :meth:`check` has made sure every child index points forward inside its tree and
    every split uses a known feature, so a crafted file cannot make the predictor read
    outside the arrays.
    """

    def __init__(self, arrays: dict[str, np.ndarray], n_features: int, baseline: float):
        from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
        from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

        self.arrays, self.n_features, self.baseline = arrays, n_features, baseline
        self.predictors = []
        offsets = arrays["offsets"]
        empty = np.zeros((0, 8), dtype=np.uint32)  # no categorical splits
        for start, stop in zip(offsets[:-1], offsets[1:]):
            nodes = np.zeros(stop - start, dtype=PREDICTOR_RECORD_DTYPE)
            nodes["value"], nodes["feature_idx"] = arrays["value"][start:stop], arrays["feature"][start:stop]
            nodes["num_threshold"] = arrays["threshold"][start:stop]
            nodes["missing_go_to_left"] = arrays["missing_left"][start:stop]
            # Leaves store -1 here; the predictor never follows a leaf's children.
            nodes["left"] = np.maximum(arrays["left"][start:stop], 0)
            nodes["right"] = np.maximum(arrays["right"][start:stop], 0)
            nodes["is_leaf"], nodes["count"] = arrays["leaf"][start:stop], arrays["count"][start:stop]
            self.predictors.append(TreePredictor(nodes, empty, empty))

    @classmethod
    def from_sklearn(cls, classifier, n_features: int) -> _Trees:
        nodes = [predictors[0].nodes for predictors in classifier._predictors]
        learning_rate = classifier.learning_rate
        arrays = {
            # scikit-learn shrinks only the leaves by the learning rate; inner nodes keep
            # the raw step. Shrink them too, so a split's contribution (child - parent)
            # is on the scale of the prediction (predictions read leaves only).
            "value": np.concatenate([np.where(n["is_leaf"], n["value"], n["value"] * learning_rate)
                                     for n in nodes]).astype(np.float64),
            "feature": np.concatenate([np.where(n["is_leaf"], -1, n["feature_idx"]) for n in nodes]).astype(np.int64),
            "threshold": np.concatenate([n["num_threshold"] for n in nodes]).astype(np.float64),
            "missing_left": np.concatenate([n["missing_go_to_left"] for n in nodes]).astype(np.uint8),
            "left": np.concatenate([np.where(n["is_leaf"], -1, n["left"]) for n in nodes]).astype(np.int64),
            "right": np.concatenate([np.where(n["is_leaf"], -1, n["right"]) for n in nodes]).astype(np.int64),
            "leaf": np.concatenate([n["is_leaf"] for n in nodes]).astype(np.uint8),
            "count": np.concatenate([n["count"] for n in nodes]).astype(np.int64),
            "offsets": np.cumsum([0] + [len(n) for n in nodes]).astype(np.int64),
        }
        return cls(arrays, n_features, float(np.ravel(classifier._baseline_prediction)[0]))

    @staticmethod
    def check(arrays: dict[str, np.ndarray], n_features: int, trees: int, leaves: int) -> str | None:
        """What is structurally wrong with the arrays of ``trees`` trees of at most
        ``leaves`` leaves, or None."""
        size = len(arrays["value"])
        if any(len(arrays[k]) != size for k in _NODE_ARRAYS if k != "offsets"):
            return "tree arrays differ in length"
        leaf = arrays["leaf"].astype(bool)
        problem = tree_problem(arrays["offsets"], arrays["left"], arrays["right"], leaf, arrays["feature"], n_features,
                               trees, 2 * leaves - 1)
        if problem:
            return problem
        # +inf is a real threshold: a split that sends only missing values right.
        threshold = arrays["threshold"][~leaf]
        if not np.all(np.isfinite(arrays["value"])) or np.any(np.isnan(threshold) | (threshold == -np.inf)):
            return "a node value or threshold is not a number"
        return None

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """Log-odds of fraud per row."""
        matrix = np.ascontiguousarray(matrix, dtype=np.float64)
        known, feature_map = np.zeros((0, 8), dtype=np.uint32), np.zeros(self.n_features, dtype=np.uint32)
        out = np.full(len(matrix), self.baseline)
        for predictor in self.predictors:
            out += predictor.predict(matrix, known, feature_map, 1)
        return out

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Per row and feature, the log-odds its splits added (rows x features).

        Walks the few explained rows through every tree column-wise, one depth level
        at a time; each step credits ``value(child) - value(node)`` to the node's feature.
        """
        arrays, offsets = self.arrays, self.arrays["offsets"]
        rows = np.arange(len(matrix))
        credit = np.zeros((len(matrix), self.n_features))
        for start, stop in zip(offsets[:-1], offsets[1:]):
            node = np.full(len(matrix), start)
            while True:
                active = arrays["leaf"][node] == 0
                if not active.any():
                    break
                at, where = node[active], rows[active]
                feature = arrays["feature"][at]
                value = matrix[where, feature]
                left = np.where(np.isnan(value), arrays["missing_left"][at] == 1, value <= arrays["threshold"][at])
                child = start + np.where(left, arrays["left"][at], arrays["right"][at])
                np.add.at(credit, (where, feature), arrays["value"][child] - arrays["value"][at])
                node[active] = child
        return credit


def _checked_options(seed, learning_rate, max_iter, max_leaf_nodes) -> int:
    """The seed, checked, once the booster's sizes and learning rate are known good."""
    seed = check_seed(seed)
    problem = boosting_size_problem(max_iter, max_leaf_nodes)
    if problem:
        raise DetectorError(f"cannot fit the supervised model: {problem}")
    if not isinstance(learning_rate, Real) or isinstance(learning_rate, bool) or not 0 < learning_rate < np.inf:
        raise DetectorError(f"learning_rate must be a positive number, got {learning_rate!r}")
    return seed


def _out_of_fold(keys: np.ndarray, y: np.ndarray, prior: float, cols, folds: np.ndarray):
    """Each training row's fraud share and inspection count for ``cols``, learned on
    the other folds only, so a row's own label never enters its encoding.

    Not scikit-learn's ``TargetEncoder``, although it cross-fits too: it gives a value
    unseen in the other folds that fold's own mean, five constants the trees learn to
    read (the own-label test reaches an in-sample AUC of 0.0 with it, 0.5 here); it
    keeps no inspection count, which the inputs and reasons need; it makes a missing
    key a category; and its seeding arguments change within the supported versions
    (deprecated in 1.9). On the sample both rank alike (precision at 1/2/5% 1.000 /
    0.933 / 0.384 here, 1.000 / 0.931 / 0.384 with it, AUC 0.977 each).
    """
    share, seen = np.empty(len(keys)), np.empty(len(keys))
    for fold in range(FOLDS):
        held = folds == fold
        encoder = _Encoder.learn(keys[~held], y[~held], prior, cols)
        share[held], seen[held] = encoder.encode(keys[held])
    # Out of fold a value's inspections are counted on (FOLDS - 1) / FOLDS of the rows;
    # scale them to the whole, as scoring counts them.
    return share, seen * FOLDS / (FOLDS - 1)


@dataclass
class SupervisedModel:
    """A gradient-boosted classifier of fraud learned from inspection outcomes.

    Attributes
    ----------
    columns : list of str
        Matrix columns in order: model features, ``rule:<id>``, ``fraud_share:<cols>``
        and ``inspections:<cols>``.
    rules : list of str
        Rule ids whose hits are features.
    training : dict
        rows, labelled, frauds, date_from, date_to, fingerprint.
    params : dict
        learning_rate, max_iter, max_leaf_nodes, seed, folds, smoothing.
    """

    columns: list[str]
    features: list[str]
    rules: list[str]
    training: dict
    params: dict
    _stats: FeatureStatistics = field(repr=False)
    _encoders: list[_Encoder] = field(repr=False)
    _trees: _Trees = field(repr=False)
    package_version: str = ""

    # Over 60 lines for its numpydoc parameters; the body, under 40 lines, checks the
    # options and labels, cross-fits the encodings and fits the trees.
    @classmethod
    def fit(cls, table, labels, rule_hits: pd.DataFrame | None = None, *, seed: int = 0,
            learning_rate: float = 0.1, max_iter: int = 500, max_leaf_nodes: int = 127) -> SupervisedModel:
        """Learn fraud from the labelled rows of ``table``.

        Parameters
        ----------
        table : DataFrame or Declarations
            The canonical history table; every row feeds the peer and pairing
            statistics, the labelled ones train the classifier.
        labels : array-like
            1 fraud, 0 clean, NaN not inspected; one per row of ``table``.
        rule_hits : DataFrame, optional
            One boolean column per rule, one row per row of ``table``
            (``score(...).rule_results.hits``).
        seed : int
            Folds of the out-of-fold encoding and the classifier's ``random_state``,
            0 to 2**32 - 1.
        learning_rate, max_iter, max_leaf_nodes
            Of ``HistGradientBoostingClassifier`` (no early stopping: the same data
            and seed give the same model): a positive learning rate, 1 to
            :data:`~detector.anomaly.MAX_TREES` trees of 2 leaves or more, trees times
            leaves at most :data:`MAX_TREE_LEAVES`.

        Raises
        ------
        DetectorError
            Labels other than 1, 0 or empty, too few inspections or a single outcome,
            or an argument out of its range.
        """
        from sklearn.ensemble import HistGradientBoostingClassifier

        seed = _checked_options(seed, learning_rate, max_iter, max_leaf_nodes)
        table = with_hs_levels(canonical_table(table)).reset_index(drop=True)
        labels = read_labels(labels)
        if len(labels) != len(table):
            raise DetectorError(f"{len(labels)} labels for {len(table)} declarations")
        labelled = np.flatnonzero(~np.isnan(labels))
        y = labels[labelled].astype(np.int64)
        if len(labelled) < MIN_LABELLED or y.min() == y.max():
            raise DetectorError(f"need at least {MIN_LABELLED} inspected declarations with both frauds and clean "
                                f"ones to learn from; got {len(labelled)} with {int(y.sum())} frauds")
        features, _ = available_features(table.columns)
        stats = FeatureStatistics.learn(table, features, PEER_MIN_ROWS)
        rules = list(rule_hits.columns) if rule_hits is not None else []
        encoded = [cols for cols in ENCODED if all(c in table.columns for c in cols)]
        train = table.iloc[labelled].reset_index(drop=True)
        hits = rule_hits.iloc[labelled].reset_index(drop=True) if rule_hits is not None else None
        prior = float(y.mean())
        keys = {cols: _keys(train, cols) for cols in encoded}
        folds = np.random.default_rng(seed).permutation(len(train)) % FOLDS
        out_of_fold = {cols: _out_of_fold(keys[cols], y, prior, cols, folds) for cols in encoded}
        base, _ = feature_frame(train, features, stats, training=True)
        matrix = cls._assemble(base, features, rules, hits, encoded, out_of_fold)
        # scikit-learn cannot bin a column without a single value (a feature whose inputs
        # no inspected row has, e.g. every origin code invalid); as a constant it is a
        # column the trees never split on, so no prediction or explanation uses it.
        matrix[:, np.isnan(matrix).all(axis=0)] = 0.0
        classifier = HistGradientBoostingClassifier(
            learning_rate=learning_rate, max_iter=max_iter, max_leaf_nodes=max_leaf_nodes,
            early_stopping=False, random_state=seed).fit(matrix, y)
        encoders = [_Encoder.learn(keys[cols], y, prior, cols) for cols in encoded]
        columns = cls._column_names(features, rules, encoded)
        training = {**training_record(table), "labelled": int(len(labelled)), "frauds": int(y.sum())}
        params = {"learning_rate": learning_rate, "max_iter": max_iter, "max_leaf_nodes": max_leaf_nodes,
                  "seed": seed, "folds": FOLDS, "smoothing": SMOOTHING}
        return cls(columns, features, rules, training, params, stats, encoders,
                   _Trees.from_sklearn(classifier, len(columns)), detector.__version__)

    @staticmethod
    def _column_names(features, rules, encoded) -> list[str]:
        return ([*features, *(f"rule:{r}" for r in rules)]
                + [f"fraud_share:{_encoder_name(c)}" for c in encoded]
                + [f"inspections:{_encoder_name(c)}" for c in encoded])

    @staticmethod
    def _assemble(base: pd.DataFrame, features, rules, hits, encoded, encodings) -> np.ndarray:
        parts = [base.reindex(columns=features).to_numpy(dtype=np.float64)]
        if rules:
            present = hits.reindex(columns=rules) if hits is not None else pd.DataFrame(index=base.index, columns=rules)
            parts.append(present.astype("float64").to_numpy())
        if encoded:
            parts.append(np.column_stack([encodings[c][0] for c in encoded]))
            parts.append(np.log1p(np.column_stack([encodings[c][1] for c in encoded])))
        return np.column_stack(parts)

    def matrix(self, table, rule_hits: pd.DataFrame | None = None) -> np.ndarray:
        """The classifier's input for ``table`` (NaN where unknown: the trees route it)."""
        return self._inputs(table, rule_hits)[0]

    def _inputs(self, table, rule_hits: pd.DataFrame | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """:meth:`matrix`, and per peer-relative feature the HS level each row was
        compared with (the words name that group)."""
        table = with_hs_levels(canonical_table(table))
        present, _ = available_features(table.columns, self.features)
        base, levels = feature_frame(table, present, self._stats)
        hits = rule_hits.set_axis(table.index) if rule_hits is not None else None
        encoded = [e.columns for e in self._encoders]
        encodings = {e.columns: (e.encode(_keys(table, e.columns)) if all(c in table for c in e.columns)
                                 else (np.full(len(table), np.nan), np.full(len(table), np.nan)))
                     for e in self._encoders}
        return self._assemble(base, self.features, self.rules, hits, encoded, encodings), levels

    def predict(self, table, rule_hits: pd.DataFrame | None = None) -> np.ndarray:
        """Probability of fraud per row, in [0, 1]."""
        return 1.0 / (1.0 + np.exp(-self._trees.raw(self.matrix(table, rule_hits))))

    def explain(self, table, rule_hits: pd.DataFrame | None = None, rows=None, top: int = 3) -> pd.Series:
        """The strongest contributions to each row's fraud probability, in words.

        Parameters
        ----------
        table : DataFrame or Declarations
        rule_hits : DataFrame, optional
            The rule hits of every row of ``table`` (``score(...).rule_results.hits``).
        rows : array-like of int, optional
            Positions (0-based) in ``table`` (and ``rule_hits``) of the rows to explain,
            as :meth:`AnomalyModel.explain <detector.anomaly.AnomalyModel.explain>` and
            ``ScoreResult.explain(row)`` take them; all rows by default.
        top : int
            At most this many contributions per row.

        Returns
        -------
        Series of str, indexed by the labels of those rows
            e.g. ``"consignee Acme Ltd: 7 of 9 past inspections found fraud; rule
            RE-MAIL-001 hit; value per kg 0.1x the median for HS 850440"``; a feature
            in the words of :func:`detector.features.feature_phrases`, as the anomaly
            model says it.
        """
        table = with_hs_levels(canonical_table(table))
        positions = np.arange(len(table)) if rows is None else np.asarray(rows, dtype=np.int64)
        part = table.iloc[positions]
        hits = rule_hits.iloc[positions] if rule_hits is not None else None
        matrix, levels = self._inputs(part, hits)
        credit = self._trees.contributions(matrix)
        order = np.argsort(-credit, axis=1, kind="stable")[:, :top]
        rows, phrases = by_rank(order, credit, 0.05, lambda column, chosen: self._phrases(
            self.columns[column], part.iloc[chosen], matrix[chosen, column],
            levels[self.columns[column]][chosen] if self.columns[column] in levels else None))
        texts = pa.chunked_array(phrases, pa.large_string()) if phrases else pa.array([], pa.large_string())
        said = pd.DataFrame({"row": rows, "text": texts.to_pandas()})
        # Empty phrases say nothing; a share and its count read alike, so each is said once.
        said = said[said["text"] != ""].drop_duplicates(keep="first")
        joined = join_per_row(said["row"].to_numpy(), pa.array(said["text"], pa.large_string()), len(part), "; ")
        return pd.Series(joined.to_numpy(dtype=object), index=part.index, name="supervised_reasons", dtype="object")

    def _phrases(self, column: str, rows: pd.DataFrame, values: np.ndarray,
                 hs_level: np.ndarray | None = None) -> pa.Array:
        """The words for ``column`` of some rows: their table rows, matrix values and,
        for a peer-relative feature, the HS level each was compared with."""
        kind, _, name = column.partition(":")
        if kind == "rule":
            said = pc.if_else(pa.array(values == 1), text_scalar(f"rule {name} hit"),
                              text_scalar(f"rule {name} did not hit"))
            return pc.if_else(pa.array(np.isnan(values)), text_scalar(f"rule {name} did not run"), said)
        if kind in ("fraud_share", "inspections"):
            cols = name.split(" x ")
            labels = [_NAMES.get(c, c.replace("_", " ")) for c in cols]
            encoder = next(e for e in self._encoders if _encoder_name(e.columns) == name)
            keys = _keys(rows, tuple(cols))
            frauds, seen = encoder.counts(keys)
            what = join_texts(*[part for i, (c, label) in enumerate(zip(cols, labels))
                                for part in ((" with " if i else "") + f"{label} ", column_text(rows, c))])
            counted = join_texts(what, ": ", formatted("%.0f", frauds), " of ", formatted("%.0f", seen),
                                 " past inspections found fraud")
            said = pc.if_else(pa.array(seen != 0), counted, join_texts(what, ": never inspected before"))
            return pc.if_else(pa.array(keys.isna().to_numpy()), text_scalar(f"{' and '.join(labels)} unknown"), said)
        return feature_phrases(column, values, {c: column_text(rows, c) for c in PHRASE_COLUMNS}, hs_level)

    # -- files

    def save(self, path: str | Path) -> Path:
        """Write the model as a checksummed zip of JSON and arrays (see :mod:`detector.modelfile`)."""
        members = {"statistics.json": json_bytes(self._stats.as_json()),
                   "encoders.json": json_bytes([e.as_json() for e in self._encoders])}
        for key in _NODE_ARRAYS:
            members[f"trees/{key}.npy"] = npy_bytes(self._trees.arrays[key])
        fields = {"package_version": self.package_version, "columns": self.columns, "features": self.features,
                  "rules": self.rules, "training": self.training, "params": self.params,
                  "baseline": self._trees.baseline}
        return write_model(path, FORMAT, FORMAT_VERSION, fields, members)

    @classmethod
    def load(cls, path: str | Path) -> SupervisedModel:
        """Read a model written by :meth:`save`, refusing anything else (ModelFileError):
        besides the checks of :func:`detector.modelfile.read_model`, more trees or bigger
        ones than the model's parameters and :data:`MAX_TREE_LEAVES` allow, and trees
        that would make the predictor read outside its arrays."""
        nodes = 2 * MAX_TREE_LEAVES  # fewer than 2 per leaf
        expected = {"statistics.json": Json(), "encoders.json": Json(),
                    **{f"trees/{k}.npy": Array(dtype, MAX_TREES + 1 if k == "offsets" else nodes)
                       for k, dtype in _NODE_ARRAYS.items()}}
        manifest, data = read_model(path, FORMAT, FORMAT_VERSION, expected, kind="supervised model")
        where = f"model file {path}"
        try:
            features = [str(f) for f in manifest["features"]]
            unknown = [f for f in features if f not in FEATURES_BY_NAME]
            if unknown:
                raise ValueError(f"unknown feature(s) {', '.join(unknown)}")
            rules = [str(r) for r in manifest["rules"]]
            encoders = [_Encoder.from_json(e) for e in data["encoders.json"]]
            columns = cls._column_names(features, rules, [e.columns for e in encoders])
            if columns != manifest["columns"]:
                raise ValueError("the column list does not match the features, rules and encoders")
            stats = FeatureStatistics.from_json(data["statistics.json"])
            arrays = {k: data[f"trees/{k}.npy"] for k in _NODE_ARRAYS}
            baseline = float(manifest["baseline"])
            training, params = dict(manifest["training"]), dict(manifest["params"])
            trees, leaves = params["max_iter"], params["max_leaf_nodes"]
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            raise ModelFileError(f"{where}: malformed model contents: {exc}") from None
        problem = boosting_size_problem(trees, leaves) or _Trees.check(arrays, len(columns), trees, leaves)
        if problem:
            raise ModelFileError(f"{where}: malformed model contents: {problem}")
        return cls(columns, features, rules, training, params, stats, encoders,
                   _Trees(arrays, len(columns), baseline), str(manifest.get("package_version", "")))


def train_supervised(declarations: Declarations, labels, rules: RuleSet | None = None,
                     seed: int = 0) -> SupervisedModel:
    """Fit the supervised model on a history: its rule hits, features and outcomes.

    The rules run here as they will when scoring (anonymised fields and unreadable
    cells included), so the model learns from the same hits it will later be given.

    Parameters
    ----------
    labels : str or array-like
        The name of a column of the history holding the outcomes
        (:func:`labels_from_column`), or one outcome per row (1 fraud, 0 clean, NaN not
        inspected), e.g. from :func:`labels_from_outcomes`; see also
        :func:`train_from_outcomes`.
    rules : RuleSet, optional
        From :func:`detector.load_rules`; the shipped packs when omitted.

    Examples
    --------
    >>> history = detector.load_declarations("sample_data/history.csv.gz")  # doctest: +SKIP
    >>> model = train_supervised(history, "label")  # doctest: +SKIP
    >>> model.save("supervised.zip")  # doctest: +SKIP
    """
    if isinstance(labels, str):
        labels = labels_from_column(declarations, labels)
    rule_set = rules if rules is not None else load_rules()
    hits = evaluate_rules(rule_set, declarations.table, opaque=declarations.opaque_fields,
                          unreadable=declarations.unreadable).hits
    return SupervisedModel.fit(declarations, labels, hits, seed=seed)


def train_from_outcomes(declarations: Declarations, db=None, rules: RuleSet | None = None,
                        seed: int = 0) -> SupervisedModel:
    """Fit the supervised model on a history with the outcomes of the outcome database
    (what ``detector train HISTORY --outcomes`` does).

    Parameters
    ----------
    db : str or Path, optional
        The outcome database (``detector outcomes add``); the default one of
        :func:`detector.outcomes.default_db_path` when omitted. It must exist: training
        never creates an empty one.

    Examples
    --------
    >>> history = detector.load_declarations("history.csv")  # doctest: +SKIP
    >>> model = train_from_outcomes(history, "detector-outcomes.sqlite")  # doctest: +SKIP
    """
    from detector.outcomes import OutcomeStore

    with OutcomeStore(db, create=False) as store:
        labels = labels_from_outcomes(declarations, store.outcomes())
    return train_supervised(declarations, labels, rules, seed=seed)


def training_summary(model: SupervisedModel, source: str) -> str:
    """One line on what a supervised model learnt from: rows, inspections, frauds, inputs."""
    trained = model.training
    encoded = len(model.columns) - len(model.rules) - len(model.features)
    return (f"{source}: {trained['rows']:,} rows, {trained['labelled']:,} inspected, "
            f"{trained['frauds']:,} frauds; {len(model.columns)} inputs ({len(model.rules)} rules, "
            f"{len(model.features)} features, {encoded} from past inspections)")
