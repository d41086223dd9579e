"""The anomaly and supervised models as scikit-learn estimators.

:class:`~detector.anomaly.AnomalyModel` and :class:`~detector.supervised.SupervisedModel`
take declarations, not a numeric matrix: their features are computed from the
declaration fields against the history they learned. The two estimators here put them
behind scikit-learn's API so that they work with ``clone``, ``get_params`` /
``set_params``, ``Pipeline`` and model selection tools, the way PyOD's detectors and
scikit-learn's ``IsolationForest`` do:

- :class:`DeclarationAnomalyDetector` (an outlier detector over ``AnomalyModel``):
  ``fit``, ``score_samples``, ``decision_function``, ``predict`` (+1 inlier, -1
  outlier), ``fit_predict`` and ``explain``.
- :class:`DeclarationFraudClassifier` (a classifier over ``SupervisedModel``): ``fit``
  with the inspection outcomes, ``predict_proba``, ``predict``, ``decision_function``
  and ``explain``. The rule hits the model learns from are computed inside with the
  rule packs (the shipped ones by default), so ``X`` is only declarations.

``X`` is what :func:`detector.load_declarations` reads: a DataFrame of declarations
(canonical column names, their obvious aliases, or any layout with the estimator's
``mapping``), a CSV or Parquet path, or a :class:`~detector.declarations.Declarations`
already loaded (used as it is). Every call validates it with the project's own
schema; a cell that fails validation is missing for the model, as when scoring, and the
row is still scored, so every method returns one value per row of ``X``.

Parameters are stored as given and checked at ``fit``, as scikit-learn asks; a value
out of its range is a :class:`~detector.errors.DetectorError` naming it.

Examples
--------
>>> import pandas as pd
>>> from detector.estimators import DeclarationAnomalyDetector
>>> history = pd.read_csv("sample_data/history.csv.gz", dtype=str)        # doctest: +SKIP
>>> new = pd.read_csv("sample_data/declarations.csv", dtype=str)          # doctest: +SKIP
>>> finder = DeclarationAnomalyDetector(contamination=0.02).fit(history)    # doctest: +SKIP
>>> flagged = new[finder.predict(new) == -1]                                # doctest: +SKIP
>>> finder.explain(flagged.head())                                          # doctest: +SKIP
"""

from __future__ import annotations

from numbers import Real
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, OutlierMixin
from sklearn.utils.validation import check_is_fitted

from detector.anomaly import MAX_SEED, AnomalyModel
from detector.declarations import Declarations, load_declarations
from detector.errors import DetectorError, whole_number
from detector.features import PEER_MIN_ROWS
from detector.rules import RuleSet, evaluate_rules, load_rules
from detector.supervised import SupervisedModel

# The share of the history flagged by default: the strangest 5%, where the risk score
# starts counting the anomaly (RiskPolicy.anomaly_from = 0.95).
DEFAULT_CONTAMINATION = 0.05


def declarations_of(X, mapping=None, reference_dirs: tuple[Path, ...] = ()) -> Declarations:
    """``X`` read, mapped, validated and derived, as every estimator method sees it.

    Parameters
    ----------
    X : DataFrame, path or Declarations
        Declarations are used as they are (already mapped); a DataFrame or a file is
        loaded with :func:`detector.load_declarations`.
    mapping : path, shipped mapping name or ColumnMapping, optional
        How the columns of a DataFrame or file map onto canonical fields.
    reference_dirs : tuple of Path
        Folders of synonym tables of the rule packs in use (``RuleSet.reference_dirs``).

    Raises
    ------
    DetectorError
        ``X`` is none of these (a bare array has no column names to read fields from);
        the loader's own errors (a missing required column, an unreadable file).
    """
    if isinstance(X, Declarations):
        return X
    if isinstance(X, (pd.DataFrame, str, Path)):
        return load_declarations(X, mapping, reference_dirs=reference_dirs)
    shape = f" of shape {X.shape}" if hasattr(X, "shape") else ""
    raise DetectorError(f"X must be a DataFrame of declarations (one column per field, as pandas.read_csv gives "
                        f"it), a CSV or Parquet path, or detector.load_declarations(...); got "
                        f"{type(X).__name__}{shape}")


