from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from detector.errors import DetectorError
from detector.risk import (
    RiskPolicy,
    anomaly_explained,
    anomaly_reasons,
    anomaly_shift,
    assign_lanes,
    budget_rows,
    reasons_column,
    risk_scores,
    rule_evidence,
)
from detector.rules.engine import RuleResults
from detector.rules.parse import parse_rules


def rules(*severities):
    items = [{"id": f"T-R-{i}", "title": "t", "description": "d", "pattern": "p", "severity": s,
              "when": {"present": "hs_code"}, "reason": "r",
              "examples": {"hit": [{"hs_code": "1234"}], "miss": [{"hs_code": "1234"}]}}
             for i, s in enumerate(severities)]
    return {r.id: r for r in parse_rules(items, Path("t.yaml"))}


def results(by_id, hits):
    hit_frame = pd.DataFrame({rule_id: column for rule_id, column in zip(by_id, hits)}, dtype=bool)
    reasons = {rule_id: pd.Series(f"why {rule_id}", index=hit_frame.index[hit_frame[rule_id]], dtype="str")
               for rule_id in by_id}
    return RuleResults(hit_frame, reasons, {}, by_id)


def combine(results, n_rows, policy=RiskPolicy(), budget=None, anomaly=None, explore=0.0, seed=0):
    """The risk stages in the order ``detector.score`` runs them, without model words."""
    evidence = rule_evidence(results, n_rows, policy)
    scores = risk_scores(evidence, policy, anomaly)
    risk = scores.risk
    lanes = assign_lanes(risk, evidence.critical, policy, budget, explore, seed, scores.anomaly_alone)
    return pd.DataFrame({"risk_score": risk, "lane": lanes.lane(), "selection": lanes.selection(),
                         "rule_hits": evidence.rule_hits(), "reasons": reasons_column(evidence, lanes),
                         "rule_score": evidence.rule_score(policy)})


def test_noisy_or_of_severity_weights():
    by_id = rules("medium", "medium", "low")
    out = combine(results(by_id, [[1, 1, 0, 0], [1, 0, 0, 0], [1, 0, 1, 0]]), 4)
    assert out["risk_score"].tolist() == [pytest.approx(1 - 0.65 * 0.65 * 0.85, abs=1e-4), 0.35, 0.15, 0.0]
    assert out["lane"].tolist() == ["red", "yellow", "green", "green"]  # 0.64 >= red


def test_critical_rule_is_always_red():
    by_id = rules("critical")
    policy = RiskPolicy(red=0.95, yellow=0.5)
    assert combine(results(by_id, [[1, 0]]), 2, policy)["lane"].tolist() == ["red", "green"]


def test_hits_and_reasons_list_most_severe_first():
    by_id = rules("low", "high")
    out = combine(results(by_id, [[1], [1]]), 1)
    assert out["rule_hits"].iloc[0] == "T-R-1;T-R-0"
    assert out["reasons"].iloc[0] == "[T-R-1] why T-R-1 | [T-R-0] why T-R-0"
    assert out["lane"].iloc[0] == "yellow"  # a low rule does not corroborate the high one


def test_thresholds_must_be_ordered():
    with pytest.raises(DetectorError, match="0 < yellow <= red <= 1"):
        RiskPolicy(red=0.2, yellow=0.5)


def test_budget_selects_exactly_the_top_rows_critical_first_ties_in_file_order():
    from detector.risk import budget_red

    risk = np.array([0.35, 0.6, 0.35, 0.0, 0.9, 0.35, 0.0, 0.0, 0.0, 0.0])
    critical = np.array([False] * 9 + [True])
    # 30% of 10 rows = 3: the critical row, then 0.9, then 0.6.
    assert np.flatnonzero(budget_red(risk, critical, 30)[0]).tolist() == [1, 4, 9]
    # 50% = 5: then the first two of the three rows tied at 0.35, in file order.
    assert np.flatnonzero(budget_red(risk, critical, 50)[0]).tolist() == [0, 1, 2, 4, 9]
    # A budget below one row still inspects every critical row.
    assert np.flatnonzero(budget_red(risk, critical, 5)[0]).tolist() == [9]
    assert budget_red(risk, ~critical, 10)[0].sum() == 9


def test_budget_lanes_through_combine():
    by_id = rules("medium", "high")
    out = combine(results(by_id, [[1, 1, 0, 0], [0, 1, 0, 0]]), 4, budget=25)
    assert out["lane"].tolist() == ["yellow", "red", "green", "green"]


