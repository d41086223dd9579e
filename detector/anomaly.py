"""The anomaly scorer: an isolation forest over features of the declaration table.

Rules find the schemes they name; undervaluation and weights that do not hold together
are named by no rule, only by being unlike the rest of the trade. :class:`AnomalyModel`
learns what ordinary declarations look like from a history table and scores new files
against that history:

- **features** (:data:`FEATURES`), computed column-wise: log value, weights, quantity,
  value per kg, weight per package and weight per unit of quantity; the last three
  also relative to their HS peers (log ratio to the median of the same HS6, else HS4,
  else HS2 when the finer group had fewer than ``peer_min_rows`` training rows); the
  net/gross ratio; how often the pairings exporter x HS4, origin x HS4, export country
  x origin, transport mode x HS4 and exporter x consignee occurred in the history
  (log counts, unseen = 0); first-time exporter and consignee; description length and
  whether the whole description is a generic one ("parts", "goods", ...).
- **scores**: ``anomaly_score`` is the share of training declarations less strange than
  the row, so it means the same in every file scored with the same model;
  ``anomaly_percentile`` ranks the row within the file scored.
- **explanations**: the features that isolate the row, in words (see
  :meth:`AnomalyModel.explain`).
- **model files**: a zip of JSON and ``.npy`` arrays with sha256 checksums; nothing in
  it is ever unpickled or executed (see :meth:`AnomalyModel.save`).

Examples
--------
>>> import detector
>>> from detector.anomaly import AnomalyModel
>>> history = detector.load_declarations("sample_data/history.csv.gz").table  # doctest: +SKIP
>>> model = AnomalyModel.fit(history)                                          # doctest: +SKIP
>>> new = detector.load_declarations("sample_data/declarations.csv").table     # doctest: +SKIP
>>> scores = model.score(new)                                                  # doctest: +SKIP
>>> model.explain(new, rows=scores["anomaly_score"].to_numpy().argsort()[-10:])  # doctest: +SKIP
>>> model.save("history-2025.model.zip")                                       # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

import detector
from detector.errors import DetectorError, whole_number
from detector.features import (
    FEATURES_BY_NAME,
    PAIRINGS,
    PARTIES,
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
from detector.modelfile import Array, Json, ModelFileError, json_bytes, npy_bytes, read_model, tree_problem, write_model
from detector.text_columns import by_rank, column_text, join_per_row
from detector.threads import thread_pool, threads_for

FORMAT = "detector-anomaly-model"
FORMAT_VERSION = 1
# Rows whose isolation the explanation baseline is measured on (see ``explain``).
BASELINE_ROWS = 2048
# Rows scored per block: bounds the float32 copy of the features and the leaf arrays.
CHUNK_ROWS = 1 << 16
# Bounds of a forest, at fit and in a file. Each tree is built once at load, and a tree
# of max_samples rows has fewer than 2 * max_samples nodes; loading holds about 300
# bytes a node (20 features), so 2**21 sampled rows (8,192 trees of 256, 80 times the
# default) load in about 1 GB.
MAX_TREES = 10_000
MAX_SAMPLED_ROWS = 1 << 21
# scikit-learn's random_state takes 0 to 2**32 - 1.
MAX_SEED = 2 ** 32 - 1

# What the forest is fitted on unless asked otherwise: how a declaration compares with its
# HS peers and with the history of its parties and routes. Absolute sizes (log value,
# weights, quantity, and the raw ratios) are left out by default: honest trade spans six
# orders of magnitude, from a courier sample to a bulk carrier of clay, so those features
# isolate big and small honest shipments and drown the peer-relative signals. On the
# shipped sample (model fitted on the shipped history, 200 trees) this choice raised
# anomaly-only precision at a 2% budget from 0.18 (all 20 features) to 0.38.
DEFAULT_FEATURES: tuple[str, ...] = (
    "value_per_kg_vs_hs", "weight_per_package_vs_hs", "weight_per_unit_vs_hs", "net_gross_ratio",
    *PAIRINGS, *PARTIES, "generic_description",
)


def chosen_features(features=None) -> list[str]:
    """The feature names ``fit`` should use: :data:`DEFAULT_FEATURES` for None, every
    feature for ``"all"``, else the given names, checked."""
    if features is None:
        return list(DEFAULT_FEATURES)
    if isinstance(features, str):
        features = (list(FEATURES_BY_NAME) if features == "all"
                    else [f.strip() for f in features.split(",") if f.strip()])
    try:
        features = list(features)
    except TypeError:
        raise DetectorError(f"anomaly features must be a list of names, 'all' or None; got {features!r}") from None
    unknown = [f for f in features if not isinstance(f, str) or f not in FEATURES_BY_NAME]
    if unknown or not features:
        raise DetectorError(f"unknown anomaly feature(s) {', '.join(map(str, unknown)) or '(none given)'}; "
                            f"known: {', '.join(FEATURES_BY_NAME)}")
    return features


def check_seed(seed) -> int:
    """The seed as an int, refused when numpy and scikit-learn would refuse it (0 to 2**32 - 1)."""
    return whole_number(seed, "seed", 0, MAX_SEED)


def forest_size_problem(trees, max_samples) -> str | None:
    """Why a forest of ``trees`` trees of ``max_samples`` rows is too big to fit or to
    load (see :data:`MAX_SAMPLED_ROWS`), or None."""
    try:
        whole_number(trees, "trees", 1, MAX_TREES)
        whole_number(max_samples, "max_samples", 1)
    except DetectorError as exc:
        return str(exc)
    if trees * max_samples > MAX_SAMPLED_ROWS:
        return (f"{trees:,} trees of {max_samples:,} rows draw {trees * max_samples:,} rows; a forest draws at most "
                f"{MAX_SAMPLED_ROWS:,} ({MAX_SAMPLED_ROWS // 256:,} trees of 256)")
    return None


def drawn_rows(max_samples, rows: int) -> int:
    """Rows each tree draws from ``rows`` training rows, as scikit-learn's IsolationForest
    reads ``max_samples``: "auto" is min(256, rows), a fraction of the rows, or a count
    (at most the rows)."""
    if max_samples == "auto":
        return min(256, rows)
    if isinstance(max_samples, Real) and not isinstance(max_samples, (Integral, bool)) and 0 < max_samples <= 1:
        return max(1, int(max_samples * rows))
    return min(whole_number(max_samples, "max_samples ('auto', a fraction in (0, 1] or a row count)", 1), rows)


# ----------------------------------------------------------------------------- forest


def _average_path_length(n: np.ndarray) -> np.ndarray:
    """Expected path length of an unsuccessful search in a binary search tree of ``n``
    points (Liu et al. 2008), the same formula scikit-learn uses."""
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


_TREE_ARRAYS = ("left", "right", "feature", "threshold", "n_node_samples", "offsets")


class _Forest:
    """An isolation forest held as plain arrays (all trees' nodes concatenated).

    Scoring runs scikit-learn's own compiled tree traversal: each tree is rebuilt as a
    ``sklearn.tree._tree.Tree`` from the arrays through ``__setstate__`` (no pickle),
    after :meth:`check` has made sure every child index points forward inside its tree,
    so a crafted file cannot make the traversal read outside the arrays or loop.
    """

    def __init__(self, arrays: dict[str, np.ndarray], n_features: int, max_samples: int):
        from sklearn.tree._tree import NODE_DTYPE, Tree  # imported late: sklearn is slow to import

        self.arrays, self.n_features, self.max_samples = arrays, n_features, max_samples
        self.trees, self.path_lengths, self.path_bits = [], [], []
        offsets = arrays["offsets"]
        for start, stop in zip(offsets[:-1], offsets[1:]):
            part = {k: arrays[k][start:stop] for k in _TREE_ARRAYS if k != "offsets"}
            nodes = np.zeros(stop - start, dtype=NODE_DTYPE)
            nodes["left_child"], nodes["right_child"] = part["left"], part["right"]
            nodes["feature"], nodes["threshold"] = part["feature"], part["threshold"]
            nodes["n_node_samples"] = part["n_node_samples"]
            nodes["weighted_n_node_samples"] = part["n_node_samples"]
            depth = self._depths(part["left"], part["right"])
            tree = Tree(n_features, np.array([1], dtype=np.intp), 1)
            tree.__setstate__({"max_depth": int(depth.max()) - 1, "node_count": stop - start, "nodes": nodes,
                               "values": np.zeros((stop - start, 1, 1))})
            self.trees.append(tree)
            # Path length of a row ending in each node, as scikit-learn adds it up.
            self.path_lengths.append(depth + _average_path_length(part["n_node_samples"]) - 1.0)
            self.path_bits.append(self._path_bits(part, depth))

    @staticmethod
    def _depths(left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Depth of each node, root = 1; children always follow their parent (checked)."""
        depth = np.ones(len(left), dtype=np.int64)
        internal = np.flatnonzero(left >= 0)
        for node in internal:  # nodes per tree, not rows: at most 2 * max_samples
            depth[left[node]] = depth[right[node]] = depth[node] + 1
        return depth

    def _path_bits(self, part: dict, depth: np.ndarray) -> np.ndarray:
        """(nodes x features): the bits a row collects per feature on its way from the
        root to each node. Entering node j credits the feature its parent split on with
        log2(parent samples / j samples), the share of the training sample that split
        removed from around the row; a node's total is its parent's plus that credit,
        added root first, so a leaf holds the sum of its whole path."""
        left, right, feature, samples = part["left"], part["right"], part["feature"], part["n_node_samples"]
        totals = np.zeros((len(left), self.n_features))
        for level in range(1, int(depth.max()) if len(depth) else 1):  # parents before children
            parents = np.flatnonzero((depth == level) & (left >= 0))
            for children in (left[parents], right[parents]):
                totals[children] = totals[parents]
                totals[children, feature[parents]] += np.log2(samples[parents] / samples[children])
        return totals

    @classmethod
    def from_sklearn(cls, forest, n_features: int) -> _Forest:
        trees = [estimator.tree_ for estimator in forest.estimators_]
        arrays = {
            "left": np.concatenate([t.children_left for t in trees]).astype(np.int64),
            "right": np.concatenate([t.children_right for t in trees]).astype(np.int64),
            "feature": np.concatenate([np.where(t.children_left >= 0, t.feature, -1) for t in trees]).astype(np.int64),
            "threshold": np.concatenate([t.threshold for t in trees]).astype(np.float64),
            "n_node_samples": np.concatenate([t.n_node_samples for t in trees]).astype(np.int64),
            "offsets": np.cumsum([0] + [t.node_count for t in trees]).astype(np.int64),
        }
        return cls(arrays, n_features, int(forest.max_samples_))

    @staticmethod
    def check(arrays: dict[str, np.ndarray], n_features: int, trees: int, max_samples: int) -> str | None:
        """What is structurally wrong with the arrays of ``trees`` trees of ``max_samples`` rows, or None."""
        offsets = arrays["offsets"]
        size = len(arrays["left"])
        if any(len(arrays[k]) != size for k in _TREE_ARRAYS if k != "offsets"):
            return "tree arrays differ in length"
        left, right = arrays["left"], arrays["right"]
        leaf = left < 0
        if np.any(leaf != (right < 0)) or np.any(leaf & ((left != -1) | (right != -1))):
            return "a node has one child"
        problem = tree_problem(offsets, left, right, leaf, arrays["feature"], n_features, trees, 2 * max_samples - 1)
        if problem:
            return problem
        if not np.all(np.isfinite(arrays["threshold"][~leaf])) or np.any(arrays["n_node_samples"] < 1):
            return "a split threshold or node size is invalid"
        # Every node but the root is the child of exactly one parent: otherwise it is a graph, not a tree.
        node, tree_start = np.arange(size), np.repeat(offsets[:-1], np.diff(offsets))
        is_child = np.zeros(size, dtype=np.int64)
        np.add.at(is_child, (left + tree_start)[~leaf], 1)
        np.add.at(is_child, (right + tree_start)[~leaf], 1)
        if np.any(is_child[np.setdiff1d(node, offsets[:-1])] != 1) or np.any(is_child[offsets[:-1]] != 0):
            return "the nodes do not form trees"
        return None

    def strangeness(self, matrix: np.ndarray) -> np.ndarray:
        """``2 ** (-mean path length / c(max_samples))``: the isolation-forest score, higher
        is stranger; bit for bit ``-IsolationForest.score_samples`` (same sums, same order)."""
        denominator = len(self.trees) * _average_path_length(np.array([self.max_samples]))[0]
        depths = self._leaf_sums(matrix, self.path_lengths)
        return 2 ** -(depths / denominator) if denominator else np.ones(len(matrix))

    def isolation_bits(self, matrix: np.ndarray) -> np.ndarray:
        """Per row and feature, the bits of isolation the feature's splits gave the row,
        averaged over trees (rows x features)."""
        return self._leaf_sums(matrix, self.path_bits) / len(self.trees)

    def _leaf_sums(self, matrix: np.ndarray, node_values: list[np.ndarray]) -> np.ndarray:
        """Per row, the sum over trees of ``node_values[tree]`` at the leaf the row reaches.

        Blocks of rows are independent and the tree traversal releases the GIL, so they
        are summed on all cores; each row's sum runs over the trees in the same order
        whichever thread takes it, so the result does not depend on the threads.
        """
        total = np.zeros((len(matrix), *node_values[0].shape[1:]))

        def add_block(start: int) -> None:
            block = np.ascontiguousarray(matrix[start:start + CHUNK_ROWS], dtype=np.float32)
            sums = total[start:start + len(block)]
            for tree, values in zip(self.trees, node_values):
                sums += values[tree.apply(block)]

        starts = range(0, len(matrix), CHUNK_ROWS)
        with thread_pool(len(starts)) as pool:
            list(pool.map(add_block, starts))
        return total


# ----------------------------------------------------------------------------- model


@dataclass
class AnomalyModel:
    """An isolation forest over declaration features, with the history it learned from.

    Build one with :meth:`fit` or :meth:`load`; the attributes are read-only in spirit.

    Attributes
    ----------
    features : list of str
        Features the model uses, in matrix order (see :data:`FEATURES`).
    missing_features : list of str
        Features left out because the training table lacked their inputs.
    training : dict
        rows, date_from, date_to (ISO dates or None), fingerprint (sha256 of the
        canonical columns of the training table; None for a model from
        :meth:`fit_score`, whose training table is the batch it scored).
    params : dict
        trees, seed, max_samples (as used), peer_min_rows.
    """

    features: list[str]
    missing_features: list[str]
    training: dict
    params: dict
    medians: dict[str, float] = field(repr=False)
    baseline_bits: dict[str, float] = field(repr=False)
    _stats: FeatureStatistics = field(repr=False)
    _forest: _Forest = field(repr=False)
    _training_strangeness: np.ndarray = field(repr=False)  # sorted
    package_version: str = ""

    @classmethod
    def fit(cls, table, *, features=None, trees: int = 100, seed: int = 0,
            max_samples: int | str = "auto", peer_min_rows: int = PEER_MIN_ROWS) -> AnomalyModel:
        """Learn peer medians, pairing counts and an isolation forest from ``table``.

        Parameters
        ----------
        table : DataFrame or Declarations
            The canonical table of past declarations (``load_declarations(...).table``).
        features : list of str, "all" or None
            Features to fit on; :data:`DEFAULT_FEATURES` when None. Those whose inputs
            the table lacks are left out and listed in :attr:`missing_features`.
        trees : int
            Number of isolation trees, 1 to :data:`MAX_TREES`.
        seed : int
            ``random_state`` of the forest, 0 to 2**32 - 1: the same table and seed give
            the same model.
        max_samples : int, float or "auto"
            Training rows drawn per tree ("auto" = min(256, rows), a fraction of the rows,
            or a count); trees times these rows is at most :data:`MAX_SAMPLED_ROWS`.
        peer_min_rows : int
            An HS6 (then HS4) group needs this many training rows (1 or more) to be a peer group.

        Returns
        -------
        AnomalyModel

        Raises
        ------
        DetectorError
            Fewer than 2 rows, no computable feature, or an argument out of its range.
        """
        return cls._fit(table, features, trees, seed, max_samples, peer_min_rows)[0]

    @classmethod
    def fit_score(cls, table, **fit_options) -> tuple[AnomalyModel, pd.DataFrame]:
        """Fit on a batch and score that same batch, when there is no history.

        The batch is its own history: its rows are scored with the leave-one-out
        pairing counts they were fitted with (a party seen once in the batch counts as
        new), and the forest's scores of the fitting rows are reused, not recomputed.
        ``fit_options`` are those of :meth:`fit`. Use :meth:`explain` with
        ``training=True`` for the rows of this batch. The batch is not fingerprinted
        (hashing every cell costs as much as a sixth of the fit): train on history
        with :meth:`fit` for a model whose file says what it learned from.
        """
        model, strangeness = cls._fit(table, **fit_options, fingerprint=False)
        return model, model._scores(strangeness, canonical_table(table).index)

    @classmethod
    def _fit(cls, table, features=None, trees: int = 100, seed: int = 0, max_samples: int | str = "auto",
             peer_min_rows: int = PEER_MIN_ROWS, fingerprint: bool = True) -> tuple[AnomalyModel, np.ndarray]:
        from sklearn.ensemble import IsolationForest

        seed = check_seed(seed)
        peer_min_rows = whole_number(peer_min_rows, "peer_min_rows", 1)
        table = with_hs_levels(canonical_table(table))
        if len(table) < 2:
            raise DetectorError(f"cannot fit an anomaly model on {len(table)} declaration(s); need at least 2")
        problem = forest_size_problem(trees, drawn_rows(max_samples, len(table)))
        if problem:
            raise DetectorError(f"cannot fit the anomaly model: {problem}")
        features, missing = available_features(table.columns, chosen_features(features))
        if not features:
            raise DetectorError("no anomaly feature can be computed: the table lacks the values, weights, "
                                f"quantities, parties or descriptions they need ({', '.join(missing)})")
        stats = FeatureStatistics.learn(table, features, peer_min_rows)
        raw, _ = feature_frame(table, features, stats, training=True)
        medians = {name: _nan_median(raw[name]) for name in features}
        matrix = raw.fillna(medians).to_numpy(dtype=np.float64)
        # Trees are grown on threads (the same trees: their seeds are drawn beforehand).
        forest = IsolationForest(n_estimators=trees, max_samples=max_samples, random_state=seed,
                                 n_jobs=threads_for(trees)).fit(matrix)
        compact = _Forest.from_sklearn(forest, len(features))
        strangeness = compact.strangeness(matrix)
        sample = np.random.default_rng(seed).choice(len(matrix), min(BASELINE_ROWS, len(matrix)), replace=False)
        baseline = compact.isolation_bits(matrix[np.sort(sample)]).mean(axis=0)
        training = training_record(table, fingerprint)
        params = {"trees": trees, "seed": seed, "max_samples": compact.max_samples, "peer_min_rows": peer_min_rows}
        model = cls(features, missing, training, params, medians, dict(zip(features, baseline.tolist())),
                    stats, compact, np.sort(strangeness), detector.__version__)
        return model, strangeness

    # -- scoring

    def matrix(self, table, training: bool = False) -> np.ndarray:
        """The imputed feature matrix of ``table`` (rows x :attr:`features`).

        A feature whose inputs the table lacks is imputed for every row with its
        training median, so it neither raises nor lowers any score. ``training``: the
        table is the one the model was fitted on (see :meth:`fit_score`).
        """
        return self.feature_table(table, training).fillna(self.medians).to_numpy(dtype=np.float64)

    def feature_table(self, table, training: bool = False) -> pd.DataFrame:
        """The features of ``table`` before imputation (NaN where unknown), indexed like it."""
        return self._features(with_hs_levels(canonical_table(table)), training)[0]

    def _features(self, table: pd.DataFrame, training: bool = False) -> tuple[pd.DataFrame, dict]:
        present, _ = available_features(table.columns, self.features)
        raw, levels = feature_frame(table, present, self._stats, training)
        return raw.reindex(columns=self.features), levels

    def score(self, table, training: bool = False) -> pd.DataFrame:
        """Score declarations against the training history.

        Parameters
        ----------
        table : DataFrame or Declarations
        training : bool
            The table is the one the model was fitted on: pairing counts leave each
            row itself out, as at fit time (:meth:`fit_score` does this for you).

        Returns
        -------
        DataFrame, indexed like ``table``
            ``anomaly_score``: share of training declarations less strange than the row,
            in [0, 1]; the same row gets the same score in any file scored with this model.
            ``anomaly_percentile``: rank of the row within this table, in (0, 100].
        """
        return self._scores(self._forest.strangeness(self.matrix(table, training)), canonical_table(table).index)

    def _scores(self, strangeness: np.ndarray, index: pd.Index) -> pd.DataFrame:
        # Both scores are ranks: sorting the rows once turns each into a search of
        # sorted values among sorted values, which walks memory in order.
        order = np.argsort(strangeness, kind="stable")
        ranked = strangeness[order]
        below = np.searchsorted(self._training_strangeness, ranked, side="left")
        at_most = np.searchsorted(ranked, ranked, side="right")  # rank "max" within the table
        score, percentile = np.empty(len(order)), np.empty(len(order))
        score[order] = below / len(self._training_strangeness)
        percentile[order] = at_most / len(order) * 100
        return pd.DataFrame({"anomaly_score": score, "anomaly_percentile": percentile}, index=index)

    def explain(self, table, rows=None, top: int = 3, training: bool = False) -> pd.Series:
        """Say in words which features isolate each row.

        Attribution is path-based: in every tree, each split on the row's path removes
        part of the training sample from around the row, and the feature it split on is
        credited with ``log2(samples before / samples after)`` bits. Summed along the
        path this is the isolation the tree achieved (``log2(max_samples / leaf size)``),
        so the credit adds up to exactly what makes a short path short. A typical
        training row also collects bits from every feature (an isolation tree picks
        features at random), so each feature's credit is compared with its mean over
        training rows (stored at fit) and the features with the largest excess are
        named, largest first. Unlike a distance to the median, this names only
        deviations the forest actually used, and a value that is far from the median
        but common in the history (a usual trade) collects no excess.

        Parameters
        ----------
        table : DataFrame or Declarations
        rows : array-like of int, optional
            Positions (0-based) in ``table`` of the rows to explain, as
            :meth:`SupervisedModel.explain <detector.supervised.SupervisedModel.explain>`
            and ``ScoreResult.explain(row)`` take them (e.g. the top of :meth:`score`
            by ``argsort``); all rows by default.
        top : int
            At most this many features per row.
        training : bool
            The table is the one the model was fitted on (see :meth:`score`).

        Returns
        -------
        Series of str, indexed by the labels of those rows
            e.g. ``"value per kg 0.08x the median for HS 850440; exporter never shipped
            HS 8504 before"`` (each feature in the words of
            :func:`detector.features.feature_phrases`, as the supervised model says it);
            ``""`` when nothing isolates the row more than usual.
        """
        table = with_hs_levels(canonical_table(table))
        if rows is not None:
            table = table.iloc[np.asarray(rows, dtype=np.int64)]
        raw, levels = self._features(table, training)
        bits = self._forest.isolation_bits(raw.fillna(self.medians).to_numpy(dtype=np.float64))
        values = raw.to_numpy(dtype=np.float64)
        excess = bits - np.array([self.baseline_bits[f] for f in self.features])
        excess[self._no_reason(values)] = -np.inf
        order = np.argsort(-excess, axis=1, kind="stable")[:, :top]
        cells = {column: column_text(table, column) for column in PHRASE_COLUMNS}
        phrase_rows, phrases = by_rank(order, excess, 0.05, lambda column, chosen: self._phrases(
            column, {c: v.take(chosen) for c, v in cells.items()}, values[chosen, column], levels, chosen))
        texts = pa.chunked_array(phrases, pa.large_string()) if phrases else pa.array([], pa.large_string())
        said = pc.not_equal(texts, "").to_numpy(zero_copy_only=False) if len(phrase_rows) else np.zeros(0, dtype=bool)
        joined = join_per_row(phrase_rows[said], texts.filter(pa.array(said)), len(table), "; ")
        return pd.Series(joined.to_numpy(dtype=object), index=table.index, name="anomaly_reasons", dtype="object")

    def _no_reason(self, values: np.ndarray) -> np.ndarray:
        """Cells whose feature isolates the row without saying anything strange about
        it: a pairing seen more often than usual ("seen 468 times before" is no
        reason), a party seen before, a description that is not generic. A forest
        isolates both tails; an analyst reads only the strange one, so these are not
        named and the next feature is."""
        hidden = np.zeros(values.shape, dtype=bool)
        for column, name in enumerate(self.features):
            if name in PAIRINGS:
                hidden[:, column] = values[:, column] > self.medians[name]
            elif name in PARTIES or name == "generic_description":
                hidden[:, column] = values[:, column] == 0
        return hidden

    def _phrases(self, column: int, cells: dict[str, pa.Array], values: np.ndarray, levels: dict,
                 rows: np.ndarray) -> pa.Array:
        """The words for feature ``column`` of some rows: their cells, feature values and
        (for peer features) the HS level each was compared with, at ``rows``."""
        name = self.features[column]
        return feature_phrases(name, values, cells, np.asarray(levels[name])[rows] if name in levels else None)

    # -- files

    def save(self, path: str | Path) -> Path:
        """Write the model as a zip that is safe to share: no pickle, checksummed.

        Members: ``manifest.json`` (format, format_version, package version, features,
        missing features, training rows, date span and fingerprint, parameters, and the
        sha256 of every other member); ``statistics.json`` (peer medians per HS level,
        pairing and party counts, generic descriptions, imputation medians, explanation
        baseline); ``trees/*.npy`` (all trees' nodes: left, right, feature, threshold,
        n_node_samples, and per-tree offsets) and ``training_strangeness.npy`` (the
        sorted training scores that ``anomaly_score`` is measured against). The file is
        written to a temporary name and renamed, and the same model gives the same bytes.
        """
        members = {"statistics.json": json_bytes({**self._stats.as_json(), "medians": self.medians,
                                                  "baseline_bits": self.baseline_bits})}
        for key in _TREE_ARRAYS:
            members[f"trees/{key}.npy"] = npy_bytes(self._forest.arrays[key])
        members["training_strangeness.npy"] = npy_bytes(self._training_strangeness)
        fields = {"package_version": self.package_version, "features": self.features,
                  "missing_features": self.missing_features, "training": self.training, "params": self.params}
        return write_model(path, FORMAT, FORMAT_VERSION, fields, members)

    @classmethod
    def load(cls, path: str | Path) -> AnomalyModel:
        """Read a model written by :meth:`save`, refusing anything else.

        Raises
        ------
        ModelFileError
            Not a zip, no manifest, another format or format version, a feature list
            this version does not know or that the members contradict, a missing or
            unexpected member, a member whose sha256 differs from the manifest, a
            member or array larger than a model holds (checked from the zip directory
            and each array's header before it is read; see :mod:`detector.modelfile`),
            more trees or bigger ones than :data:`MAX_TREES` and
            :data:`MAX_SAMPLED_ROWS` or the model's own parameters allow, or tree
            arrays that do not form valid trees.
        """
        nodes = 2 * MAX_SAMPLED_ROWS  # fewer than 2 per row drawn
        expected = {"statistics.json": Json(), "training_strangeness.npy": Array(np.float64),
                    "trees/offsets.npy": Array(np.int64, MAX_TREES + 1),
                    **{f"trees/{k}.npy": Array(np.float64 if k == "threshold" else np.int64, nodes)
                       for k in _TREE_ARRAYS if k != "offsets"}}
        manifest, data = read_model(path, FORMAT, FORMAT_VERSION, expected, kind="anomaly model")
        where = f"model file {path}"
        features = manifest.get("features")
        unknown = ([f for f in features if not isinstance(f, str) or f not in FEATURES_BY_NAME]
                   if isinstance(features, list) else None)
        if not features or unknown is None or unknown or len(set(features)) != len(features):
            raise ModelFileError(f"{where}: feature list {features!r} is not one this detector computes"
                                 + (f" (unknown: {', '.join(map(str, unknown))})" if unknown else ""))
        return cls._from_members(manifest, data, where)

    @classmethod
    def _from_members(cls, manifest: dict, data: dict, where: str) -> AnomalyModel:
        features = manifest["features"]
        try:
            statistics = data["statistics.json"]
            stats = FeatureStatistics.from_json(statistics)
            medians = {f: float(statistics["medians"][f]) for f in features}
            baseline = {f: float(statistics["baseline_bits"][f]) for f in features}
            counted = {n for n in features if n in PAIRINGS or n in PARTIES}
            if set(stats.counts) != counted or set(statistics["medians"]) != set(features):
                raise ValueError("the statistics are for another feature list")
            arrays = {k: data[f"trees/{k}.npy"] for k in _TREE_ARRAYS}
            strangeness = data["training_strangeness.npy"]
            params, training = dict(manifest["params"]), dict(manifest["training"])
            trees, max_samples = params["trees"], params["max_samples"]
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            raise ModelFileError(f"{where}: malformed model contents: {exc}") from None
        problem = forest_size_problem(trees, max_samples) or _Forest.check(arrays, len(features), trees, max_samples)
        if problem is None and (len(strangeness) == 0 or np.any(np.diff(strangeness) < 0)):
            problem = "training scores are missing or not sorted"
        if problem:
            raise ModelFileError(f"{where}: malformed model contents: {problem}")
        return cls(features, list(manifest.get("missing_features", [])), training, params, medians, baseline,
                   stats, _Forest(arrays, len(features), max_samples), strangeness,
                   str(manifest.get("package_version", "")))


# ----------------------------------------------------------------------------- helpers


def _nan_median(values: pd.Series) -> float:
    median = values.median()
    return 0.0 if pd.isna(median) else float(median)
