"""Metrics checked against values computed by hand on small tables."""

import math
import re

import numpy as np
import pandas as pd
import pytest

from detector.errors import DetectorError
from detector.evaluation import evaluate, evaluate_scores, expected_found, needs_scoring, parse_budgets, score_columns


def table(scores, labels, **extra):
    return pd.DataFrame({"risk_score": scores, "label": labels, **extra})


def test_precision_recall_at_budgets_without_ties():
    # 10 rows; frauds at ranks 1, 3 and 6.
    scores = [0.99, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    labels = [1, 0, 1, 0, 0, 1, 0, 0, 0, 0]
    result = evaluate(table(scores, labels), budgets=(10, 20, 30, 60))
    assert result.budgets["inspected"].tolist() == [1, 2, 3, 6]
    assert result.budgets["frauds_found"].tolist() == [1, 1, 2, 3]
    assert result.budgets["precision"].tolist() == [1.0, 0.5, pytest.approx(2 / 3), 0.5]
    assert result.budgets["recall"].tolist() == [pytest.approx(1 / 3), pytest.approx(1 / 3),
                                                 pytest.approx(2 / 3), 1.0]


def test_ties_at_the_budget_count_the_expected_frauds_of_a_random_pick():
    # Top row alone, then four rows tied at 0.5 holding one fraud; a 40% budget of 5 rows
    # takes 2 rows: the top fraud, plus one of four tied rows (1/4 of a fraud expected).
    scores = [0.9, 0.5, 0.5, 0.5, 0.5]
    labels = [1, 0, 1, 0, 0]
    result = evaluate(table(scores, labels), budgets=(40,))
    assert result.budgets["frauds_found"].iloc[0] == pytest.approx(1.25)
    assert result.budgets["precision"].iloc[0] == pytest.approx(0.625)


def test_ties_make_the_result_independent_of_row_order():
    scores = [0.5] * 6 + [0.1] * 4
    labels = [1, 1, 0, 0, 0, 0, 0, 0, 0, 1]
    forward = evaluate(table(scores, labels), budgets=(30,)).budgets["frauds_found"].iloc[0]
    backward = evaluate(table(scores[::-1], labels[::-1]), budgets=(30,)).budgets["frauds_found"].iloc[0]
    assert forward == backward == pytest.approx(1.0)  # 3 of 6 tied rows, 2 frauds among them


def test_budget_smaller_than_one_row_inspects_nothing():
    result = evaluate(table([0.9, 0.1, 0.2], [1, 0, 0]), budgets=(1, 34))
    assert result.budgets["inspected"].tolist() == [0, 1]
    assert math.isnan(result.budgets["precision"].iloc[0])
    assert result.budgets["recall"].iloc[0] == 0.0
    assert result.budgets["precision"].iloc[1] == 1.0


def test_revenue_share_counts_the_money_of_frauds_found():
    frame = table([0.9, 0.8, 0.1, 0.05], [1, 0, 1, 0], revenue=[300, 999, 100, 50])
    result = evaluate(frame, budgets=(25, 100))
    assert result.budgets["revenue_share"].tolist() == [0.75, 1.0]


def test_average_precision_and_roc_auc_match_hand_values():
    result = evaluate(table([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0]), budgets=(50,))
    assert result.average_precision == pytest.approx((1 + 2 / 3) / 2)
    assert result.roc_auc == pytest.approx(0.75)


def test_single_class_labels_give_nan_curves():
    result = evaluate(table([0.9, 0.1], [0, 0]), budgets=(50,))
    assert math.isnan(result.average_precision) and math.isnan(result.roc_auc)
    assert math.isnan(result.budgets["recall"].iloc[0])


def test_recall_per_pattern_and_lanes():
    frame = table([0.9, 0.8, 0.1, 0.0], [1, 1, 1, 0], pattern=["a", "b", "b", ""],
                  lane=["red", "yellow", "green", "green"])
    result = evaluate(frame, budgets=(25, 50))
    patterns = result.patterns.set_index("pattern")
    assert patterns.loc["a", "frauds"] == 1 and patterns.loc["b", "frauds"] == 2
    assert patterns.loc["a", "recall_at_25pct"] == 1.0 and patterns.loc["b", "recall_at_25pct"] == 0.0
    assert patterns.loc["b", "recall_at_50pct"] == 0.5
    assert patterns.loc["b", "recall_flagged_lanes"] == 0.5
    assert result.lanes.loc["green"].tolist() == [1, 1]
    assert result.lanes.loc["red"].tolist() == [0, 1]


def test_expected_found_takes_all_when_budget_covers_everything():
    assert expected_found(np.array([0.1, 0.2]), np.array([1, 1]), 5) == 2.0


def test_outcome_words_measure_as_numbers():
    """Labels read as training reads them: a verdict column of fraud/clean words
    measures the same as one of 1/0 (it was refused here while training took it)."""
    words = evaluate(pd.DataFrame({"risk_score": [0.9, 0.1, 0.5], "label": ["Fraud", "clean", "TRUE"]}))
    numbers = evaluate(pd.DataFrame({"risk_score": [0.9, 0.1, 0.5], "label": [1, 0, 1]}))
    assert words.frauds == numbers.frauds == 2 and words.roc_auc == numbers.roc_auc


def test_bad_labels_and_budgets_are_clear_errors():
    with pytest.raises(DetectorError, match="no label column 'illicit'"):
        evaluate(table([0.1], [1]), label_column="illicit")
    with pytest.raises(DetectorError, match=r"column 'label': 1 labels are not inspection outcomes \(row 2: 'maybe'\)"):
        evaluate(pd.DataFrame({"risk_score": [0.1, 0.2], "label": ["0", "maybe"]}))
    with pytest.raises(DetectorError, match=r"row 2, column 'label': no label; measuring needs"):
        evaluate(pd.DataFrame({"risk_score": [0.1, 0.2], "label": ["0", ""]}))
    with pytest.raises(DetectorError, match="percentage in"):
        parse_budgets("0,150")
    assert parse_budgets("2%") == (2.0,)


def test_json_form_has_no_nan():
    result = evaluate(table([0.9, 0.1], [0, 0]), budgets=(1,))
    data = result.as_dict()
    assert data["roc_auc"] is None and data["budgets"][0]["precision"] is None


@pytest.mark.parametrize("cell", [math.inf, -math.inf, math.nan, "inf", "high", ""],
                         ids=["inf", "minus-inf", "nan", "inf-text", "text", "empty"])
def test_a_score_that_is_not_a_finite_number_is_one_clear_error(cell):
    """Before: inf crashed roc_auc_score with 'Input contains infinity', and NaN, text
    or an empty cell silently ranked the row last."""
    frame = table([0.9, 0.1, cell, 0.5], [1, 0, 1, 0])
    with pytest.raises(DetectorError, match=rf"scored.csv: row 3, column 'risk_score': value {re.escape(repr(cell))} "
                                            r"is not a finite number \(1 such cells\)"):
        evaluate(frame, budgets=(50,), source="scored.csv")


def test_revenue_must_be_a_finite_number_or_empty():
    """Before: an infinite revenue made every revenue share NaN, and text counted as 0."""
    with pytest.raises(DetectorError, match=r"row 1, column 'revenue': value inf is not a finite number or empty"):
        evaluate(table([0.9, 0.1], [1, 0], revenue=[math.inf, 5.0]), budgets=(50,))
    result = evaluate(table([0.9, 0.1, 0.5], [1, 0, 1], revenue=["100", "", "300"]), budgets=(50,))
    assert result.budgets["revenue_share"].tolist() == [0.25]


def test_score_columns_are_those_asked_for_else_the_compared_ones_present():
    scored = table([0.9, 0.1], [1, 0], rule_score=[0.5, 0.5], other=[0.1, 0.2])
    assert score_columns(scored) == ["rule_score", "risk_score"]
    assert score_columns(scored, ["other"]) == ["other"]


def test_a_file_without_the_score_columns_needs_scoring_and_a_scored_one_does_not():
    """Guards `detector evaluate`: an unscored labelled file is scored first, a scored one
    is measured as it is, and one asked for a column it lacks is scored too."""
    unscored = pd.DataFrame({"hs_code": ["2805", "2846"], "label": [1, 0]})
    scored = table([0.9, 0.1], [1, 0])
    assert needs_scoring(unscored) and needs_scoring(scored, ["risk_score", "anomaly_score"])
    assert not needs_scoring(scored) and not needs_scoring(scored, ["risk_score"])


def test_evaluate_scores_measures_each_score_column_in_order():
    scored = table([0.1, 0.9, 0.2, 0.8], [1, 0, 1, 0], rule_score=[0.9, 0.1, 0.8, 0.2])
    results = evaluate_scores(scored, budgets=(50,))
    assert [r.score_column for r in results] == ["rule_score", "risk_score"]
    assert [r.budgets["precision"].tolist() for r in results] == [[1.0], [0.0]]


def _labelled_six() -> pd.DataFrame:
    return pd.DataFrame({
        "risk_score": [0.9, 0.8, 0.8, 0.3, 0.2, 0.1], "rule_score": [0.5, 0.9, 0.1, 0.1, 0.7, 0.0],
        "label": [1, 0, 1, 0, 1, 0], "pattern": ["origin", "", "bottle", "", "origin", ""],
        "revenue": [100, 0, 50, 0, "", 0], "lane": ["red", "yellow", "red", "green", "green", "green"]})


def test_evaluation_parts_are_headings_and_tables_and_their_text_is_the_report():
    """Before: the report existed only as one finished string, so the command line
    could not draw its tables to the terminal's width; the parts give the headings as
    text and the tables as DataFrames, and the text stays what it was."""
    from detector.evaluation import comparison_parts, evaluation_parts, format_comparison, format_evaluation

    evaluations = evaluate_scores(_labelled_six(), budgets=(10, 50))
    parts = evaluation_parts(evaluations[1])
    tables = [part for part in parts if isinstance(part, pd.DataFrame)]
    assert all(isinstance(part, (str, pd.DataFrame)) for part in parts) and len(tables) == 3
    assert tables[1]["pattern"].tolist() == ["bottle", "origin"]
    assert tables[2].index.tolist() == ["red", "yellow", "green"]  # lanes x label keeps its lanes
    assert [p for p in comparison_parts(evaluations) if isinstance(p, pd.DataFrame)][0].shape == (2, 6)
    assert format_evaluation(evaluations[1]) == (
        "risk_score: 6 rows, 3 frauds, average precision 0.756, ROC AUC 0.722\n\n"
        " budget_pct  inspected  frauds_found precision recall revenue_share\n"
        "         10          0           0.0       n/a  0.000         0.000\n"
        "         50          3           2.0     0.667  0.667         1.000\n\n"
        "recall per pattern:\n"
        "pattern  frauds  recall_at_10pct  recall_at_50pct  recall_flagged_lanes\n"
        " bottle       1            0.000            1.000                 1.000\n"
        " origin       2            0.000            0.500                 0.500\n\n"
        "lanes x label:\n"
        "label   label_0  label_1\n"
        "lane                    \n"
        "red           0        2\n"
        "yellow        1        0\n"
        "green         2        1")
    assert format_comparison(evaluations) == (
        "precision and recall at each budget:\n"
        " budget_pct  inspected  rule_score_precision  rule_score_recall  risk_score_precision  risk_score_recall\n"
        "         10          0                   NaN              0.000                   NaN              0.000\n"
        "         50          3                 0.667              0.667                 0.667              0.667\n\n"
        "rule_score: average precision 0.589, ROC AUC 0.611\n"
        "risk_score: average precision 0.756, ROC AUC 0.722")


def test_evaluate_declarations_scores_a_labelled_file_first_as_the_cli_does(write_csv):
    """Before: scoring a raw labelled file before measuring it lived in the CLI, out of
    a notebook's reach. ``detector.evaluate_declarations`` does it and gives the same
    figures as scoring and evaluating by hand."""
    import detector

    path = write_csv("declaration_id,hs_code,origin_country,export_country,license_number,label\n"
                     "A,2805301200,VN,CN,,1\nB,2805301200,CN,CN,L-1,0\nC,6907210000,CN,CN,,0\nD,2846901920,JP,CN,,1\n")
    declarations = detector.load_declarations(path)
    stages = []
    results = detector.evaluate_declarations(declarations, budgets=(50,), model=None,
                                             on_stage=lambda stage, rows: stages.append(stage))
    by_hand = detector.evaluate_scores(detector.score(declarations, model=None).output, budgets=(50,))
    assert [r.budgets.to_dict() for r in results] == [r.budgets.to_dict() for r in by_hand]
    assert [r.score_column for r in results] == ["rule_score", "risk_score"]
    assert stages[-1] == "evaluating" and "rules" in stages
    scored = detector.score(declarations, model=None).output
    again = detector.evaluate_declarations(detector.load_declarations(scored), budgets=(50,))
    assert [r.budgets.to_dict() for r in again] == [r.budgets.to_dict() for r in by_hand]


def test_a_scored_file_is_measured_without_reading_the_model_files(tmp_path):
    """The decision to score first is made once, in evaluate_declarations: model
    files given as paths are read only when the file is scored (a missing one is
    then an error; with a scored file it is never opened)."""
    from pathlib import Path

    import detector

    scored = pd.DataFrame({"declaration_id": ["1", "2"], "hs_code": ["2846901000", "8471300000"],
                           "risk_score": ["0.9", "0.1"], "label": ["1", "0"]})
    missing = Path(tmp_path / "no-such-model.zip")
    [result] = detector.evaluate_declarations(scored, model=missing, supervised=missing, budgets=(50,))
    assert result.budgets["precision"].tolist() == [1.0]
    with pytest.raises(detector.DetectorError, match="no-such-model.zip"):
        detector.evaluate_declarations(scored.drop(columns="risk_score"), model=missing, budgets=(50,))