def test_anomaly_adds_evidence_only_above_anomaly_from_and_never_reaches_red_alone():
    by_id = rules("medium")
    anomaly = np.array([0.5, 0.95, 0.975, 1.0, 1.0, np.nan])
    out = combine(results(by_id, [[0, 0, 0, 0, 1, 1]]), 6, anomaly=anomaly)
    # 0.5 * (score - 0.95) / 0.05 above 0.95; noisy-OR with the medium hit (0.35).
    assert out["risk_score"].tolist() == pytest.approx([0.0, 0.0, 0.25, 0.5, 1 - 0.65 * 0.5, 0.35])
    assert out["rule_score"].tolist() == [0, 0, 0, 0, 0.35, 0.35]
    assert out["lane"].tolist() == ["green", "green", "green", "yellow", "red", "yellow"]
    off = combine(results(by_id, [[0, 0, 0, 0, 1, 1]]), 6, RiskPolicy(anomaly_weight=0), anomaly=anomaly)
    assert off["risk_score"].equals(off["rule_score"])


def test_anomaly_reasons_follow_the_rules_for_the_flagged_rows_only():
    by_id = rules("medium")
    anomaly = np.array([0.999, 0.9993, 0.97, 0.2])
    evidence = rule_evidence(results(by_id, [[1, 1, 0, 1]]), 4)
    lanes = assign_lanes(risk_scores(evidence, anomaly=anomaly).risk, evidence.critical)
    asked = anomaly_explained(anomaly, lanes)
    assert asked.tolist() == [0, 1]  # row 2 counts but stays green: not explained
    words = ["", "value per kg 40x the median for HS 2507"]
    out = reasons_column(evidence, lanes, [(asked, anomaly_reasons(anomaly[asked], words))])
    assert out.tolist() == [
        "[T-R-0] why T-R-0 | [anomaly] stranger than 99.9% of the history",
        "[T-R-0] why T-R-0 | [anomaly] stranger than 99.9% of the history: value per kg 40x the median for HS 2507",
        "", "[T-R-0] why T-R-0"]
    assert evidence.rule_hits().tolist() == ["T-R-0", "T-R-0", "", "T-R-0"]


def test_anomaly_policy_is_checked():
    with pytest.raises(DetectorError, match="anomaly_weight and anomaly_from"):
        RiskPolicy(anomaly_weight=1.0)


def test_exploration_share_is_exact_random_among_the_rest_and_deterministic():
    from detector.risk import budget_red

    rng = np.random.default_rng(0)
    risk = np.round(rng.random(1000), 2)
    critical = np.zeros(1000, dtype=bool)
    red, explored = budget_red(risk, critical, 5, explore=20, seed=3)
    # 5% of 1000 = 50 rows; 20% of them (10) at random, 40 by risk.
    assert red.sum() == 50 and explored.sum() == 10 and not (explored & ~red).any()
    by_risk = red & ~explored
    assert set(np.flatnonzero(by_risk)) == set(np.lexsort((np.arange(1000), -risk))[:40])
    assert risk[explored].max() <= risk[by_risk].min()  # drawn from the rows the risk left
    again, explored_again = budget_red(risk, critical, 5, explore=20, seed=3)
    assert np.array_equal(explored, explored_again)
    other = budget_red(risk, critical, 5, explore=20, seed=4)[1]
    assert not np.array_equal(explored, other) and other.sum() == 10


def test_explored_rows_are_marked_in_lane_selection_and_reasons():
    by_id = rules("medium")
    out = combine(results(by_id, [[1] + [0] * 19]), 20, budget=20, explore=50, seed=1)
    assert (out["lane"] == "red").sum() == 4
    assert out["selection"].value_counts().to_dict() == {"": 16, "risk": 2, "explore": 2}
    explored = out[out["selection"] == "explore"]
    assert explored["reasons"].str.contains(r"\[explore\] random check").all()
    assert out.loc[0, "selection"] == "risk"


def angled(*specs):
    """Rules from (severity, pattern, evidence) triples, ids T-A-0, T-A-1, ..."""
    items = [{"id": f"T-A-{i}", "title": "t", "description": "d", "pattern": pattern, "severity": severity,
              "evidence": list(evidence), "when": {"present": "hs_code"}, "reason": "r",
              "examples": {"hit": [{"hs_code": "1234"}], "miss": [{"hs_code": "1234"}]}}
             for i, (severity, pattern, evidence) in enumerate(specs)]
    return {r.id: r for r in parse_rules(items, Path("t.yaml"))}


