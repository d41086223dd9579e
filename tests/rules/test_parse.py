"""Rule-pack mistakes are reported with file, rule id and what is wrong."""

import copy
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.errors import RulePackError
from detector.rules import load_rules
from detector.rules.engine import evaluate_rule
from detector.rules.parse import parse_pack, parse_rules

GOOD = {
    "id": "T-ORIGIN-001", "title": "t", "description": "d", "pattern": "mislabelled_origin",
    "severity": "high",
    "when": {"compare_fields": {"left": "origin_country", "op": "!=", "right": "export_country"}},
    "reason": "origin {origin_country} but shipped from {export_country}",
    "references": ["test source"],
    "examples": {"hit": [{"hs_code": "2805", "origin_country": "VN", "export_country": "CN"}],
                 "miss": [{"hs_code": "2805", "origin_country": "CN", "export_country": "CN"}]},
}


def parse(rule, path="pack.yaml"):
    return parse_rules([rule], Path(path))


def with_(**changes):
    rule = copy.deepcopy(GOOD)
    rule.update(changes)
    return rule


def test_a_good_rule_parses_with_its_fields_and_needs():
    (rule,) = parse(GOOD)
    assert rule.fields == {"origin_country", "export_country"}
    assert set(rule.needs) == {frozenset({"origin_country"}), frozenset({"export_country"})}
    assert [e.expect_hit for e in rule.examples] == [True, False]


@pytest.mark.parametrize("changes, message", [
    ({"when": {"equals": {"field": "origin_contry", "value": "CN"}}}, "unknown field 'origin_contry'"),
    ({"when": {"equal": {"field": "origin_country", "value": "CN"}}}, "unknown predicate 'equal'"),
    ({"when": {"compare": {"field": "description", "op": "<", "value": 3}}}, "field 'description' is text"),
    ({"when": {"compare": {"field": "gross_weight_kg", "op": "<", "value": "3"}}}, "expected a number"),
    ({"when": {"compare": {"field": "gross_weight_kg", "op": "=<", "value": 3}}}, "expected one of"),
    ({"when": {"regex": {"field": "description", "pattern": "(a)\\1"}}}, "invalid pattern"),
    ({"when": {"regex": {"field": "description", "pattern": "a" * 201}}}, "at most 200"),
    ({"when": {"in_table": {"table": "no_such_table", "match": {"hs_code": "x"}}}}, "'no_such_table' not found"),
    ({"when": {"in_table": {"table": "countries", "match": {"origin_country": "nope"}}}}, "lacks column(s) nope"),
    ({"when": {"all": []}}, "non-empty list"),
    ({"when": {"equals": {"field": "origin_country", "value": "CN"}, "extra": 1}}, "exactly one key"),
    ({"severity": "urgent"}, "severity 'urgent' must be one of"),
    ({"id": "bad id"}, "must look like RE-ORIGIN-001"),
    ({"reason": "shipped by {shipper}"}, "unknown field 'shipper'"),
    ({"reason": "value {declared_value!r}"}, "only {field} or {field:.2f}"),
    ({"examples": {"hit": [{"hs_code": "2805", "origin": "VN"}], "miss": [{"hs_code": "1"}]}},
     "unknown field 'origin'"),
    ({"examples": {"hit": [{"hs_code": "2805"}]}}, "examples.miss: expected a non-empty list"),
    ({"valid_from": "2025-13-01"}, "not an ISO date"),
    ({"colour": "red"}, "unknown key(s) colour"),
])
def test_mistakes_name_file_rule_and_problem(changes, message):
    with pytest.raises(RulePackError) as error:
        parse(with_(**changes))
    text = str(error.value)
    assert text.startswith("pack.yaml: rule ")
    assert message in text


@pytest.mark.parametrize("op", [["<"], {"<": 1}])
def test_an_operator_that_is_no_text_is_a_rule_pack_error(op):
    """Before: `op: [<]` crashed parsing with "TypeError: unhashable type: 'list'"."""
    rule = with_(when={"compare": {"field": "gross_weight_kg", "op": op, "value": 3}})
    with pytest.raises(RulePackError, match=r"when\.compare\.op: expected one of < <= > >= == !=, got "):
        parse(rule)


def test_error_names_the_rule_id():
    with pytest.raises(RulePackError, match="rule T-ORIGIN-001: when: unknown predicate"):
        parse(with_(when={"nope": {}}))


