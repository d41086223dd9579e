"""Every shipped rule's own examples, one test id per example (sqlfluff-style)."""

from pathlib import Path

import pytest

from detector.rules import load_rules
from detector.rules.examples import example_frame, example_summary, run_example, run_examples
from detector.rules.parse import parse_rules

SHIPPED = load_rules()


def test_shipped_packs_hold_rules_for_every_smuggling_pattern():
    patterns = {rule.pattern for rule in SHIPPED}
    assert {"mislabelled_origin", "falsified_contents", "ceramic_concealment", "bottle_concealment",
            "mail_splitting", "general_red_flag"} <= patterns


@pytest.mark.parametrize("rule", SHIPPED.rules, ids=lambda rule: rule.id)
def test_shipped_rule_has_examples_and_sources(rule):
    hits = [e for e in rule.examples if e.expect_hit]
    misses = [e for e in rule.examples if not e.expect_hit]
    assert len(hits) >= 2 and len(misses) >= 2, "every shipped rule has two hit and two miss examples"
    assert rule.references, "every shipped rule cites its sources"


EXAMPLES = [(rule, example) for rule in SHIPPED for example in rule.examples]


@pytest.mark.parametrize(("rule", "example"), EXAMPLES,
                         ids=[f"{rule.id} {'hit' if e.expect_hit else 'miss'}[{e.number}]" for rule, e in EXAMPLES])
def test_shipped_rule_example(rule, example):
    """One test id per example (``RE-ORIGIN-001 hit[2]``), its note in the failure."""
    result = run_example(rule, example)
    assert result["passed"], f"{result['example']} ({example.note}): {result['detail']}"


def test_example_rows_are_full_declarations_with_blank_cells():
    (rule,) = parse_rules([{
        "id": "T-EX-001", "title": "t", "description": "d", "pattern": "p", "severity": "low",
        "when": {"missing": "license_number"}, "reason": "r",
        "examples": {"hit": [{"hs_code": "2805"}], "miss": [{"hs_code": "2805", "license_number": "L-1"}]}}],
        Path("t.yaml"))
    table = example_frame(rule, rule.examples[0])
    assert table.loc[0, "license_number"] == "" and table.loc[0, "declaration_id"] == "T-EX-001-hit1-1"
    assert run_examples([rule])["passed"].tolist() == [True, True]


def test_a_wrong_example_fails_and_says_what_the_rule_returned():
    (rule,) = parse_rules([{
        "id": "T-EX-002", "title": "t", "description": "d", "pattern": "p", "severity": "low",
        "when": {"compare": {"field": "gross_weight_kg", "op": "<", "value": 5}}, "reason": "r",
        "examples": {"hit": [{"hs_code": "2805", "gross_weight_kg": "9"}],
                     "miss": [{"hs_code": "2805", "gross_weight_kg": "-1"}]}}], Path("t.yaml"))
    results = run_examples([rule])
    assert results["passed"].tolist() == [False, True]
    assert results["detail"].iloc[0] == "rule returned no hit"


def test_example_summary_says_pass_or_fail_per_rule_in_pack_order():
    """Guards the `detector rules test` table: one row per rule, failed examples counted."""
    (broken,) = parse_rules([{
        "id": "T-EX-003", "title": "t", "description": "d", "pattern": "p", "severity": "low",
        "when": {"missing": "license_number"}, "reason": "r",
        "examples": {"hit": [{"hs_code": "2805", "license_number": "L-1"}, {"hs_code": "2805"}],
                     "miss": [{"hs_code": "2805"}]}}], Path("t.yaml"))
    results = run_examples([SHIPPED.rules[0], broken])
    summary = example_summary(results)
    assert summary["rule"].tolist() == [SHIPPED.rules[0].id, "T-EX-003"]
    assert summary["examples"].tolist() == [len(SHIPPED.rules[0].examples), 3]
    assert summary["failed"].tolist() == [0, 2] and summary["result"].tolist() == ["pass", "FAIL"]