def test_one_channel_rule_alone_is_held_at_yellow_and_says_why():
    """Before: one high channel rule (rare-earth goods by post) sent a licensed sample
    and a pack of hobby magnets to red on its own."""
    from detector.risk import held_reasons

    by_id = angled(("high", "mail_splitting", ["channel"]), ("medium", "mislabelled_origin", ["route"]))
    hits = results(by_id, [[1, 1, 0], [0, 1, 0]])
    out = combine(hits, 3)
    assert out["lane"].tolist() == ["yellow", "red", "green"]
    assert out["risk_score"].tolist() == [0.55, pytest.approx(1 - 0.4 * 0.65, abs=1e-4), 0.0]
    evidence = rule_evidence(hits, 3)
    rows, texts = held_reasons(evidence, risk_scores(evidence))
    assert rows.tolist() == [0]
    assert texts.to_pylist() == ["[corroboration] evidence from one angle only (channel): "
                                 "held below red until another angle agrees"]


def test_a_critical_rule_needs_no_corroboration():
    by_id = angled(("critical", "falsified_contents", ["licence"]))
    assert combine(results(by_id, [[1]]), 1)["lane"].tolist() == ["red"]


def test_rules_of_one_pattern_and_angle_count_once_at_the_strongest():
    """Before: two ceramic-parcel rules firing together on every small ceramic parcel
    counted as two independent pieces of evidence and filled the top of the list."""
    by_id = angled(("high", "ceramic_concealment", ["channel"]), ("low", "ceramic_concealment", ["channel"]),
                   ("medium", "ceramic_concealment", ["price"]))
    out = combine(results(by_id, [[1, 1], [1, 0], [0, 1]]), 2)
    assert out["rule_score"].tolist() == [0.55, pytest.approx(1 - 0.4 * 0.65, abs=1e-4)]
    assert out["lane"].tolist() == ["yellow", "red"]


def test_a_low_rule_adds_weight_but_does_not_corroborate():
    by_id = angled(("high", "mail_splitting", ["channel"]), ("low", "general_red_flag", ["parties"]))
    out = combine(results(by_id, [[1], [1]]), 1)
    assert out["lane"].tolist() == ["yellow"] and out["risk_score"].tolist() == [0.55]


def test_the_anomaly_is_an_angle_of_its_own():
    by_id = angled(("high", "mail_splitting", ["channel"]))
    out = combine(results(by_id, [[1, 1]]), 2, anomaly=np.array([0.2, 0.99]))
    assert out["lane"].tolist() == ["yellow", "red"]


def test_single_angle_cap_must_lie_between_the_lanes():
    with pytest.raises(DetectorError, match="single_angle_max"):
        RiskPolicy(single_angle_max=0.7)
    off = RiskPolicy(single_angle_max=0.6)  # equal to red: corroboration off
    by_id = angled(("high", "mail_splitting", ["channel"]))
    assert combine(results(by_id, [[1]]), 1, off)["lane"].tolist() == ["red"]


def mitigating(severity, angles):
    item = {"id": "T-M-0", "title": "t", "description": "d", "pattern": "licensed_trade", "severity": severity,
            "mitigates": list(angles), "when": {"present": "hs_code"}, "reason": "r",
            "examples": {"hit": [{"hs_code": "1234"}], "miss": [{"hs_code": "1234"}]}}
    return {r.id: r for r in parse_rules([item], Path("t.yaml"))}


def test_a_licence_on_file_lowers_the_channel_not_the_price():
    """Before: a licensed 5 kg oxide sample by courier weighed the same as an
    unlicensed one; a licence must not excuse an undervalued price either."""
    by_id = {**angled(("high", "mail_splitting", ["channel"]), ("high", "falsified_contents", ["price"]),
                      ("critical", "falsified_contents", ["licence"])),
             **mitigating("high", ["channel", "parties", "route"])}
    # rows: channel only; price only; channel with a critical rule; channel, no licence
    hits = results(by_id, [[1, 0, 1, 1], [0, 1, 0, 0], [0, 0, 1, 0], [1, 1, 1, 0]])
    out = combine(hits, 4)
    assert out["risk_score"].tolist() == [pytest.approx(0.6 * 0.4), 0.55, pytest.approx(1 - 0.76 * 0.1), 0.55]
    assert out["lane"].tolist() == ["green", "yellow", "red", "yellow"]
    assert out["reasons"].iloc[0] == "[T-A-0] why T-A-0 | [T-M-0] why T-M-0"  # the mitigation is said, last


def test_a_critical_rule_cannot_mitigate():
    from detector.errors import RulePackError

    with pytest.raises(RulePackError, match="mitigating rule weighs low, medium or high"):
        mitigating("critical", ["channel"])


