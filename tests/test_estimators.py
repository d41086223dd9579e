"""The scikit-learn estimators over the anomaly and supervised models.

Which of scikit-learn's common checks (``sklearn.utils.estimator_checks``) apply:

- ``check_estimator`` itself does not: the estimators take a table of declaration
  fields, not a numeric array, and say so in their tags (``two_d_array`` off, or no
  ``"2darray"`` in ``X_types`` before 1.6), on which ``check_estimator`` runs nothing
  and only warns.
- The checks that need no data run as they are (:data:`API_CHECKS`):
  get_params/set_params, default construction, no attribute set in ``__init__``,
  ``NotFittedError`` before fit, cloning, repr, tags, mixin order and no error in
  ``__init__`` or ``set_params`` (the last six exist from scikit-learn 1.6; older
  versions run the first five).
- The checks that fit on random numbers (``check_dont_overwrite_parameters``,
  ``check_estimators_overwrite_params``, ``check_fit_idempotent``,
  ``check_methods_subset_invariance``, ``check_methods_sample_order_invariance``,
  ``check_outliers_fit_predict``, ``check_classifiers_train``, ...) cannot feed these
  estimators; their contracts are tested here on declarations instead: fit adds
  only trailing-underscore attributes and changes no parameter, a refit gives the
  same scores, a row's score does not depend on the other rows or their order, and
  the outlier share follows ``contamination``. Those on sparse, 1-D, complex or
  one-feature arrays and on ``n_features_in_`` mismatches have no declaration
  counterpart: a file with other columns is read by its field names, and a field it
  lacks is imputed as when scoring.

Deliberate difference: ``fit_predict`` scores the fitting rows as they were fitted
(each row left out of its own pairing counts, like :meth:`AnomalyModel.fit_score`),
so it can differ from ``fit(X).predict(X)``, as PyOD's ``labels_`` differ from
``predict`` on the training rows.
"""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils import estimator_checks
from sklearn.utils.validation import check_is_fitted

import detector
from detector.errors import DetectorError, MappingError
from detector.estimators import DeclarationAnomalyDetector, DeclarationFraudClassifier
from detector.rules import RuleSet
from tests.conftest import REPO

FIT_ROWS = 3000
# Small models: the contracts tested do not depend on the size of the forest.
TREES = 50
BOOSTING = {"max_iter": 30, "max_leaf_nodes": 7}


@pytest.fixture(scope="module")
def quarter() -> pd.DataFrame:
    """The first 6,000 rows of the shipped sample as read from the CSV, with its answers
    (``label``, ``pattern``); ``history`` and ``later`` leave them out."""
    return pd.read_csv(REPO / "sample_data" / "declarations.csv", dtype=str, keep_default_na=False, nrows=6000)


@pytest.fixture(scope="module")
def history(quarter) -> pd.DataFrame:
    return quarter.iloc[:FIT_ROWS].drop(columns=["label", "pattern"])


@pytest.fixture(scope="module")
def later(quarter) -> pd.DataFrame:
    return quarter.iloc[FIT_ROWS:].drop(columns=["label", "pattern"])


@pytest.fixture(scope="module")
def fitted(history) -> DeclarationAnomalyDetector:
    return DeclarationAnomalyDetector(trees=TREES).fit(history)


@pytest.fixture(scope="module")
def classifier(quarter, history) -> DeclarationFraudClassifier:
    return DeclarationFraudClassifier(**BOOSTING).fit(history, quarter["label"].iloc[:FIT_ROWS])


ESTIMATORS = [DeclarationAnomalyDetector(trees=TREES), DeclarationFraudClassifier(**BOOSTING)]
# The common checks that need no numeric data; the last six exist from scikit-learn 1.6.
API_CHECKS = [name for name in (
    "check_get_params_invariance", "check_set_params", "check_parameters_default_constructible",
    "check_no_attributes_set_in_init", "check_estimators_unfitted", "check_estimator_cloneable",
    "check_estimator_repr", "check_estimator_tags_renamed", "check_valid_tag_types", "check_mixin_order",
    "check_do_not_raise_errors_in_init_or_set_params") if hasattr(estimator_checks, name)]