def _row_index(X, rows: int) -> pd.Index:
    """The index the per-row results carry: ``X``'s own for a DataFrame, else 0..rows-1."""
    return X.index if isinstance(X, pd.DataFrame) else pd.RangeIndex(rows)


def _checked_seed(random_state) -> int:
    """``random_state`` as the models' seed: a whole number, recorded in the model file
    (a ``RandomState`` or None would make a fit that cannot be repeated)."""
    return whole_number(random_state, "random_state", 0, MAX_SEED)


class _DeclarationInput:
    """Estimator tags: ``X`` is a table of declaration fields (text, numbers, dates,
    missing cells), not a numeric 2-D array, so the common checks that feed random
    numbers do not apply. Both tag styles are declared: ``__sklearn_tags__`` for
    scikit-learn 1.6 and later, ``_more_tags`` before."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = tags.input_tags.categorical = tags.input_tags.allow_nan = True
        return tags

    def _more_tags(self) -> dict:
        return {"X_types": ["string", "categorical"], "allow_nan": True}

    def _note_input(self, declarations: Declarations) -> None:
        """The fitted input's columns, as scikit-learn records them."""
        self.feature_names_in_ = np.asarray(declarations.raw.columns, dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)


def _outlier_labels(decision: np.ndarray) -> np.ndarray:
    """+1 for inliers, -1 for outliers (a negative decision), as scikit-learn's detectors."""
    return np.where(decision < 0, -1, 1)


