"""Each predicate on hand-made tables, including unknown values and Kleene logic."""

import numpy as np
import pandas as pd
import pytest

from detector.derived import derive
from detector.rules import predicates
from detector.rules.engine import evaluate_condition
from detector.rules.parse import _RuleParser
from detector.rules.predicates import Context, TableCache
from detector.schema import validate
from tests.conftest import frame


def table(rows):
    return derive(validate(frame(rows)).table)


def run_named(condition, rows, reference_dirs=()):
    """Evaluate a YAML-shaped condition: True / False / None (unknown) per row, and the
    values it named with ``as:``."""
    parsed = _RuleParser({}, "test.yaml", 1, tuple(reference_dirs)).condition(condition, "when")
    data = table(rows)
    ctx = Context(TableCache(data), reference_dirs=tuple(reference_dirs), named={})
    ctx.evaluate = lambda c, t: evaluate_condition(c, t, ctx)
    result = evaluate_condition(parsed, data, ctx)
    return [None if pd.isna(v) else bool(v) for v in result], ctx.named


def run(condition, rows, reference_dirs=()):
    """Evaluate a YAML-shaped condition: True / False / None (unknown) per row."""
    return run_named(condition, rows, reference_dirs)[0]


def test_equals_is_case_insensitive_and_unknown_on_missing():
    rows = [{"origin_country": "cn"}, {"origin_country": "VN"}, {"origin_country": ""}]
    assert run({"equals": {"field": "origin_country", "value": "CN"}}, rows) == [True, False, None]


def test_not_keeps_unknown_unknown():
    rows = [{"origin_country": "CN"}, {"origin_country": "VN"}, {"origin_country": ""}]
    assert run({"not": {"equals": {"field": "origin_country", "value": "CN"}}}, rows) == [False, True, None]


def test_all_and_any_use_kleene_logic():
    rows = [{"origin_country": "", "transport_mode": "post"}, {"origin_country": "", "transport_mode": "sea"}]
    either = {"any": [{"equals": {"field": "origin_country", "value": "CN"}},
                      {"equals": {"field": "transport_mode", "value": "post"}}]}
    both = {"all": [{"equals": {"field": "origin_country", "value": "CN"}},
                    {"equals": {"field": "transport_mode", "value": "post"}}]}
    assert run(either, rows) == [True, None]
    assert run(both, rows) == [None, False]


def test_in_and_not_in():
    rows = [{"transport_mode": "mail"}, {"transport_mode": "sea"}, {"transport_mode": ""}]
    assert run({"in": {"field": "transport_mode", "values": ["post", "express"]}}, rows) == [True, False, None]
    assert run({"not_in": {"field": "transport_mode", "values": ["post", "express"]}}, rows) == [False, True, None]


def test_compare_and_between_on_numbers():
    rows = [{"gross_weight_kg": "0.5"}, {"gross_weight_kg": "20"}, {"gross_weight_kg": "x"}]
    assert run({"compare": {"field": "gross_weight_kg", "op": "<", "value": 2}}, rows) == [True, False, None]
    assert run({"between": {"field": "gross_weight_kg", "min": 1, "max": 20}}, rows) == [False, True, None]
    assert run({"between": {"field": "gross_weight_kg", "max": 1}}, rows) == [True, False, None]


def test_compare_fields_text_and_numbers():
    rows = [{"origin_country": "VN", "export_country": "CN", "net_weight_kg": "5", "gross_weight_kg": "4"},
            {"origin_country": "CN", "export_country": "china", "net_weight_kg": "3", "gross_weight_kg": "4"},
            {"origin_country": "", "export_country": "CN", "net_weight_kg": "", "gross_weight_kg": "4"}]
    assert run({"compare_fields": {"left": "origin_country", "op": "!=", "right": "export_country"}},
               rows) == [True, False, None]
    assert run({"compare_fields": {"left": "net_weight_kg", "op": ">", "right": "gross_weight_kg"}},
               rows) == [True, False, None]


def test_missing_and_present_are_never_unknown():
    rows = [{"license_number": "L-1"}, {"license_number": "  "}]
    assert run({"missing": "license_number"}, rows) == [False, True]
    assert run({"present": {"field": "license_number"}}, rows) == [True, False]


@pytest.mark.parametrize("text, expected", [
    ("Parts NOT made in\tChina", True),
    ("not made in chinaware", False),           # word boundary at the end
    ("cannot made in china", False),            # word boundary at the start
    ("(not made in China)", True),
    ("", None),
])
def test_keywords_match_whole_words_case_insensitively(text, expected):
    condition = {"keywords": {"field": "description", "any": ["not made in china"]}}
    assert run(condition, [{"description": text}]) == [expected]