@pytest.mark.parametrize("check", API_CHECKS)
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_scikit_learn_checks_that_need_no_numeric_data(estimator, check):
    """Before: no scikit-learn estimator existed; these checks are what GridSearchCV,
    clone and Pipeline rely on (parameters stored as given, NotFittedError, tags)."""
    getattr(estimator_checks, check)(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_check_estimator_runs_nothing_on_a_declarations_estimator(estimator):
    """The tags say X is a table of declaration fields, so check_estimator feeds no
    random numbers to it (they have no field names) and says so."""
    with pytest.warns(estimator_checks.SkipTestWarning, match="Can't test estimator"):
        estimator_checks.check_estimator(estimator)


def test_clone_gives_equal_params_and_an_unfitted_copy(fitted):
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    with pytest.raises(NotFittedError):
        check_is_fitted(copy)
    check_is_fitted(fitted)  # the original keeps its model


def test_set_params_round_trips_and_reaches_inside_a_pipeline():
    finder = DeclarationAnomalyDetector()
    assert finder.set_params(trees=7, contamination=0.1, features="all") is finder
    assert {k: finder.get_params()[k] for k in ("trees", "contamination", "features")} == {
        "trees": 7, "contamination": 0.1, "features": "all"}
    pipeline = make_pipeline(FunctionTransformer(detector.load_declarations), DeclarationFraudClassifier())
    pipeline.set_params(declarationfraudclassifier__max_iter=20)
    assert pipeline.named_steps["declarationfraudclassifier"].max_iter == 20


def test_a_pipeline_reads_a_partner_layout_and_scores_as_canonical_columns(quarter):
    """A FunctionTransformer that reads the partner layout with its mapping, then the
    detector: the same scores as the detector fitted on the canonical file (the
    partner file is its first 2,000 rows in another system's layout)."""
    partner = pd.read_csv(REPO / "sample_data" / "partner_layout.csv", dtype=str, keep_default_na=False)
    reading = FunctionTransformer(detector.load_declarations,
                                  kw_args={"mapping": str(REPO / "sample_data" / "partner_layout.yaml")})
    pipeline = make_pipeline(reading, DeclarationAnomalyDetector(trees=TREES)).fit(partner)
    canonical = DeclarationAnomalyDetector(trees=TREES).fit(quarter.iloc[:len(partner)])
    assert np.array_equal(pipeline.score_samples(partner), canonical.score_samples(quarter.iloc[:len(partner)]))
    labels = pipeline.predict(partner)
    assert set(np.unique(labels)) == {-1, 1} and len(labels) == len(partner)


def test_the_mapping_parameter_reads_a_partner_layout_without_a_pipeline(quarter):
    partner = pd.read_csv(REPO / "sample_data" / "partner_layout.csv", dtype=str, keep_default_na=False)
    mapped = DeclarationAnomalyDetector(trees=TREES, mapping=str(REPO / "sample_data" / "partner_layout.yaml"))
    canonical = DeclarationAnomalyDetector(trees=TREES).fit(quarter.iloc[:len(partner)])
    assert np.array_equal(mapped.fit(partner).score_samples(partner),
                          canonical.score_samples(quarter.iloc[:len(partner)]))
    with pytest.raises(MappingError, match="Entry Number"):  # the mapping names columns the canonical file lacks
        mapped.score_samples(quarter.iloc[:10])


@pytest.mark.parametrize("contamination", [0.02, 0.1])
def test_the_share_of_outliers_is_the_contamination(history, later, contamination):
    """On the fitting rows exactly that share is -1 (ties aside); on the later rows of
    the same quarter, close to it."""
    finder = DeclarationAnomalyDetector(trees=TREES, contamination=contamination)
    on_history = finder.fit_predict(history)
    assert abs((on_history == -1).mean() - contamination) <= 2 / len(history)
    assert abs((finder.predict(later) == -1).mean() - contamination) < contamination / 3


def test_predict_is_the_sign_of_decision_function_shifted_by_offset(fitted, later):
    scores = fitted.score_samples(later)
    assert fitted.offset_ == pytest.approx(0.05 - 1)
    assert np.array_equal(fitted.decision_function(later), scores - fitted.offset_)
    assert np.array_equal(fitted.predict(later) == -1, scores < fitted.offset_)
    assert ((scores >= -1) & (scores <= 0)).all()


def test_a_planted_extreme_row_scores_lower_than_typical_rows(fitted, quarter, later):
    """scikit-learn's sign: lower is more abnormal. A clean declaration re-declared at
    1,000 times its value, net weight five times gross, by new parties as 'goods'."""
    typical = later.iloc[:500]
    clean = typical[quarter["label"].iloc[FIT_ROWS:FIT_ROWS + 500] == "0"].iloc[[0]]
    planted = clean.assign(declared_value=str(float(clean["declared_value"].iloc[0]) * 1000),
                           net_weight_kg=str(float(clean["gross_weight_kg"].iloc[0]) * 5),
                           exporter="Never Seen Trading Co", consignee="Nobody Imports Ltd", description="goods")
    scores = fitted.score_samples(pd.concat([typical, planted], ignore_index=True))
    assert scores[-1] < np.quantile(scores[:-1], 0.01)
    assert scores[-1] < fitted.score_samples(clean)[0]
    assert fitted.predict(planted)[0] == -1
    assert "generic description 'goods'" in fitted.explain(planted).iloc[0]


def test_a_rows_score_does_not_depend_on_the_order_of_the_rows(fitted, later):
    """The contract of check_methods_sample_order_invariance, on declarations."""
    everything = fitted.score_samples(later)
    shuffled = np.random.default_rng(0).permutation(len(later))
    assert np.array_equal(fitted.score_samples(later.iloc[shuffled]), everything[shuffled])


def test_a_rows_score_depends_on_the_batch_only_through_its_parties(history, later):
    """check_methods_subset_invariance holds for every feature but new_exporter and
    new_consignee: a party new to the history is new only if the rest of the batch
    does not have it either (a regular of this file is not a first declaration)."""
    features = [name for name in DeclarationAnomalyDetector(trees=TREES).fit(history).model_.features
                if name not in ("new_exporter", "new_consignee")]
    fitted = DeclarationAnomalyDetector(trees=TREES, random_state=0, features=features).fit(history)
    part = later.iloc[100:140]
    assert np.array_equal(fitted.score_samples(part), fitted.score_samples(later)[100:140])


def test_the_same_random_state_gives_the_same_detector(fitted, history, later):
    again = DeclarationAnomalyDetector(trees=TREES, random_state=0).fit(history)
    other = DeclarationAnomalyDetector(trees=TREES, random_state=1).fit(history)
    assert np.array_equal(again.score_samples(later), fitted.score_samples(later))
    assert not np.array_equal(other.score_samples(later), fitted.score_samples(later))


def fit_contract_problems(estimator, fit) -> list[str]:
    """What ``fit()`` did to ``estimator`` against the contracts of
    check_dont_overwrite_parameters and check_estimators_overwrite_params: a public
    attribute added without a trailing underscore, an attribute or parameter changed."""
    before, params = dict(vars(estimator)), joblib.hash(estimator.get_params())
    fit()
    added = set(vars(estimator)) - set(before)
    return ([f"added {name}" for name in sorted(added) if not name.endswith("_")]
            + [f"changed {name}" for name, value in before.items() if vars(estimator)[name] is not value]
            + (["a parameter changed"] if joblib.hash(estimator.get_params()) != params else [])
            + ([] if added else ["nothing fitted"]))


def test_fit_adds_only_trailing_underscore_attributes_and_changes_no_parameter(history):
    finder = DeclarationAnomalyDetector(trees=TREES, features=["net_gross_ratio", "new_exporter"])
    assert fit_contract_problems(finder, lambda: finder.fit(history)) == []
    assert finder.features == ["net_gross_ratio", "new_exporter"]
    assert finder.n_features_in_ == history.shape[1]
    assert list(finder.feature_names_in_) == list(history.columns)


@pytest.mark.parametrize("method", ["score_samples", "decision_function", "predict", "explain"])
def test_the_detector_says_it_is_not_fitted(later, method):
    with pytest.raises(NotFittedError):
        getattr(DeclarationAnomalyDetector(), method)(later)


@pytest.mark.parametrize("method", ["predict_proba", "decision_function", "predict", "explain"])
def test_the_classifier_says_it_is_not_fitted(later, method):
    with pytest.raises(NotFittedError):
        getattr(DeclarationFraudClassifier(), method)(later)


@pytest.mark.parametrize(("params", "message"), [
    ({"contamination": 0.7}, r"contamination is the share of the history to flag, in \(0, 0.5\]; got 0.7"),
    ({"random_state": None}, "random_state must be a whole number from 0 to 4,294,967,295, got None"),
    ({"trees": 0}, "trees must be a whole number"),
])
def test_parameters_are_checked_at_fit_with_their_name(history, params, message):
    finder = DeclarationAnomalyDetector(**params)  # stored as given: scikit-learn's rule
    with pytest.raises(DetectorError, match=message):
        finder.fit(history.iloc[:100])


def test_a_bare_array_is_refused_with_what_x_should_be():
    with pytest.raises(DetectorError, match=r"X must be a DataFrame of declarations .* got ndarray of shape \(5, 3\)"):
        DeclarationAnomalyDetector().fit(np.zeros((5, 3)))


def test_explain_gives_the_anomaly_reasons_indexed_like_x(fitted, later):
    part = later.iloc[10:15]
    reasons = fitted.explain(part)
    assert reasons.index.equals(part.index)
    assert reasons.equals(fitted.model_.explain(detector.load_declarations(part)).set_axis(part.index))
    assert reasons.str.len().gt(0).all()


def test_the_classifier_ranks_frauds_with_probabilities_of_its_classes(classifier, quarter, later):
    from sklearn.metrics import roc_auc_score

    probability = classifier.predict_proba(later)
    assert list(classifier.classes_) == [0, 1]
    assert probability.shape == (len(later), 2) and np.allclose(probability.sum(axis=1), 1)
    frauds = quarter["label"].iloc[FIT_ROWS:].astype(int)
    # The planted schemes are found on rows the model never saw.
    assert roc_auc_score(frauds, probability[:, 1]) > 0.85
    some = later.iloc[:500]
    assert np.array_equal(classifier.predict(some), classifier.classes_[probability[:500].argmax(axis=1)])
    assert np.array_equal(classifier.decision_function(some) > 0, probability[:500, 1] > 0.5)


def test_the_classifier_computes_the_rule_hits_itself(quarter, history, classifier):
    """X holds only declarations; the model learns from the hits of the shipped packs,
    or of the rules it is given."""
    shipped = detector.load_rules()
    assert set(classifier.model_.rules) <= {rule.id for rule in shipped}
    assert any(rule_id.startswith("RE-") for rule_id in classifier.model_.rules)
    few = RuleSet(rules=shipped.rules[:3], sources=shipped.sources)
    narrow = DeclarationFraudClassifier(rules=few, max_iter=5).fit(history.iloc[:1000], quarter["label"].iloc[:1000])
    assert narrow.model_.rules == [rule.id for rule in shipped.rules[:3]]
    assert narrow.rule_set_ is few
    assert narrow.explain(history.iloc[:2]).index.equals(history.index[:2])


def test_a_cloned_classifier_in_a_pipeline_fits_as_the_original(classifier, quarter, history, later):
    """Fitted as a Pipeline step, a clone keeps the fit contract and predicts what the
    classifier it was cloned from predicts (same data, same random_state)."""
    pipeline = make_pipeline(FunctionTransformer(detector.load_declarations), clone(classifier))
    step = pipeline.steps[-1][1]
    assert fit_contract_problems(step, lambda: pipeline.fit(history, quarter["label"].iloc[:FIT_ROWS])) == []
    assert step.n_features_in_ == history.shape[1]
    assert np.array_equal(pipeline.predict_proba(later.iloc[:300]), classifier.predict_proba(later.iloc[:300]))


@pytest.mark.parametrize(("labels", "message"), [
    (None, "pass y, one per row of X"),
    (["suspected"] * 200, r"200 labels are not inspection outcomes .*expected 1 or fraud, 0 or clean"),
])
def test_the_classifier_refuses_labels_it_cannot_read(history, labels, message):
    with pytest.raises(DetectorError, match=message):
        DeclarationFraudClassifier(**BOOSTING).fit(history.iloc[:200], labels)