class DeclarationAnomalyDetector(_DeclarationInput, OutlierMixin, BaseEstimator):
    """Unsupervised outlier detector of declarations: the anomaly model behind scikit-learn's API.

    Parameters
    ----------
    contamination : float
        Share of the history to call outliers, in (0, 0.5]: ``predict`` flags a
        declaration stranger than more than ``1 - contamination`` of the training
        declarations (an ``anomaly_score`` above ``1 - contamination``). On the
        fitting table (``fit_predict``) that is this share of its rows, ties aside; on
        a later file, this share if it is like the history. The default, 0.05, is
        where the risk score starts counting the anomaly.
    trees, max_samples, features, peer_min_rows
        Of :meth:`detector.anomaly.AnomalyModel.fit`.
    random_state : int
        The forest's seed, 0 to 2**32 - 1: the same table and seed give the same model.
    mapping : path, shipped mapping name or ColumnMapping, optional
        How the columns of ``X`` map onto canonical fields (see :func:`declarations_of`).

    Attributes
    ----------
    model_ : AnomalyModel
        The fitted model (``model_.save(path)`` writes it for ``detector score --model``).
    offset_ : float
        ``contamination - 1``: ``decision_function`` is ``score_samples - offset_``.
    n_features_in_, feature_names_in_
        The columns of the fitted ``X``.

    Notes
    -----
    Sign conventions are scikit-learn's (``IsolationForest``): lower ``score_samples``
    is more abnormal, a negative ``decision_function`` is an outlier. PyOD's
    ``decision_function`` has the opposite sign; ``-score_samples`` is the
    ``anomaly_score`` column that ``detector score`` writes.
    """

    def __init__(self, *, contamination=DEFAULT_CONTAMINATION, trees=100, max_samples="auto", features=None,
                 peer_min_rows=PEER_MIN_ROWS, random_state=0, mapping=None):
        self.contamination = contamination
        self.trees = trees
        self.max_samples = max_samples
        self.features = features
        self.peer_min_rows = peer_min_rows
        self.random_state = random_state
        self.mapping = mapping

    def fit(self, X, y=None):
        """Learn the history ``X``: peer medians, pairing counts and the isolation forest.

        Parameters
        ----------
        X : DataFrame, path or Declarations
            Past declarations.
        y : ignored
            Unsupervised; present for the API.

        Returns
        -------
        self
        """
        self._fit(declarations_of(X, self.mapping))
        return self

    def _fit(self, declarations: Declarations) -> None:
        contamination = self.contamination
        if not isinstance(contamination, Real) or isinstance(contamination, bool) or not 0 < contamination <= 0.5:
            raise DetectorError(f"contamination is the share of the history to flag, in (0, 0.5]; "
                                f"got {contamination!r}")
        self.model_ = AnomalyModel.fit(declarations, features=self.features, trees=self.trees,
                                       seed=_checked_seed(self.random_state), max_samples=self.max_samples,
                                       peer_min_rows=self.peer_min_rows)
        self.offset_ = float(contamination) - 1.0
        self._note_input(declarations)

    def score_samples(self, X) -> np.ndarray:
        """Minus the ``anomaly_score`` of each row: lower is more abnormal.

        Parameters
        ----------
        X : DataFrame, path or Declarations

        Returns
        -------
        ndarray of float, in [-1, 0], one per row of ``X``
            -0.99: the row is stranger than 99% of the training declarations. A row
            gets the same value whatever else is in ``X``; ``model_.score(X)`` gives
            the ``anomaly_score`` and its percentile within ``X``.
        """
        check_is_fitted(self)
        return self._score_samples(declarations_of(X, self.mapping))

    def _score_samples(self, declarations: Declarations, training: bool = False) -> np.ndarray:
        return -self.model_.score(declarations, training=training)["anomaly_score"].to_numpy()

    def decision_function(self, X) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for outliers, lower is more abnormal."""
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """+1 for an inlier, -1 for an outlier: a row stranger than more than
        ``1 - contamination`` of the training declarations.

        Returns
        -------
        ndarray of int, one per row of ``X``
        """
        return _outlier_labels(self.decision_function(X))

    def fit_predict(self, X, y=None) -> np.ndarray:
        """Fit on ``X`` and label its rows, each scored as fitted: its pairings and
        parties counted without itself (a party seen once in ``X`` is new), so a share
        ``contamination`` of the rows is -1. ``fit(X).predict(X)`` instead scores ``X``
        as a later file, where every row's own parties are already known."""
        declarations = declarations_of(X, self.mapping)
        self._fit(declarations)
        return _outlier_labels(self._score_samples(declarations, training=True) - self.offset_)

    def explain(self, X, top: int = 3) -> pd.Series:
        """The features that isolate each row, in words (see :meth:`AnomalyModel.explain`).

        Returns
        -------
        Series of str, indexed like ``X``
            e.g. ``"value per kg 0.08x the median for HS 850440; exporter never shipped
            HS 8504 before"``; ``""`` when nothing isolates the row more than usual.
        """
        check_is_fitted(self)
        declarations = declarations_of(X, self.mapping)
        reasons = self.model_.explain(declarations, top=top)
        return reasons.set_axis(_row_index(X, len(declarations)))