def test_keywords_whole_text_mode():
    condition = {"keywords": {"fields": ["description"], "any": ["machinery parts", "parts"], "match": "whole"}}
    rows = [{"description": " Machinery  parts. "}, {"description": "machinery parts for excavator"}]
    assert run(condition, rows) == [True, False]


def test_keywords_search_any_present_field():
    """Before: a row with an empty remarks cell was unknown for words over description
    and remarks, so `not: <rare-earth words>` was unknown on it and a rule failed to hit."""
    condition = {"keywords": {"fields": ["description", "remarks"], "any": ["non-chinese origin"]}}
    rows = [{"description": "", "remarks": "non-Chinese origin"}, {"description": "iron", "remarks": ""}]
    assert run(condition, rows) == [True, False]


def test_keywords_from_a_reference_table(tmp_path):
    (tmp_path / "words.csv").write_text("phrase\nnickel powder\nsolder paste\n")
    condition = {"keywords": {"field": "description", "table": "words", "column": "phrase"}}
    rows = [{"description": "Solder paste 500g"}, {"description": "nickel"}]
    assert run(condition, rows, [tmp_path]) == [True, False]


def test_regex_is_case_insensitive_search():
    condition = {"regex": {"field": "description", "pattern": r"\bdy2o3\b|dysprosium"}}
    assert run(condition, [{"description": "DY2O3 99.9%"}, {"description": "iron oxide"}]) == [True, False]


def test_hs_prefix():
    rows = [{"hs_code": "2805301200"}, {"hs_code": "2846901920"}, {"hs_code": "2807"}, {"hs_code": "bad"}]
    assert run({"hs_prefix": {"prefixes": ["2805", "284690"]}}, rows) == [True, True, False, None]


def test_in_table_exact_prefix_where_and_validity(tmp_path):
    (tmp_path / "controls.csv").write_text(
        "hs_prefix,country,list,valid_from,valid_to\n"
        "280530,CN,A,2025-04-04,\n"
        "284690,CN,B,2025-01-01,2025-06-30\n"
        "8505,CN,C,,\n")
    condition = {"in_table": {"table": "controls", "valid_on": "declaration_date", "where": {"list": ["A", "B"]},
                              "match": {"hs_code": {"column": "hs_prefix", "by": "prefix"},
                                        "export_country": "country"}}}
    rows = [
        {"hs_code": "2805301200", "export_country": "CN", "declaration_date": "2025-05-01"},  # in force
        {"hs_code": "2805301200", "export_country": "CN", "declaration_date": "2025-03-01"},  # before
        {"hs_code": "2846901920", "export_country": "CN", "declaration_date": "2025-07-01"},  # after
        {"hs_code": "2846901920", "export_country": "CN", "declaration_date": ""},            # undated
        {"hs_code": "8505111000", "export_country": "CN", "declaration_date": "2025-05-01"},  # filtered out
        {"hs_code": "2805301200", "export_country": "VN", "declaration_date": "2025-05-01"},  # other country
        {"hs_code": "2805301200", "export_country": "", "declaration_date": "2025-05-01"},    # unknown
    ]
    assert run(condition, rows, [tmp_path]) == [True, False, False, True, False, False, None]


def test_in_table_prefixes_of_several_lengths_and_an_exact_only_match(tmp_path):
    (tmp_path / "codes.csv").write_text("hs_prefix,country\n2805,CN\n28469019,cn\n8505111000,VN\n")
    by_prefix = {"in_table": {"table": "codes", "match": {"hs_code": {"column": "hs_prefix", "by": "prefix"}}}}
    rows = [{"hs_code": "2805999999"}, {"hs_code": "2846901920"}, {"hs_code": "284690"}, {"hs_code": "8505111000"},
            {"hs_code": "2806"}]
    assert run(by_prefix, rows, [tmp_path]) == [True, True, False, True, False]
    by_country = {"in_table": {"table": "codes", "match": {"origin_country": "country"}}}
    countries = [{"origin_country": "CN"}, {"origin_country": "VN"}, {"origin_country": "DE"}, {"origin_country": ""}]
    assert run(by_country, countries, [tmp_path]) == [True, True, False, None]


def parcels(*specs):
    return [{"exporter": e, "consignee": c, "declaration_date": d, "transport_mode": m, "hs_code": "2507"}
            for e, c, d, m in specs]


def test_group_count_within_a_date_window():
    rows = parcels(("A", "B", "2025-05-01", "post"), ("A", "B", "2025-05-04", "post"),
                   ("A", "B", "2025-05-08", "post"), ("A", "B", "2025-06-30", "post"),
                   ("A", "C", "2025-05-02", "post"), ("", "B", "2025-05-02", "post"))
    condition = {"group_count": {"by": ["exporter", "consignee"], "within_days": 7, "min": 3}}
    # 05-01 sees 05-04 and 05-08 (7 days); 05-08 sees 05-01 and 05-04.
    assert run(condition, rows) == [True, True, True, False, False, False]


