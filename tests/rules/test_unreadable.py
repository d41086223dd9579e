"""The ``unreadable`` predicate: a cell with text that validation could not read."""

from pathlib import Path

import pytest

from detector.declarations import load_declarations
from detector.errors import RulePackError
from detector.rules.engine import evaluate_rule, evaluate_rules
from detector.rules.examples import run_example
from detector.rules.model import RuleSet
from detector.rules.parse import parse_rules
from tests.conftest import frame


def rule_with(when, examples=None):
    (rule,) = parse_rules([{
        "id": "T-UNREAD-001", "title": "t", "description": "d", "pattern": "p", "severity": "medium",
        "when": when, "reason": "{transport_mode}",
        "examples": examples or {"hit": [{"hs_code": "2805"}], "miss": [{"hs_code": "2805"}]}}], Path("t.yaml"))
    return rule


def test_unreadable_tells_an_unreadable_cell_from_an_empty_or_read_one():
    """Before: an unreadable cell was only missing, like an empty one, so no rule could
    take it as evidence. A code that was read though marked (5 digits) is readable."""
    declarations = load_declarations(frame([
        {"declaration_id": "1", "hs_code": "28461", "transport_mode": "by pigeon", "quantity_unit": "kg"},
        {"declaration_id": "2", "hs_code": "2846", "transport_mode": "", "quantity_unit": "furlongs"},
        {"declaration_id": "3", "hs_code": "28.46.x", "transport_mode": "sea", "quantity_unit": ""},
    ]))
    rules = RuleSet([rule_with({"unreadable": field}) for field in ["transport_mode"]])
    results = evaluate_rules(rules, declarations.table, unreadable=declarations.unreadable)
    assert results.hits["T-UNREAD-001"].tolist() == [True, False, False]
    for field, expected in [("transport_mode", [True, False, False]), ("quantity_unit", [False, True, False]),
                            ("hs_code", [False, False, True]), ("origin_country", [False, False, False])]:
        hits, _ = evaluate_rule(rule_with({"unreadable": field}), declarations.table,
                                unreadable=declarations.unreadable)
        assert hits.tolist() == expected, field


def test_without_validations_record_a_missing_value_is_unknown():
    """A table built by hand says nothing of what its cells held: a usable value was
    readable, a missing one may not have been, so ``not: unreadable`` cannot hit it."""
    table = load_declarations(frame([{"declaration_id": "1", "hs_code": "2846", "transport_mode": "by pigeon"},
                                     {"declaration_id": "2", "hs_code": "2846", "transport_mode": "sea"}])).table
    hits, _ = evaluate_rule(rule_with({"not": {"unreadable": "transport_mode"}}), table)
    assert hits.tolist() == [False, True]


def test_a_derived_field_cannot_be_unreadable():
    """A derived field is computed, never read, so the rule would be dead."""
    with pytest.raises(RulePackError, match="'hs4' is derived, not read from the file"):
        rule_with({"unreadable": "hs4"})


def test_a_rule_example_shows_an_unreadable_mode():
    """A pack author proves an ``unreadable`` rule with an example row such as
    ``transport_mode: teleport``; examples go through validation like a file, so the
    example must see the cell as unreadable, not as unknown."""
    rule = rule_with({"unreadable": "transport_mode"},
                     {"hit": [{"hs_code": "2846", "transport_mode": "teleport"}],
                      "miss": [{"hs_code": "2846", "transport_mode": "sea"}]})
    assert [run_example(rule, example)["passed"] for example in rule.examples] == [True, True]