class DeclarationFraudClassifier(_DeclarationInput, ClassifierMixin, BaseEstimator):
    """Fraud classifier of declarations learned from inspection outcomes: the
    supervised model behind scikit-learn's API.

    Parameters
    ----------
    rules : RuleSet, optional
        The rule packs whose hits are inputs of the model (:func:`detector.load_rules`);
        the shipped packs when None. The same packs run at fit and at prediction.
    learning_rate, max_iter, max_leaf_nodes
        Of :meth:`detector.supervised.SupervisedModel.fit`.
    random_state : int
        Seed of the out-of-fold encoding and of the trees, 0 to 2**32 - 1.
    mapping : path, shipped mapping name or ColumnMapping, optional
        How the columns of ``X`` map onto canonical fields (see :func:`declarations_of`).

    Attributes
    ----------
    model_ : SupervisedModel
        The fitted model (``model_.save(path)`` writes it for ``detector score --supervised``).
    rule_set_ : RuleSet
        The rule packs the model learned from.
    classes_ : ndarray
        ``[0, 1]``: clean, fraud.
    n_features_in_, feature_names_in_
        The columns of the fitted ``X``.
    """

    def __init__(self, *, rules=None, learning_rate=0.1, max_iter=500, max_leaf_nodes=127, random_state=0,
                 mapping=None):
        self.rules = rules
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.random_state = random_state
        self.mapping = mapping

    def fit(self, X, y):
        """Learn fraud from the inspected rows of ``X``.

        Parameters
        ----------
        X : DataFrame, path or Declarations
            A history; every row feeds the peer and pairing statistics.
        y : array-like
            Per row: 1 fraud, 0 clean, NaN or empty for not inspected (those rows
            train no tree but still count in the statistics).

        Returns
        -------
        self
        """
        if y is None:
            raise DetectorError("the fraud classifier learns from inspection outcomes: pass y, one per row of X "
                                "(1 fraud, 0 clean, empty or NaN not inspected)")
        rules = self.rules if self.rules is not None else load_rules()
        if not isinstance(rules, RuleSet):
            raise DetectorError(f"rules must be a RuleSet from detector.load_rules(...) or None for the shipped "
                                f"packs; got {type(rules).__name__}")
        declarations = declarations_of(X, self.mapping, rules.reference_dirs)
        self.model_ = SupervisedModel.fit(declarations, y, _rule_hits(rules, declarations),
                                          seed=_checked_seed(self.random_state), learning_rate=self.learning_rate,
                                          max_iter=self.max_iter, max_leaf_nodes=self.max_leaf_nodes)
        self.rule_set_ = rules
        self.classes_ = np.array([0, 1])
        self._note_input(declarations)
        return self

    def _fraud_probability(self, X) -> np.ndarray:
        check_is_fitted(self)
        declarations = declarations_of(X, self.mapping, self.rule_set_.reference_dirs)
        return self.model_.predict(declarations, _rule_hits(self.rule_set_, declarations))

    def predict_proba(self, X) -> np.ndarray:
        """The probabilities of ``classes_`` per row.

        Returns
        -------
        ndarray of shape (rows of X, 2)
            Clean, then fraud; each row sums to 1.
        """
        fraud = self._fraud_probability(X)
        return np.column_stack([1.0 - fraud, fraud])

    def decision_function(self, X) -> np.ndarray:
        """Log-odds of fraud per row: positive when fraud is the more likely class."""
        fraud = self._fraud_probability(X)
        with np.errstate(divide="ignore"):  # a certain fraud is +inf, a certain clean row -inf
            return np.log(fraud) - np.log1p(-fraud)

    def predict(self, X) -> np.ndarray:
        """1 where fraud is the more likely class (probability 0.5 or more), else 0.

        Frauds are rare, so few rows pass 0.5; to fill an inspection budget rank the
        rows by ``predict_proba(X)[:, 1]`` instead.
        """
        fraud = self._fraud_probability(X)
        return self.classes_[(fraud >= 0.5).astype(np.int64)]

    def explain(self, X, top: int = 3) -> pd.Series:
        """The strongest contributions to each row's fraud probability, in words
        (see :meth:`SupervisedModel.explain`), indexed like ``X``."""
        check_is_fitted(self)
        declarations = declarations_of(X, self.mapping, self.rule_set_.reference_dirs)
        reasons = self.model_.explain(declarations, _rule_hits(self.rule_set_, declarations), top=top)
        return reasons.set_axis(_row_index(X, len(declarations)))


def _rule_hits(rules: RuleSet, declarations: Declarations) -> pd.DataFrame:
    """The hits the supervised model reads, computed as :func:`detector.score` computes them."""
    return evaluate_rules(rules, declarations.table, opaque=declarations.opaque_fields,
                          unreadable=declarations.unreadable).hits