def test_group_count_counts_only_rows_matching_where():
    rows = parcels(("A", "B", "2025-05-01", "post"), ("A", "B", "2025-05-02", "sea"),
                   ("A", "B", "2025-05-03", "express"))
    condition = {"group_count": {"by": ["exporter", "consignee"], "within_days": 7, "min": 2,
                                 "where": {"in": {"field": "transport_mode", "values": ["post", "express"]}}}}
    assert run(condition, rows) == [True, False, True]


def test_group_count_without_window_uses_whole_file():
    rows = parcels(("A", "B", "2025-01-01", "post"), ("A", "B", "2025-12-01", "post"), ("A", "C", "", "post"))
    condition = {"group_count": {"by": ["exporter"], "min": 3}}
    assert run(condition, rows) == [True, True, True]


def test_group_sum_totals_a_field():
    rows = [{"exporter": "A", "declaration_date": "2025-05-01", "gross_weight_kg": "40", "hs_code": "2805"},
            {"exporter": "A", "declaration_date": "2025-05-03", "gross_weight_kg": "70", "hs_code": "2805"},
            {"exporter": "A", "declaration_date": "2025-07-03", "gross_weight_kg": "70", "hs_code": "2805"}]
    condition = {"group_sum": {"by": ["exporter"], "field": "gross_weight_kg", "within_days": 5, "min": 100}}
    assert run(condition, rows) == [True, True, False]


def test_group_count_matches_a_brute_force_count():
    """The sort-and-search window count equals counting pairs directly."""
    generator = np.random.default_rng(7)
    n = 300
    rows = [{"exporter": f"E{generator.integers(5)}", "consignee": f"C{generator.integers(3)}",
             "declaration_date": str(np.datetime64("2025-01-01") + int(generator.integers(60))),
             "hs_code": "2805"} for _ in range(n)]
    condition = {"group_count": {"by": ["exporter", "consignee"], "within_days": 4, "min": 6}}
    got = run(condition, rows)
    dates = np.array([np.datetime64(r["declaration_date"]) for r in rows])
    keys = np.array([r["exporter"] + r["consignee"] for r in rows])
    expected = [int(((keys == keys[i]) & (np.abs((dates - dates[i]).astype(int)) <= 4)).sum()) >= 6
                for i in range(n)]
    assert got == expected


def test_keywords_from_a_table_with_no_phrases_match_nothing(tmp_path):
    (tmp_path / "empty_words.csv").write_text("phrase\n\n")
    condition = {"keywords": {"field": "description", "table": "empty_words", "column": "phrase"}}
    assert run(condition, [{"description": "anything"}], [tmp_path]) == [False]


def test_long_phrase_and_prefix_lists_split_into_patterns_that_match_the_same(monkeypatch):
    """RE2 refuses one pattern past its memory budget, so long lists of phrases or
    prefixes are matched in pieces; the pieces must hit exactly what one pattern would."""
    monkeypatch.setattr(predicates, "ALTERNATION_BUDGET", 6)
    rows = [{"hs_code": "2805301200", "description": "Dy2O3 oxide"}, {"hs_code": "2846901920", "description": "tile"},
            {"hs_code": "6907210000", "description": "ceramic glaze"}, {"hs_code": "1234", "description": "oxides"}]
    assert run({"hs_prefix": {"prefixes": ["2805", "2846", "69", "850519"]}}, rows) == [True, True, True, False]
    words = {"keywords": {"field": "description", "any": ["dy2o3", "oxide", "ceramic glaze", "tile"]}}
    assert run(words, rows) == [True, True, True, False]
    whole = {"keywords": {"field": "description", "any": ["tile", "ceramic glaze", "oxide"], "match": "whole"}}
    assert run(whole, rows) == [False, True, True, False]


def test_group_rules_name_the_sibling_declarations():
    """Before: a split rule's reason gave a count, and the analyst searched the file for
    the other parcels of the series."""
    rows = [{"declaration_id": f"D{i}", "exporter": e, "declaration_date": d} for i, (e, d) in enumerate(
        [("A", "2025-01-01"), ("A", "2025-01-02"), ("B", "2025-01-01"), ("A", "2025-03-01"), ("A", "2025-01-03")]
        + [("C", "2025-01-01")] * 8)]
    hits, named = run_named({"group_count": {"by": ["exporter"], "min": 2, "within_days": 7, "siblings": "others"}},
                            rows)
    others = named["others"]
    assert others.iloc[0] == "D1, D4" and others.iloc[4] == "D0, D1"  # the row itself is not listed
    assert pd.isna(others.iloc[2]) and pd.isna(others.iloc[3])  # alone in its window
    assert others.iloc[5] == "D6, D7, D8, D9, D10 and 2 more"  # at most five, then how many more
    assert hits[:5] == [True, True, False, False, True]