def test_duplicate_ids_across_packs(tmp_path):
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(yaml.safe_dump({"rules": [GOOD]}))
    with pytest.raises(RulePackError, match=r"b\.yaml: rule T-ORIGIN-001: duplicate id \(also in .*a\.yaml\)"):
        load_rules([tmp_path], include_default=False)


def test_invalid_yaml_is_reported_with_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("rules: [\n  - id: x\n")
    with pytest.raises(RulePackError, match=r"broken\.yaml: not valid YAML"):
        parse_pack(path)


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("rules: !!python/object/apply:os.system ['echo owned']\n")
    with pytest.raises(RulePackError, match="not valid YAML"):
        parse_pack(path)


def test_group_names_are_usable_in_reasons():
    rule = with_(when={"group_count": {"by": ["exporter"], "min": 2, "as": "shipments"}},
                 reason="{shipments} shipments from {exporter}")
    (parsed,) = parse(rule)
    table = pd.DataFrame({"exporter": ["Acme", "Acme", "Brill"]})
    hits, reasons = evaluate_rule(parsed, table)
    assert hits.tolist() == [True, True, False]
    assert reasons.tolist() == ["2 shipments from Acme", "2 shipments from Acme"]


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
    | st.sampled_from(["all", "any", "not", "equals", "field", "hs_code", "keywords", "group_count",
                       "in_table", "regex", "compare", "op", "<", "value", "values", "min", "by"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["all", "any", "not", "equals", "in", "field", "fields", "value", "values",
                         "keywords", "regex", "pattern", "compare", "op", "group_count", "by", "min",
                         "in_table", "table", "match", "hs_prefix", "prefixes", "missing"]),
        children, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(when=yaml_values, reason=st.text(max_size=20), severity=st.sampled_from(["low", "high", 3, None]))
def test_any_yaml_shape_parses_or_raises_a_rule_pack_error(when, reason, severity):
    """The parser never crashes on free-form YAML: a rule or a RulePackError."""
    try:
        parse(with_(when=when, reason=reason or "x", severity=severity))
    except RulePackError as error:
        assert str(error).startswith("pack.yaml: rule")


def test_a_packs_applies_to_joins_every_rules_when(tmp_path):
    """Before: the rare-earth pack judged goods declared into China (an import from
    Myanmar, NdFeB swarf for recovery) by China's export controls and sent honest
    imports to yellow and red. A pack's `applies_to` is joined to each rule's `when`."""
    pack = tmp_path / "scoped.yaml"
    pack.write_text(yaml.safe_dump({
        "pack": "scoped",
        "applies_to": {"not": {"equals": {"field": "destination_country", "value": "CN"}}},
        "rules": [{"id": "T-SCOPE-001", "title": "t", "description": "d", "pattern": "p", "severity": "high",
                   "when": {"hs_prefix": {"prefixes": ["2846"]}}, "reason": "r",
                   "examples": {"hit": [{"hs_code": "2846901920", "destination_country": "JP"}],
                                "miss": [{"hs_code": "2846901920", "destination_country": "CN"}]}}]}))
    (rule,) = parse_pack(pack)
    table = pd.DataFrame({"hs_code": ["2846901920", "2846901920"], "destination_country": ["JP", "CN"]})
    hits, _ = evaluate_rule(rule, table)
    assert hits.tolist() == [True, False]
    with pytest.raises(RulePackError, match="unknown pack key"):
        pack.write_text(yaml.safe_dump({"pack": "x", "applies_too": {}, "rules": []}))
        parse_pack(pack)


def test_the_rare_earth_pack_does_not_judge_goods_declared_into_china():
    import detector

    # A hub as origin of rare-earth oxide: suspect leaving for Japan, not arriving in China.
    rows = pd.DataFrame({"declaration_id": ["1", "2"], "direction": ["import", "export"],
                         "hs_code": ["2846901920", "2846901920"], "description": ["dysprosium oxide"] * 2,
                         "origin_country": ["SG", "SG"], "export_country": ["SG", "CN"],
                         "destination_country": ["CN", "JP"], "license_number": ["", ""],
                         "declaration_date": ["2025-06-01", "2025-06-01"]})
    out = detector.score(detector.load_declarations(rows), model=None).output
    assert out["rule_hits"].iloc[0] == "" and out["lane"].iloc[0] == "green"
    assert "RE-ORIGIN-004" in out["rule_hits"].iloc[1] and out["lane"].iloc[1] == "red"
