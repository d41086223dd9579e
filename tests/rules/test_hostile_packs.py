"""Hostile or mistaken rule packs fail at load time with one line naming the file, the
rule and the place; none loads and then crashes or runs away while scoring."""

import os
import random
import string
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

import detector
from detector.errors import RulePackError

RULE = """\
  - id: T-HOSTILE-001
    title: t
    description: d
    pattern: p
    severity: high
{extra}    when:
{when}
    reason: r
    examples:
      hit: [{{hs_code: "2805301200"}}]
      miss: [{{hs_code: "2806"}}]
"""


def write_pack(folder: Path, when: str, extra: str = "", head: str = "", tables: dict | None = None) -> Path:
    """A one-rule pack in ``folder`` (its tables in ``folder/reference``); ``when`` and
    ``extra`` (more rule keys) are YAML, written at the rule's indentation."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (tables or {}).items():
        (folder / "reference").mkdir(exist_ok=True)
        (folder / "reference" / f"{name}.csv").write_text(text, encoding="utf-8")
    path = folder / "pack.yaml"
    path.write_text(head + "rules:\n" + RULE.format(
        when=textwrap.indent(textwrap.dedent(when).strip("\n"), " " * 6),
        extra=textwrap.indent(textwrap.dedent(extra), " " * 4)), encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    """The one-line error loading ``path`` raises."""
    with pytest.raises(RulePackError) as error:
        detector.load_rules([path], include_default=False)
    message = str(error.value)
    assert "\n" not in message
    return message


def hits(path: Path, rows: list[dict]) -> list[bool]:
    """The pack's one rule's hit per row."""
    rules = detector.load_rules([path], include_default=False)
    rows = [{"declaration_id": str(number), "hs_code": "2805301200", **row} for number, row in enumerate(rows)]
    declarations = detector.load_declarations(pd.DataFrame(rows).fillna("").astype("str"))
    result = detector.score(declarations, rules, model=None)
    return result.rule_results.hits["T-HOSTILE-001"].tolist()


def alias_bomb(levels: int, fan: int = 10) -> str:
    """A pack whose condition is ``any`` of ``fan`` copies of the level below, by alias."""
    def level(number: int) -> str:
        if number == 0:
            return "&c0 {missing: hs_code}"
        return f"&c{number} {{any: [{level(number - 1)}" + f", *c{number - 1}" * (fan - 1) + "]}"
    return ("rules:\n- id: T-BOMB-001\n  title: t\n  description: d\n  pattern: p\n  severity: high\n"
            "  reason: r\n  examples: {hit: [{hs_code: '1'}], miss: [{hs_code: '2'}]}\n"
            f"  when: {level(levels)}\n")


# ------------------------------------------------------------------ size and depth


def test_an_alias_bomb_is_refused_at_once(tmp_path):
    """Before: a 739-byte pack of anchors repeating anchors took 67-84 s and 3.2 GB in
    `detector rules list`; this 530-byte one (a million conditions) took 7 s and 400 MB."""
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(6), encoding="utf-8")
    assert len(path.read_bytes()) < 600
    started = time.perf_counter()
    message = load_error(path)
    assert time.perf_counter() - started < 1.0
    assert message.startswith(f"{path}: rule T-BOMB-001: line 9: ")
    assert "anchors and aliases expand this value to more than 200,000 values" in message


def test_many_rules_sharing_one_large_condition_are_bounded_in_total(tmp_path):
    """Before: each rule could alias the same 100,000-value condition, so a pack of small
    rules expanded to millions of conditions, none of them large on its own."""
    rules = [alias_bomb(4).replace("T-BOMB-001", "T-BOMB-000")]
    for number in range(1, 10):
        rules.append(f"- id: T-BOMB-00{number}\n  title: t\n  description: d\n  pattern: p\n  severity: high\n"
                     "  reason: r\n  examples: {hit: [{hs_code: '1'}], miss: [{hs_code: '2'}]}\n"
                     "  when: *c4\n")
    path = tmp_path / "shared.yaml"
    path.write_text(rules[0] + "".join(rules[1:]), encoding="utf-8")
    assert load_error(path) == (f"{path}: rule T-BOMB-005: line 42: anchors and aliases expand the pack to "
                                "more than 200,000 values; repeat shared parts fewer times")


def test_a_not_nested_990_deep_is_refused_at_load(tmp_path):
    """Before: parsing `not` 990 deep raised RecursionError (and evaluating it in a
    scoring thread could exhaust the stack)."""
    path = write_pack(tmp_path, "{not: " * 990 + "{missing: hs_code}" + "}" * 990)
    message = load_error(path)
    assert message.startswith(f"{path}: rule T-HOSTILE-001: line 8: values nest more than 64 levels deep")


def test_conditions_nest_at_most_16_deep(tmp_path):
    """Before: conditions nested to any depth, so the parser and the evaluator recursed
    as deep as the pack said."""
    deep = write_pack(tmp_path / "deep", "{not: " * 17 + "{missing: hs_code}" + "}" * 17)
    assert load_error(deep).startswith(
        f"{deep}: rule T-HOSTILE-001: when" + ".not" * 16 + ": conditions nest more than 16 deep")
    fine = write_pack(tmp_path / "fine", "{not: " * 15 + "{missing: hs_code}" + "}" * 15)
    assert hits(fine, [{"hs_code": ""}, {"hs_code": "2805"}]) == [False, True]


# ------------------------------------------------------------ crashes while scoring


def test_a_keyword_table_of_20000_names_scores(tmp_path):
    """Before: 20,000 names made one RE2 pattern too large, and scoring crashed with
    ArrowInvalid 'pattern too large - compile failed'."""
    generator = random.Random(1)
    names = ["".join(generator.choice(string.ascii_lowercase + " ") for _ in range(25)).strip() or "x"
             for _ in range(20_000)]
    table = "name\n" + "\n".join(names) + "\nzebra trading ltd\n"
    path = write_pack(tmp_path, "keywords: {field: consignee, table: parties, column: name}",
                      tables={"parties": table})
    rows = [{"consignee": "Zebra  Trading Ltd"}, {"consignee": names[0].upper()}, {"consignee": "zebra trading"}]
    assert hits(path, rows) == [True, True, False]


def test_a_keyword_longer_than_200_characters_is_a_table_error(tmp_path):
    """Before: one very long phrase could make the pattern too large while scoring."""
    path = write_pack(tmp_path, "keywords: {field: consignee, table: parties, column: name}",
                      tables={"parties": "name\nacme\n" + "x" * 201 + "\n"})
    message = load_error(path)
    assert message.startswith(f"{path}: rule T-HOSTILE-001: when.keywords: ")
    assert "parties.csv: line 3: name 'xxxx" in message
    assert "a phrase is at most 200 characters" in message


@pytest.mark.parametrize("cell", ["01/02/2025", "20250201", "2025-02-30", "2025-2-1", "soon"])
def test_a_bad_date_in_a_reference_table_is_a_table_error(tmp_path, cell):
    """Before: a validity date that is not YYYY-MM-DD loaded, and scoring crashed with
    ValueError (or, for 20250201, read it as the year 20,250,201)."""
    path = write_pack(tmp_path, "in_table: {table: controls, match: {hs_code: {column: hs, by: prefix}}, "
                                "valid_on: declaration_date}",
                      tables={"controls": f"hs,valid_from,valid_to\n2846,,\n\n2805,{cell},\n"})
    message = load_error(path)
    assert message.startswith(f"{path}: rule T-HOSTILE-001: when.in_table: ")
    assert f"controls.csv: line 4: valid_from '{cell}': expected an ISO date YYYY-MM-DD" in message


@pytest.mark.parametrize("value", ['"yesterday"', '"2025-02-30"', "20250101", '"2025-1-5"'])
def test_equals_on_a_date_field_takes_dates(tmp_path, value):
    """Before: `equals` on a date with a non-date loaded, and scoring crashed with
    DateParseError."""
    path = write_pack(tmp_path, f"equals: {{field: declaration_date, value: {value}}}")
    assert load_error(path).startswith(
        f"{path}: rule T-HOSTILE-001: when.equals: field 'declaration_date' is a date; give dates as YYYY-MM-DD")


def test_equals_on_a_date_field_with_a_yaml_date(tmp_path):
    path = write_pack(tmp_path, "in: {field: declaration_date, values: [2025-05-01, '2025-05-03']}")
    rows = [{"declaration_date": day} for day in ["2025-05-01", "2025-05-02", "2025-05-03"]]
    assert hits(path, rows) == [True, False, True]


@pytest.mark.parametrize("days", [4_611_686_018_427_387_904, 36_526])
def test_within_days_is_at_most_a_century(tmp_path, days):
    """Before: a huge within_days loaded, and scoring crashed with OverflowError (or its
    int64 window keys wrapped round)."""
    path = write_pack(tmp_path, f"group_count: {{by: [exporter], min: 2, within_days: {days}}}")
    assert load_error(path).startswith(
        f"{path}: rule T-HOSTILE-001: when.group_count.within_days: at most 36,525 days")


def test_an_impossible_yaml_date_is_a_rule_error(tmp_path):
    """Before: `valid_from: 2025-02-30` (a YAML timestamp of a day that does not exist)
    crashed the loader with ValueError 'day is out of range for month'."""
    path = write_pack(tmp_path, "missing: hs_code", extra="valid_from: 2025-02-30\n")
    assert load_error(path) == (f"{path}: rule T-HOSTILE-001: valid_from '2025-02-30' is not an ISO date "
                                "YYYY-MM-DD")


def test_a_symlink_loop_in_a_pack_folder_is_a_pack_error(tmp_path):
    """Before: a link loop named *.yaml crashed pack_files with RuntimeError."""
    write_pack(tmp_path, "missing: hs_code")
    loop = tmp_path / "loop.yaml"
    os.symlink(loop, loop)
    assert load_error(tmp_path) == (f"{loop}: cannot read rule pack: not a regular file "
                                    "(a folder, a pipe, a broken link or a link loop)")


# -------------------------------------------------------------------- what packs read


@pytest.mark.parametrize("name", ["../secret", "{absolute}", "reference/../../secret"])
def test_a_table_name_is_a_name_not_a_path(tmp_path, name):
    """Before: `table: ../secret` or an absolute path read any CSV file on the machine."""
    (tmp_path / "secret.csv").write_text("hs\n2805\n", encoding="utf-8")
    name = name.format(absolute=tmp_path / "secret")
    path = write_pack(tmp_path / "packs", f"in_table: {{table: '{name}', match: {{hs_code: hs}}}}",
                      tables={"codes": "hs\n2805\n"})
    assert load_error(path).startswith(f"{path}: rule T-HOSTILE-001: when.in_table.table: reference table "
                                       f"name '{name}' is not a plain name")


@pytest.mark.parametrize("prefixes", ["[0101]", "[2846]", "2846", '["2805", 28]'])
def test_unquoted_hs_prefixes_are_refused(tmp_path, prefixes):
    """Before: `prefixes: [0101]` loaded as the prefix '65' (YAML 1.1 reads 0101 as octal)."""
    path = write_pack(tmp_path, f"hs_prefix: {{prefixes: {prefixes}}}")
    assert load_error(path).startswith(
        f"{path}: rule T-HOSTILE-001: when.hs_prefix.prefixes: quote each HS prefix (\"0101\", not 0101)")


@pytest.mark.parametrize("when, place", [
    ("in_table: {table: codes, match: {hs_code: {column: hs, by: prefix}}, where: {chapter: 0101}}",
     "when.in_table.where.chapter: quote the value(s)"),
    ("equals: {field: hs_code, value: 0101}", "when.equals: field 'hs_code' is text; quote the value(s)"),
    ("in: {field: origin_country, values: [CN, 0101]}", "when.in: field 'origin_country' is text; quote"),
])
def test_unquoted_values_compared_with_text_are_refused(tmp_path, when, place):
    """Before: an unquoted 0101 was compared as the text '65'."""
    path = write_pack(tmp_path, when, tables={"codes": "hs,chapter\n2805,28\n"})
    assert load_error(path).startswith(f"{path}: rule T-HOSTILE-001: {place}")


def test_an_empty_key_in_a_reference_table_is_a_table_error(tmp_path):
    """Before: one row with an empty hs_prefix made the prefix rule hit every declaration."""
    path = write_pack(tmp_path, "in_table: {table: codes, match: {hs_code: {column: hs, by: prefix}}}",
                      tables={"codes": "hs,note\n2805,rare earths\n,typo\n"})
    message = load_error(path)
    assert message.startswith(f"{path}: rule T-HOSTILE-001: when.in_table: ")
    assert "codes.csv: line 3: hs '': empty key" in message


# ----------------------------------------------------------------------- the pack


@pytest.mark.parametrize("text, message", [
    ("", "a rule pack is a mapping with a 'rules:' list"),
    ("pack: nothing\nrules: []\n", "the pack has no rules"),
    ("pack: [a]\nrules: []\n", "'pack' must be text"),
])
def test_an_empty_pack_is_an_error(tmp_path, text, message):
    """Before: `rules: []` loaded as a pack of no rules, silently."""
    path = tmp_path / "empty.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_error(path).startswith(f"{path}: {message}")


def test_unknown_pack_keys_are_an_error(tmp_path):
    """Before: a misspelt pack key (`rule:` beside `rules:`, `descripton:`) was ignored."""
    path = write_pack(tmp_path, "missing: hs_code", head="pack: p\ndescripton: typo\n")
    assert load_error(path) == (f"{path}: unknown pack key(s) descripton; "
                                "expected applies_to, description, pack, rules")


def test_the_shipped_packs_load_quickly_and_within_the_bounds():
    started = time.perf_counter()
    rules = detector.load_rules()
    assert len(rules) > 20
    assert time.perf_counter() - started < 5.0
