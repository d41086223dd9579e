"""A rule that only asks whether a field is empty still runs on a file without it."""

from pathlib import Path

import pandas as pd

from detector import load_declarations, score
from detector.rules import RuleSet
from detector.rules.parse import parse_rules

NOT_AN_IMPORT = {
    "id": "T-EXPORT-001", "title": "t", "description": "d", "pattern": "p", "severity": "critical",
    "when": {"all": [{"equals": {"field": "export_country", "value": "CN"}},
                     {"any": [{"absent": "direction"}, {"missing": "direction"},
                              {"not": {"equals": {"field": "direction", "value": "import"}}}]}]},
    "reason": "r", "examples": {"hit": [{"export_country": "CN", "direction": "export"}],
                                "miss": [{"export_country": "CN", "direction": "import"}]},
}


def test_an_any_branch_on_an_absent_column_does_not_skip_the_rule():
    """Before: any condition on direction made it a column the rule needs, so "an
    import is no unlicensed export" would have skipped the licence rules on every file
    without a direction column."""
    rules = RuleSet(parse_rules([NOT_AN_IMPORT], Path("t.yaml")))
    assert rules.rules[0].needs == (frozenset({"export_country"}),)
    without = load_declarations(pd.DataFrame({"declaration_id": ["1"], "hs_code": ["2846"], "export_country": ["CN"]}))
    result = score(without, rules, model=None)
    assert result.summary.skipped_rules == {}
    assert result.output["rule_hits"].tolist() == ["T-EXPORT-001"]
    with_column = load_declarations(pd.DataFrame({"declaration_id": ["1", "2", "3"], "hs_code": ["2846"] * 3,
                                                  "export_country": ["CN"] * 3, "direction": ["export", "进口", ""]}))
    assert score(with_column, rules, model=None).output["rule_hits"].tolist() == ["T-EXPORT-001", "", "T-EXPORT-001"]


def test_a_group_rule_without_a_date_window_runs_on_a_file_without_dates():
    """Before: group rules needed declaration_date even without `within_days`."""
    from detector.rules.engine import evaluate_rules

    rule = {**NOT_AN_IMPORT, "id": "T-GROUP-001",
            "when": {"group_count": {"by": ["exporter"], "min": 2}},
            "examples": {"hit": [{"exporter": "A"}], "miss": [{"exporter": "B"}]}}
    windowed = {**rule, "id": "T-GROUP-002", "when": {"group_count": {"by": ["exporter"], "min": 2, "within_days": 7}}}
    rules = RuleSet(parse_rules([rule, windowed], Path("t.yaml")))
    table = load_declarations(pd.DataFrame({"declaration_id": ["1", "2"], "hs_code": ["2846"] * 2,
                                            "exporter": ["A", "A"]})).table
    results = evaluate_rules(rules, table)
    assert results.hits["T-GROUP-001"].tolist() == [True, True]
    assert results.skipped == {"T-GROUP-002": "needs column(s) the file lacks: declaration_date"}