def test_the_anomaly_alone_takes_at_most_its_share_of_the_yellow_lane():
    """Before: a model trained on last year's trade sent 69% of a new quarter to yellow
    on the anomaly alone. Now only the strangest 2% of the file (like a budget) stay
    yellow on the anomaly alone; the others keep their risk (the ranking uses it) and go
    green, and rows the rules flag are not touched."""
    n = 200
    by_id = rules("medium")
    anomaly = np.full(n, 0.999)  # every row as strange as the history's strangest 0.1%
    anomaly[:3] = [0.9999, 0.99995, 0.9999]
    hits = np.zeros(n, dtype=int)
    hits[-1] = 1  # a medium rule with the anomaly: yellow or more whatever the cap
    out = combine(results(by_id, [hits]), n, anomaly=anomaly)
    yellow_alone = (out["lane"] == "yellow") & (out["rule_hits"] == "")
    assert yellow_alone.sum() == 4  # ceil(200 * 2%)
    assert set(np.flatnonzero(yellow_alone)) == {0, 1, 2, 3}  # the strangest, ties in file order
    assert out["lane"].iloc[-1] == "red"
    assert (out["risk_score"].iloc[4:-1] == out["risk_score"].iloc[4]).all() and out["risk_score"].iloc[4] >= 0.3
    uncapped = combine(results(by_id, [hits]), n, RiskPolicy(anomaly_yellow_max=100), anomaly=anomaly)
    assert ((uncapped["lane"] == "yellow") & (uncapped["rule_hits"] == "")).sum() == n - 1


def test_a_shifted_file_is_warned_about_and_a_fitting_one_is_not():
    """The summary says when the anomaly alone would flood yellow (scores saturated:
    the trade changed since the model's history), so the analyst retrains."""
    flooded = np.zeros(100, dtype=bool)
    flooded[:30] = True
    warning = anomaly_shift(flooded)
    assert "30.0% of rows" in warning and "about 2% there" in warning and "detector train" in warning
    fitting = np.zeros(100, dtype=bool)
    fitting[:2] = True
    assert anomaly_shift(fitting) == "" and anomaly_shift(None) == ""


def test_a_rule_hitting_half_the_rows_weighs_less_than_a_rare_one():
    """A rule that hits a large share of a file tells less about each row (issue: two
    ceramic rules fired on every small ceramic parcel and filled the top of the list).
    On 2,000 rows, a high rule hitting half of them weighs 0.6 * 0.5; the same rule
    hitting 1% keeps 0.6; a critical rule keeps 0.9 however common; a small file
    keeps every weight."""
    by_id = rules("high", "high", "critical")
    n = 2000
    common = np.zeros(n, dtype=int)
    common[: n // 2] = 1
    rare = np.zeros(n, dtype=int)
    rare[n // 2: n // 2 + 20] = 1
    breach = np.zeros(n, dtype=int)
    breach[: n // 2] = 1
    breach[-1] = 0
    out = combine(results(by_id, [common, rare, np.zeros(n, dtype=int)]), n)
    assert out["rule_score"].iloc[0] == pytest.approx(0.3)
    assert out["rule_score"].iloc[n // 2] == pytest.approx(0.55)  # 0.6, held at one angle
    assert RiskPolicy().informativeness(20, n) == 1.0
    assert RiskPolicy().informativeness(200, n) == pytest.approx(0.5)
    assert RiskPolicy().informativeness(60, n) == pytest.approx(1 - 0.5 * np.log10(3))
    critical = combine(results(by_id, [np.zeros(n, dtype=int), np.zeros(n, dtype=int), breach]), n)
    assert critical["risk_score"].iloc[0] == pytest.approx(0.9) and critical["lane"].iloc[0] == "red"
    small = combine(results(by_id, [common[:10], rare[:10], np.zeros(10, dtype=int)]), 10)
    assert small["rule_score"].iloc[0] == pytest.approx(0.55)


@pytest.mark.parametrize(("rows", "budget", "picked"), [(50, 2, 1), (1000, 0.1, 1), (999, 1, 9), (7, 100, 7)])
def test_a_budget_picks_the_rows_evaluation_counts_as_inspected(rows, budget, picked):
    """The budget arithmetic had three copies (the red lane, and two in evaluation);
    one function now serves all, so a budget inspects what it is measured on."""
    from detector.evaluation import evaluate

    assert budget_rows(rows, budget) == picked
    risk = np.linspace(1, 0, rows)
    from detector.risk import budget_red

    red, _ = budget_red(risk, np.zeros(rows, dtype=bool), budget)
    table = pd.DataFrame({"risk_score": risk, "label": np.arange(rows) % 2})
    assert int(red.sum()) == picked == int(evaluate(table, budgets=(budget,)).budgets["inspected"].iloc[0])
