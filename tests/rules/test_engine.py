from pathlib import Path

from detector.derived import derive
from detector.rules.engine import evaluate_rule, evaluate_rules, lacking_reason
from detector.rules.model import RuleSet
from detector.rules.parse import parse_rules
from detector.schema import validate
from tests.conftest import frame


def rule(when, reason="hit", **extra):
    item = {"id": "T-TEST-001", "title": "t", "description": "d", "pattern": "p", "severity": "high",
            "when": when, "reason": reason,
            "examples": {"hit": [{"hs_code": "2805"}], "miss": [{"hs_code": "2805"}]}, **extra}
    return parse_rules([item], Path("t.yaml"))[0]


def table(rows):
    return derive(validate(frame(rows)).table)


def test_reason_renders_row_values_and_formats_numbers():
    r = rule({"present": "origin_country"},
             reason="origin {origin_country}, {value_per_kg:.2f} USD/kg, {gross_weight_kg} kg, id {declaration_id}")
    hits, reasons = evaluate_rule(r, table([
        {"declaration_id": "A", "origin_country": "VN", "declared_value": "100", "net_weight_kg": "3",
         "gross_weight_kg": "4"},
        {"declaration_id": "B", "origin_country": "", "declared_value": "1", "net_weight_kg": "1",
         "gross_weight_kg": "1"},
        {"declaration_id": "C", "origin_country": "CN", "declared_value": "", "net_weight_kg": "",
         "gross_weight_kg": "2.5"}]))
    assert hits.tolist() == [True, False, True]
    assert reasons.to_dict() == {0: "origin VN, 33.33 USD/kg, 4 kg, id A",
                                 2: "origin CN, (missing) USD/kg, 2.5 kg, id C"}


def test_reason_shows_group_counts():
    r = rule({"group_count": {"by": ["exporter"], "min": 2, "as": "shipments"}},
             reason="{shipments} shipments by {exporter}")
    _, reasons = evaluate_rule(r, table([{"exporter": "A"}, {"exporter": "A"}, {"exporter": "B"}]))
    assert reasons.to_dict() == {0: "2 shipments by A", 1: "2 shipments by A"}


def test_validity_dates_limit_rows_but_keep_undated_rows():
    r = rule({"present": "origin_country"}, valid_from="2025-04-04", valid_to="2026-11-10")
    hits, _ = evaluate_rule(r, table([
        {"origin_country": "CN", "declaration_date": "2025-04-03"},
        {"origin_country": "CN", "declaration_date": "2025-04-04"},
        {"origin_country": "CN", "declaration_date": "2026-11-11"},
        {"origin_country": "CN", "declaration_date": ""}]))
    assert hits.tolist() == [False, True, False, True]


def test_rules_needing_absent_columns_are_skipped_with_the_reason():
    needs_license = rule({"missing": "license_number"})
    either_text = parse_rules([{
        "id": "T-TEXT-001", "title": "t", "description": "d", "pattern": "p", "severity": "low",
        "when": {"keywords": {"fields": ["description", "remarks"], "any": ["x"]}}, "reason": "r",
        "examples": {"hit": [{"hs_code": "1234"}], "miss": [{"hs_code": "1234"}]}}], Path("t.yaml"))[0]
    data = table([{"hs_code": "2805", "description": "x"}])
    assert lacking_reason(needs_license, data.columns) == "needs column(s) the file lacks: license_number"
    assert lacking_reason(either_text, data.columns) == ""
    results = evaluate_rules(RuleSet([needs_license, either_text]), data)
    assert results.skipped == {"T-TEST-001": "needs column(s) the file lacks: license_number"}
    assert results.hits.columns.tolist() == ["T-TEXT-001"]
    assert results.hits["T-TEXT-001"].tolist() == [True]


def test_a_rule_needing_a_derived_field_is_skipped_naming_the_input_columns_to_add():
    """Before: the reason was "needs column(s) the file lacks: value_per_kg", a derived
    field no one can add to a file; it now names the input columns behind it."""
    per_kg = rule({"compare": {"field": "value_per_kg", "op": ">", "value": 100}})
    per_litre_and_licence = parse_rules([{
        "id": "T-LITRE-001", "title": "t", "description": "d", "pattern": "p", "severity": "low",
        "when": {"all": [{"compare": {"field": "kg_per_litre", "op": ">", "value": 1.5}},
                         {"missing": "license_number"}]}, "reason": "r",
        "examples": {"hit": [{"hs_code": "1234"}], "miss": [{"hs_code": "1234"}]}}], Path("t.yaml"))[0]
    nothing = table([{"hs_code": "2805"}])
    results = evaluate_rules(RuleSet([per_kg, per_litre_and_licence]), nothing)
    assert results.skipped == {
        "T-TEST-001": "needs value_per_kg: add declared_value and net_weight_kg or gross_weight_kg",
        "T-LITRE-001": "needs column(s) the file lacks: license_number; "
                       "needs kg_per_litre: add quantity and quantity_unit and net_weight_kg or gross_weight_kg"}
    # Only the inputs still absent are named.
    valued = table([{"hs_code": "2805", "declared_value": "10", "quantity": "2"}])
    assert evaluate_rules(RuleSet([per_kg, per_litre_and_licence]), valued).skipped == {
        "T-TEST-001": "needs value_per_kg: add net_weight_kg or gross_weight_kg",
        "T-LITRE-001": "needs column(s) the file lacks: license_number; "
                       "needs kg_per_litre: add quantity_unit and net_weight_kg or gross_weight_kg"}
